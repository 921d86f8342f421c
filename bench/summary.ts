/**
 * The report's data: every timed run as measured, and per workload and target the medians across rounds and
 * the round-by-round ratios against Apollo Gateway and against the limit. This is the JSON file's shape
 * (documented in bench/README.md); the Markdown table and the SVG chart are rendered from it.
 */
import { formatMs } from './format';
import type { SubgraphCounters } from './prometheus';
import { maximum, median, roundRatios, sum } from './stats';
import { BASELINE_TARGET, type TargetName } from './targets/catalog';
import type { WorkloadName } from './workloads';

export interface LoadFigures {
  /** Responses received in the timed window (any status). */
  requests: number;
  durationSeconds: number;
  rps: number;
  /** Latencies of the 2xx responses received in the window (nearest-rank percentiles); null when there were none. */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  latencyMaxMs: number | null;
  non2xx: number;
  /** 2xx responses whose body carries a GraphQL `errors` array (other than only expected business errors). */
  graphqlErrors: number;
  /** 2xx responses whose only errors are the workload's expected business errors (OUT_OF_STOCK); not errors. */
  expectedErrors?: number;
  /** Connection errors and timeouts. */
  transportErrors: number;
}

export interface RunRecord {
  workload: WorkloadName;
  target: TargetName;
  /** 1-based. */
  round: number;
  /** Before the timed run (cold, then again after the warm-up): the answer equals the reference's. */
  check: { ok: boolean; details: string[] };
  /** Things that may have disturbed the figures (a target still busy long after its load stopped). */
  warnings?: string[];
  /** Set when the target could not be measured at all (did not start, died, the load failed). */
  error?: string;
  load?: LoadFigures;
  /** The serving process: the gateway, or the subgraph for subgraph-direct, or the limit server. */
  server?: { cpuMsPerRequest: number | null; peakRssMB: number | null };
  subgraphs?: {
    httpRequestsPerRequest: number | null;
    representationsPerRequest: number | null;
    sqlStatementsPerRequest: number | null;
    /** CPU of the three subgraph processes together. */
    cpuMsPerRequest: number | null;
    /** By subgraph name: the shop's three, or the four static ones of the four-subgraph workload. */
    totals: Record<string, SubgraphCounters>;
  };
  /** CPU the bench itself spent generating load (autocannon runs in the bench process). */
  loadGeneratorCpuMsPerRequest?: number | null;
  /** CPU of the Redis server during the window (ours-default's cache, the subgraphs' change events). */
  redisCpuMsPerRequest?: number | null;
  /**
   * CPU used during the window by processes other than the serving process, the subgraphs, Redis and the
   * bench, in percent of one core: the other (idle) targets, and anything else running on the machine.
   */
  otherCpuPercent?: number | null;
}

export interface Ratio {
  perRound: (number | null)[];
  median: number | null;
}

export interface TargetSummary {
  workload: WorkloadName;
  target: TargetName;
  /** Rounds that produced numbers. */
  rounds: number;
  rps: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** `expected`: responses whose only errors were the workload's business errors; not in `total`. */
  errors: { non2xx: number; graphql: number; transport: number; total: number; expected?: number };
  serverCpuMsPerRequest: number | null;
  peakRssMB: number | null;
  subgraphHttpRequestsPerRequest: number | null;
  representationsPerRequest: number | null;
  sqlStatementsPerRequest: number | null;
  subgraphCpuMsPerRequest: number | null;
  redisCpuMsPerRequest: number | null;
  /** The most CPU anything else on the machine used during one of this target's windows, % of one core. */
  otherCpuPercentMax: number | null;
  vsApollo: Ratio;
  vsLimit: Ratio;
  check: 'ok' | 'failed' | 'not run';
  /** Distinct check failures and run errors, for the notes. */
  problems: string[];
}

export interface Goal {
  description: string;
  /** null when the figures it needs are missing. */
  met: boolean | null;
  actual: string;
}

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  os: string;
  commit: string | null;
  /** True when the working tree had uncommitted changes. */
  dirty: boolean | null;
}

export interface BenchSettings {
  mode: 'quick' | 'full';
  connections: number;
  rounds: number;
  warmupSeconds: number;
  /** Load before each timed window opens: at least this long and this many responses per connection. */
  leadSeconds: number;
  leadResponsesPerConnection: number;
  /** Each timed window: at least this long and this many responses per connection, at most twice as long. */
  durationSeconds: number;
  windowResponsesPerConnection: number;
  targets: TargetName[];
  workloads: WorkloadName[];
}

export interface BenchReport {
  schemaVersion: 1;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  machine: MachineFacts;
  settings: BenchSettings;
  /** `mechanisms`: which of batching, dedup and caches the target had on (from the catalog). */
  targets: { name: TargetName; description: string; mechanisms?: string }[];
  workloads: { name: WorkloadName; description: string; direct: string; requests: { kind: string; body: string }[] }[];
  runs: RunRecord[];
  summary: TargetSummary[];
  goals: Goal[];
  notes: string[];
}

const LIMIT_TARGET: TargetName = 'limit';

/** RPS of `target` on `workload` per round (index = round - 1), null where the round produced nothing. */
function rpsByRound(runs: readonly RunRecord[], workload: WorkloadName, target: TargetName, rounds: number): (number | null)[] {
  return Array.from({ length: rounds }, (_, index) => {
    const run = runs.find((r) => r.workload === workload && r.target === target && r.round === index + 1);
    return run?.load && !run.error ? run.load.rps : null;
  });
}

