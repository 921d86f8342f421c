/** `npm run bench -- [--quick] [--targets a,b] [--workloads x,y] [--rounds n] [--duration s] [--warmup s]`. */
import { parseArgs } from 'node:util';
import { TARGET_NAMES, type TargetName } from './targets/catalog';
import { WORKLOAD_NAMES, type WorkloadName } from './workloads/workload';
import { messageOf } from '../lib/errors';

export interface BenchOptions {
  mode: 'quick' | 'full';
  targets: TargetName[];
  workloads: WorkloadName[];
  rounds: number;
  warmupSeconds: number;
  /** Load before each timed window opens (see load.ts): at least this long and this many responses per connection. */
  leadSeconds: number;
  leadResponsesPerConnection: number;
  /** The timed window: at least this long and this many responses per connection, at most twice as long. */
  durationSeconds: number;
  windowResponsesPerConnection: number;
  connections: number;
  /** Whether results/latest.md and latest.svg are overwritten: only by a full run of everything. */
  writeLatest: boolean;
}

export const USAGE = `usage: npm run bench -- [--quick] [--targets ${TARGET_NAMES.join(',')}]
                       [--workloads ${WORKLOAD_NAMES.join(',')}]
                       [--rounds n] [--duration seconds] [--warmup seconds] [--connections n]`;

/**
 * The default run is the one we report: every workload x every target x 3 rounds of timed windows of 8 s (longer
 * for a slow target, until it has answered 4 requests per connection), each after a 2 s warm-up: about 14 s per
 * window on 2 cores. --quick is a CI smoke run of everything, one short round, about 5 s per window.
 */
const PRESETS = {
  full: {
    rounds: 3,
    warmupSeconds: 2,
    leadSeconds: 1,
    leadResponsesPerConnection: 2,
    durationSeconds: 8,
    windowResponsesPerConnection: 4,
  },
  quick: {
    rounds: 1,
    // The lead-in warms; the warm answers are checked after the load instead of before.
    warmupSeconds: 0,
    leadSeconds: 0.5,
    leadResponsesPerConnection: 1,
    durationSeconds: 1.5,
    windowResponsesPerConnection: 1,
  },
} as const;

export class UsageError extends Error {
  override name = 'UsageError';
}

function parseList<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T[] {
  if (value === undefined) return [...allowed];
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(allowed as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new UsageError(`--${flag}: unknown ${unknown.length > 0 ? `'${unknown.join("', '")}'` : 'empty list'}; choose from ${allowed.join(', ')}`);
  }
  // Keep the canonical order whatever order they were named in: mixed must run last.
  return allowed.filter((name) => names.includes(name));
}

function parseNumber(flag: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`--${flag}: expected a number from ${min} to ${max}, got '${value}'`);
  }
  return parsed;
}

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        quick: { type: 'boolean', default: false },
        targets: { type: 'string' },
        workloads: { type: 'string' },
        rounds: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new UsageError(messageOf(error));
  }
  const mode = values.quick ? 'quick' : 'full';
  const preset = PRESETS[mode];
  const options: BenchOptions = {
    mode,
    targets: parseList('targets', values.targets, TARGET_NAMES),
    workloads: parseList('workloads', values.workloads, WORKLOAD_NAMES),
    rounds: Math.round(parseNumber('rounds', values.rounds, preset.rounds, 1, 20)),
    warmupSeconds: parseNumber('warmup', values.warmup, preset.warmupSeconds, 0, 120),
    leadSeconds: preset.leadSeconds,
    leadResponsesPerConnection: preset.leadResponsesPerConnection,
    durationSeconds: parseNumber('duration', values.duration, preset.durationSeconds, 0.5, 600),
    windowResponsesPerConnection: preset.windowResponsesPerConnection,
    connections: Math.round(parseNumber('connections', values.connections, 50, 1, 1000)),
    writeLatest: false,
  };
  options.writeLatest =
    mode === 'full' &&
    values.targets === undefined &&
    values.workloads === undefined &&
    values.rounds === undefined &&
    values.duration === undefined &&
    values.warmup === undefined &&
    values.connections === undefined;
  return options;
}
