import fs from 'node:fs';
import path from 'node:path';

/**
 * A problem with what the user handed us (a flag, a path, a config file): the command cannot run and exits 2.
 * Returned as a value, never thrown, so every caller decides how to report it.
 */
export type Loaded<T> = { ok: true; value: T } | { ok: false; error: string };

export const loaded = <T>(value: T): Loaded<T> => ({ ok: true, value });
export const inputError = <T = never>(error: string): Loaded<T> => ({ ok: false, error });

/** Reads a UTF-8 file; `what` names it in the error ("--base", "subgraph users"), so the user knows which input. */
export function readInputFile(file: string, what: string): Loaded<string> {
  try {
    return loaded(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    return inputError(`${what}: cannot read ${file} (${reason})`);
  }
}

/** A path for people: relative to the working directory when it is inside it, with forward slashes. */
export function displayPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  const shown = relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
  return shown.split(path.sep).join('/');
}
