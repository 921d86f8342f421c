import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { messageOf } from '../lib/errors';
import type { Logger } from '../lib/logger';

/** What one look at the file after a burst of directory events found. */
export type SupergraphCheck = 'reloaded' | 'unchanged' | 'unreadable';

export interface SupergraphWatchOptions {
  /** The supergraph file (SUPERGRAPH_PATH); its directory is what is watched. */
  file: string;
  /** Loads the file's new content into the gateway (`GatewayServer.reloadSupergraph`), which logs the one line. */
  reload(cause: string): void;
  logger: Logger;
  /** Quiet time after the last event before the file is read, so one save or one swap is one reload. Default 200 ms. */
  debounceMs?: number;
  /** Called after every check (tests await it rather than sleeping). */
  onCheck?(outcome: SupergraphCheck): void;
}

export interface SupergraphWatcher {
  close(): void;
}

const sha256 = (content: Buffer) => crypto.createHash('sha256').update(content).digest('hex');

/**
 * Reloads the supergraph when its file's content changes, without SIGHUP.
 *
 * The directory is watched, not the file, because the file is rarely changed in place. Kubernetes projects a
 * ConfigMap volume as `supergraph.graphql -> ..data/supergraph.graphql` with `..data -> ..<timestamp>/`, and an
 * update writes a new timestamped directory and renames a new `..data` symlink over the old one: the file's own
 * inode never changes, and a watch on it (or on what it resolved to) would fire on the deletion of the old
 * directory at best. Editors and `schema compose` write a temporary file and rename it over the old one, which
 * ends a watch on the old inode too. Every such change is an event in the directory.
 *
 * Events come in bursts (a swap is several renames and deletions, an editor save several writes), so they are
 * debounced, and the file is then read through its symlinks and hashed: only a content change reloads, so a
 * ConfigMap resync or a `touch` costs a read, never a schema rebuild. A file that is briefly unreadable is left
 * for the next event; the gateway keeps serving what it has.
 */
export function watchSupergraph(options: SupergraphWatchOptions): SupergraphWatcher {
  const { file, logger } = options;
  const debounceMs = options.debounceMs ?? 200;
  const read = (): Buffer | undefined => {
    try {
      return fs.readFileSync(file);
    } catch {
      return undefined;
    }
  };
  const initial = read();
  let servedHash = initial && sha256(initial);

  const check = () => {
    const content = read();
    let outcome: SupergraphCheck;
    if (content === undefined) {
      outcome = 'unreadable';
    } else {
      const hash = sha256(content);
      if (hash === servedHash) {
        outcome = 'unchanged';
      } else {
        const cause = `file changed (sha256 ${servedHash?.slice(0, 12) ?? 'none'} -> ${hash.slice(0, 12)})`;
        // Remembered before the reload: a content that fails to load is not retried on every unrelated event.
        servedHash = hash;
        options.reload(cause);
        outcome = 'reloaded';
      }
    }
    options.onCheck?.(outcome);
  };

  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const watcher = fs.watch(path.dirname(file), { persistent: false }, () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(check, debounceMs);
    timer.unref();
  });
  watcher.on('error', (error) => {
    logger.error('supergraph watch stopped; SIGHUP still reloads', { path: file, error: messageOf(error) });
    watcher.close();
  });
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