export function summarise(
  runs: readonly RunRecord[],
  workloads: readonly WorkloadName[],
  targets: readonly TargetName[],
  rounds: number,
): TargetSummary[] {
  const summaries: TargetSummary[] = [];
  for (const workload of workloads) {
    const baseline = rpsByRound(runs, workload, BASELINE_TARGET, rounds);
    const limit = rpsByRound(runs, workload, LIMIT_TARGET, rounds);
    for (const target of targets) {
      const mine = runs.filter((run) => run.workload === workload && run.target === target);
      const measured = mine.filter((run) => run.load && !run.error);
      const loads = measured.map((run) => run.load!);
      const rps = rpsByRound(runs, workload, target, rounds);
      const problems = [
        ...new Set(
          mine.flatMap((run) => [
            ...(run.error ? [`round ${run.round}: ${run.error}`] : []),
            ...run.check.details,
            ...(run.warnings ?? []),
          ]),
        ),
      ];
      const errors = {
        non2xx: sum(loads.map((load) => load.non2xx)),
        graphql: sum(loads.map((load) => load.graphqlErrors)),
        transport: sum(loads.map((load) => load.transportErrors)),
      };
      const expectedErrors = loads.some((load) => load.expectedErrors !== undefined)
        ? { expected: sum(loads.map((load) => load.expectedErrors ?? 0)) }
        : {};
      summaries.push({
        workload,
        target,
        rounds: measured.length,
        rps: median(rps),
        p50Ms: median(loads.map((load) => load.latencyP50Ms)),
        p99Ms: median(loads.map((load) => load.latencyP99Ms)),
        errors: { ...errors, total: errors.non2xx + errors.graphql + errors.transport, ...expectedErrors },
        serverCpuMsPerRequest: median(measured.map((run) => run.server?.cpuMsPerRequest)),
        peakRssMB: maximum(measured.map((run) => run.server?.peakRssMB)),
        subgraphHttpRequestsPerRequest: median(measured.map((run) => run.subgraphs?.httpRequestsPerRequest)),
        representationsPerRequest: median(measured.map((run) => run.subgraphs?.representationsPerRequest)),
        sqlStatementsPerRequest: median(measured.map((run) => run.subgraphs?.sqlStatementsPerRequest)),
        subgraphCpuMsPerRequest: median(measured.map((run) => run.subgraphs?.cpuMsPerRequest)),
        redisCpuMsPerRequest: median(measured.map((run) => run.redisCpuMsPerRequest)),
        otherCpuPercentMax: maximum(measured.map((run) => run.otherCpuPercent)),
        vsApollo: roundRatios(rps, baseline),
        vsLimit: roundRatios(rps, limit),
        check: mine.length === 0 ? 'not run' : mine.every((run) => run.check.ok) ? 'ok' : 'failed',
        problems,
      });
    }
  }
  return summaries;
}

/** The targets for the deep workload, as reported facts (nothing here fails the run). */
export function evaluateGoals(summary: readonly TargetSummary[]): Goal[] {
  const find = (target: TargetName) => summary.find((s) => s.workload === 'deep' && s.target === target);
  const oursOff = find('ours-off');
  const oursDefault = find('ours-default');
  const hive = find('hive-gateway');
  const times = (value: number | null | undefined) => (value == null ? 'n/a' : `${value.toFixed(1)}x`);
  const atLeast = (value: number | null | undefined, bound: number) => (value == null ? null : value >= bound);
  const below = (value: number | null | undefined, bound: number) => (value == null ? null : value < bound);
  const vsHive = roundRatios(
    oursDefault ? oursDefault.vsApollo.perRound : [],
    hive ? hive.vsApollo.perRound : [],
  ).median;
  const goals: Goal[] = [
    {
      description: 'deep: ours-off at least 3x apollo-gateway RPS',
      met: atLeast(oursOff?.vsApollo.median, 3),
      actual: times(oursOff?.vsApollo.median),
    },
    {
      description: 'deep: ours-default at least 30x apollo-gateway RPS',
      met: atLeast(oursDefault?.vsApollo.median, 30),
      actual: times(oursDefault?.vsApollo.median),
    },
    {
      description: 'deep: ours-default ahead of hive-gateway',
      met: vsHive == null ? null : vsHive > 1,
      actual: `${times(vsHive)} hive-gateway`,
    },
  ];
  for (const [name, ours] of [['ours-off', oursOff], ['ours-default', oursDefault]] as const) {
    goals.push({
      description: `deep: ${name} p99 under 100 ms at 50 connections`,
      met: below(ours?.p99Ms, 100),
      actual: ours?.p99Ms == null ? 'n/a' : `${formatMs(ours.p99Ms)} ms`,
    });
    goals.push({
      description: `deep: ${name} peak RSS under 300 MB`,
      met: below(ours?.peakRssMB, 300),
      actual: ours?.peakRssMB == null ? 'n/a' : `${ours.peakRssMB.toFixed(0)} MB`,
    });
  }
  return goals;
}

/** Issue 16's memory bound: peak RSS under load of every configuration of ours. */
export const OUR_RSS_LIMIT_MB = 250;

export interface MemoryFlag {
  workload: WorkloadName;
  target: TargetName;
  peakRssMB: number;
}

/** Our configurations (targets named `ours-*`) whose peak RSS went above the bound, worst first. */
export function memoryFlags(summary: readonly TargetSummary[], limitMB = OUR_RSS_LIMIT_MB): MemoryFlag[] {
  return summary
    .filter((s) => s.target.startsWith('ours-') && s.peakRssMB != null && s.peakRssMB > limitMB)
    .map((s) => ({ workload: s.workload, target: s.target, peakRssMB: s.peakRssMB! }))
    .sort((a, b) => b.peakRssMB - a.peakRssMB);
}
