/**
 * The `federation-gateway` command line: its flags, its help and how the flags become settings. Kept apart from
 * the entry point (gateway/bin.ts) so tests can read the help and parse flags without starting a gateway.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { describeSettings, type ConfigSources } from '../lib/config';
import { projectRoot } from '../lib/paths';

/** Each value flag and the setting it overrides: one table for parsing, for the help and for the overrides. */
const VALUE_FLAGS = [
  { flag: 'supergraph', value: '<file>', setting: 'SUPERGRAPH_PATH', meaning: 'the supergraph schema to serve' },
  { flag: 'port', value: '<n>', setting: 'GATEWAY_PORT', meaning: 'port to listen on (0: any free port)' },
  { flag: 'host', value: '<address>', setting: 'HOST', meaning: 'interface to listen on' },
  {
    flag: 'workers',
    value: '<n|auto>',
    setting: 'GATEWAY_WORKERS',
    meaning: 'worker processes on the one port (auto: one per CPU)',
  },
] as const;

export type GatewayCommand =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'start'; sources: ConfigSources }
  | { kind: 'usage-error'; message: string };

/** Reads the flags (`argv` without `node` and the script); relative paths are taken from `cwd`. */
export function parseGatewayArgs(argv: readonly string[], cwd: string): GatewayCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        supergraph: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    return { kind: 'usage-error', message: (error as Error).message };
  }
  const { values } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const overrides: Record<string, { value: string; origin: string }> = {};
  for (const { flag, setting } of VALUE_FLAGS) {
    const value = values[flag];
    if (value === undefined) continue;
    overrides[setting] = { value: flag === 'supergraph' ? path.resolve(cwd, value) : value, origin: `--${flag}` };
  }
  return {
    kind: 'start',
    sources: {
      configFile: values.config === undefined ? undefined : path.resolve(cwd, values.config),
      overrides,
      baseDir: cwd,
    },
  };
}

/** The help: the flags, then every setting the config module reads, with what it accepts and its default. */
export function gatewayHelp(): string {
  const settings = describeSettings();
  const defaultOf = (name: string) => settings.find((setting) => setting.name === name)?.default;
  const flagRows = [
    ...VALUE_FLAGS.map(({ flag, value, setting, meaning }) => [
      `--${flag} ${value}`,
      `${meaning}; overrides ${setting} (default ${defaultOf(setting) ?? 'unset'})`,
    ]),
    ['--config <file.yaml>', 'settings file: the settings below as keys, e.g. PORT: 4000'],
    ['-h, --help', 'this help'],
    ['-v, --version', 'the version'],
  ];
  const settingRows = [
    ['SETTING', 'DEFAULT', 'ACCEPTS'],
    ...settings.map((setting) => [
      setting.name,
      setting.default === undefined ? 'unset' : setting.default || '""',
      setting.accepts,
    ]),
  ];
  return [
    'Usage: federation-gateway [--supergraph <file>] [--port <n>] [--host <address>] [--workers <n|auto>]',
    '                          [--config <file.yaml>]',
    '',
    'A GraphQL federation gateway: serves the supergraph at /graphql, calling each subgraph at its routing URL.',
    '',
    'Options:',
    ...columns(flagRows).map((line) => `  ${line}`),
    '',
    'Settings: environment variables, or keys of the --config file (keys are case-insensitive; a list is joined',
    'with commas, a map becomes key=value pairs). Flags override the environment, which overrides the file.',
    '',
    ...columns(settingRows).map((line) => `  ${line}`),
    '',
    'Exit codes: 0 stopped cleanly, 1 failed to start, 2 bad flags, 78 bad settings.',
    '',
  ].join('\n');
}

/** `federation-gateway <version>`, from the package.json of the package this runs from. */
export function gatewayVersion(): string {
  const { version } = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
    version?: string;
  };
  return `federation-gateway ${version ?? 'unknown'}\n`;
}

/** Aligned columns; a cell wider than MAX_COLUMN (a long default) keeps its line and moves the rest below. */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, index) =>
    Math.max(...rows.map((row) => row[index]!.length).filter((width) => width <= MAX_COLUMN)),
  );
  const lines: string[] = [];
  for (const row of rows) {
    let line = '';
    row.forEach((cell, index) => {
      const last = index === row.length - 1;
      if (line.length > widths.slice(0, index).reduce((sum, width) => sum + width + 2, 0)) {
        lines.push(line.trimEnd());
        line = ' '.repeat(widths.slice(0, index).reduce((sum, width) => sum + width + 2, 0));
      }
      line += last ? cell : `${cell.padEnd(widths[index]!)}  `;
    });
    lines.push(line.trimEnd());
  }
  return lines;
}

const MAX_COLUMN = 36;
