/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): self time by function and by package, as markdown, so a
 * profile's findings can be committed without the multi-megabyte profile itself.
 *
 *   node -r @swc-node/register bench/profile-summary.ts <file.cpuprofile> [--top 40] [--root /work/main]
 */
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  micros: number;
}

/** `file:///.../node_modules/@apollo/server/dist/x.js` -> `@apollo/server`; our files relative to `root`. */
export function packageOf(url: string): string {
  if (url === '') return '(V8 / native)';
  if (url.startsWith('node:')) return 'node core';
  const path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules !== -1) {
    const rest = path.slice(modules + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return 'ours';
}

function shortLocation(url: string, line: number, root: string): string {
  if (url === '') return '';
  let path = url.replace(/^file:\/\//, '');
  const modules = path.lastIndexOf('/node_modules/');
  if (modules !== -1) path = path.slice(modules + '/node_modules/'.length);
  else if (path.startsWith(root)) path = path.slice(root.length).replace(/^\//, '');
  return `${path}:${line + 1}`;
}

export function summarise(profile: CpuProfile, root: string) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  profile.samples.forEach((id, index) =>
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)),
  );
  const functions = new Map<string, SelfTime>();
  const packages = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, micros] of selfByNode) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') {
      idle += micros;
      continue;
    }
    total += micros;
    const name = frame.functionName || '(anonymous)';
    const where = shortLocation(frame.url, frame.lineNumber, root);
    const key = `${name}\u0000${where}`;
    const entry = functions.get(key) ?? { name, where, micros: 0 };
    entry.micros += micros;
    functions.set(key, entry);
    const pkg = name.startsWith('(') && frame.url === '' ? name : packageOf(frame.url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + micros);
  }
  return {
    total,
    idle,
    functions: [...functions.values()].sort((a, b) => b.micros - a.micros),
    packages: [...packages].sort((a, b) => b[1] - a[1]),
  };
}

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find(
    (arg) => !arg.startsWith('--') && !/^\d+$/.test(arg) && arg !== args[args.indexOf('--root') + 1],
  );
  if (!file) {
    process.stderr.write('usage: profile-summary <file.cpuprofile> [--top N] [--root DIR]\n');
    process.exit(2);
  }
  const top = args.includes('--top') ? Number(args[args.indexOf('--top') + 1]) : 40;
  const root = args.includes('--root') ? args[args.indexOf('--root') + 1]! : process.cwd();
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const { total, idle, functions, packages } = summarise(profile, root);
  const percent = (micros: number) => `${((100 * micros) / total).toFixed(1)}%`;
  const ms = (micros: number) => (micros / 1000).toFixed(0);
  const lines = [
    `Busy ${ms(total)} ms sampled, idle ${ms(idle)} ms; percentages are of busy time.`,
    '',
    '| package / category | self ms | share |',
    '|---|---:|---:|',
    ...packages.slice(0, 15).map(([name, micros]) => `| ${name} | ${ms(micros)} | ${percent(micros)} |`),
    '',
    '| function | where | self ms | share |',
    '|---|---|---:|---:|',
    ...functions
      .slice(0, top)
      .map((entry) => `| \`${entry.name}\` | ${entry.where} | ${ms(entry.micros)} | ${percent(entry.micros)} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (require.main === module) main();
