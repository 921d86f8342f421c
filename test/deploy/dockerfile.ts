/**
 * Reads the Dockerfile and lays out its stages as directories, without a container engine, so a test can run
 * exactly what the final image holds. Each stage gets a directory standing for its root file system; `FROM` a
 * previous stage copies that stage's directory, `WORKDIR`, `COPY` (from the build context, honouring
 * .dockerignore, or `--from` a stage) and `ENV` do what they do in a build. Of `RUN`, only what can be done
 * faithfully on this machine is done: `npm ci` links the checkout's node_modules (so a dependency missing from
 * `dependencies` is not caught here), `npm run <script>` runs, `mkdir -p` creates inside the stage; system package
 * installs and ownership changes are skipped. Any other command is refused by name.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Instruction {
  keyword: string;
  /** The text after the keyword, continuation lines joined. */
  args: string;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const lines = text.split('\n');
  const logical: string[] = [];
  let current = '';
  for (const line of lines) {
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const entry of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/s.exec(entry) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest.replace(/\s+/g, ' ').trim() };
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = instruction.args.split('=', 2);
      args[name!] = value;
    } else if (instruction.keyword === 'FROM') {
      const [image = '', , alias] = instruction.args
        .replace(/\$\{(\w+)\}|\$(\w+)/g, (_match, braced: string, bare: string) => args[braced ?? bare] ?? '')
        .split(' ');
      stages.push({ name: alias ?? String(stages.length), from: image, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile: ${instruction.keyword} before the first FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** The environment the image's last stage sets (its ENV lines, in order). */
export function imageEnvironment(dockerfile: string): Record<string, string> {
  const stages = parseDockerfile(fs.readFileSync(dockerfile, 'utf8'));
  const env: Record<string, string> = {};
  for (const { keyword, args } of stages.at(-1)!.instructions) if (keyword === 'ENV') Object.assign(env, parseEnv(args));
  return env;
}

/** The exec form (`["a", "b"]`) of CMD, ENTRYPOINT, RUN or HEALTHCHECK CMD; shell form runs under `sh -c`. */
export function commandOf(args: string): string[] {
  return args.startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args];
}

/** `--from=build --chown=1:1 a b dest` into its flags, sources and destination. */
function parseCopy(args: string): { from?: string; sources: string[]; destination: string } {
  const words = args.split(' ');
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
}

export function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const match of args.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    env[match[1]!] = match[2]!.startsWith('"') ? (JSON.parse(match[2]!) as string) : match[2]!;
  }
  return env;
}

/** .dockerignore as Docker reads it for the patterns used here: paths from the context root, `*`, `**`, `!`. */
export function dockerIgnore(contextDir: string): (relative: string) => boolean {
  const file = path.join(contextDir, '.dockerignore');
  const rules = (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negated = line.startsWith('!');
      const pattern = (negated ? line.slice(1) : line).replace(/^\/+|\/+$/g, '');
      const source = pattern
        .split('/')
        .map((part) =>
          part === '**'
            ? '.*'
            : part
                .replace(/[.+^${}()|[\]\\]/g, '\\$&')
                .replace(/\*/g, '[^/]*')
                .replace(/\?/g, '[^/]'),
        )
        .join('/')
        .replace(/\.\*\//g, '(?:.*/)?');
      // A pattern also excludes everything below what it matches.
      return { negated, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (relative) => {
    let ignored = false;
    for (const rule of rules) if (rule.regex.test(relative)) ignored = !rule.negated;
    return ignored;
  };
}

export interface BuiltStage {
  name: string;
  /** Stands for the stage's `/`. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  healthcheck: string[] | undefined;
  user: string | undefined;
  /** Where a path inside the image is in `root`. */
  hostPath(imagePath: string): string;
}

/**
 * Builds every stage into `outDir/<stage>/` and returns them in order; the last is the image. `nodeModules` is
 * what `npm ci` links to.
 */
export function buildStages(options: {
  dockerfile: string;
  contextDir: string;
  outDir: string;
  nodeModules: string;
}): BuiltStage[] {
  const stages = parseDockerfile(fs.readFileSync(options.dockerfile, 'utf8'));
  const ignored = dockerIgnore(options.contextDir);
  const built = new Map<string, BuiltStage>();
  for (const stage of stages) {
    const parent = built.get(stage.from);
    const root = path.join(options.outDir, stage.name);
    if (parent) fs.cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true });
    else fs.mkdirSync(root, { recursive: true });
    const state: BuiltStage = {
      name: stage.name,
      root,
      workdir: parent?.workdir ?? '/',
      env: { ...parent?.env },
      entrypoint: parent?.entrypoint ?? [],
      cmd: parent?.cmd ?? [],
      healthcheck: parent?.healthcheck,
      user: parent?.user,
      hostPath: (imagePath) => path.join(root, path.posix.resolve(state.workdir, imagePath)),
    };
    for (const { keyword, args } of stage.instructions) {
      switch (keyword) {
        case 'WORKDIR':
          state.workdir = path.posix.resolve(state.workdir, args);
          fs.mkdirSync(state.hostPath('.'), { recursive: true });
          break;
        case 'ENV':
          Object.assign(state.env, parseEnv(args));
          break;
        case 'COPY': {
          const copy = parseCopy(args);
          const source = copy.from === undefined ? undefined : built.get(copy.from);
          if (copy.from !== undefined && !source)
            throw new Error(`Dockerfile: COPY --from=${copy.from}: no such stage`);
          const intoDirectory = copy.destination.endsWith('/') || copy.sources.length > 1;
          for (const pattern of copy.sources) {
            const base = source ? source.root : options.contextDir;
            for (const relative of expandSource(base, source ? pattern.replace(/^\/+/, '') : pattern)) {
              const from = path.join(base, relative);
              if (!source && ignored(relative))
                throw new Error(`Dockerfile: COPY ${relative} is excluded by .dockerignore`);
              const to = intoDirectory
                ? path.join(state.hostPath(copy.destination), path.basename(relative))
                : state.hostPath(copy.destination);
              fs.mkdirSync(path.dirname(to), { recursive: true });
              fs.cpSync(from, to, {
                recursive: true,
                verbatimSymlinks: true,
                filter: (file) => source !== undefined || !ignored(path.relative(options.contextDir, file)),
              });
            }
          }
          break;
        }
        case 'RUN':
          for (const command of args.split('&&').map((part) => part.trim())) run(command, state, options.nodeModules);
          break;
        case 'ENTRYPOINT':
          state.entrypoint = commandOf(args);
          break;
        case 'CMD':
          state.cmd = commandOf(args);
          break;
        case 'HEALTHCHECK':
          state.healthcheck = args === 'NONE' ? undefined : commandOf(args.replace(/^(--\S+ )*CMD /, ''));
          break;
        case 'USER':
          state.user = args;
          break;
        case 'EXPOSE':
        case 'ARG':
        case 'LABEL':
          break;
        default:
          throw new Error(`Dockerfile: ${keyword} is not emulated by test/deploy/dockerfile.ts`);
      }
    }
    built.set(stage.name, state);
  }
  return [...built.values()];
}

/** A COPY source: a path, or a `*` pattern in its last part. Missing sources fail, as they fail a build. */
function expandSource(base: string, pattern: string): string[] {
  const normalized = path.posix.normalize(pattern).replace(/\/$/, '');
  if (!normalized.includes('*')) {
    if (!fs.existsSync(path.join(base, normalized))) throw new Error(`Dockerfile: COPY ${pattern}: not found`);
    return [normalized];
  }
  const dir = path.posix.dirname(normalized);
  const regex = new RegExp(
    `^${path.posix
      .basename(normalized)
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')}$`,
  );
  const found = fs.readdirSync(path.join(base, dir)).filter((name) => regex.test(name));
  if (found.length === 0) throw new Error(`Dockerfile: COPY ${pattern}: nothing matches`);
  return found.map((name) => path.posix.join(dir, name));
}

function run(command: string, stage: BuiltStage, nodeModules: string): void {
  if (/^(apt-get|rm -rf \/var\/lib\/apt\/lists|chown|npm cache clean)\b/.test(command)) return;
  if (/^npm ci\b/.test(command)) {
    const link = stage.hostPath('node_modules');
    if (!fs.existsSync(link)) fs.symlinkSync(nodeModules, link);
    return;
  }
  const mkdir = /^mkdir -p (.+)$/.exec(command);
  if (mkdir) {
    for (const dir of mkdir[1]!.split(' ')) fs.mkdirSync(stage.hostPath(dir), { recursive: true });
    return;
  }
  if (/^npm run [\w:-]+$/.test(command)) {
    execFileSync('npm', command.split(' ').slice(1), {
      cwd: stage.hostPath('.'),
      stdio: 'pipe',
      env: { ...process.env, ...stage.env },
    });
    return;
  }
  throw new Error(`Dockerfile: RUN ${command} is not emulated by test/deploy/dockerfile.ts`);
}
