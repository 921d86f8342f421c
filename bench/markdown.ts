/** Renders a bench report as Markdown: one table per workload, then the goals and the notes. */
import {
  formatAmount,
  formatDuration,
  formatMs,
  formatPercent,
  formatRatio,
  formatRps,
} from './format';
import { memoryFlags, OUR_RSS_LIMIT_MB, type BenchReport, type Ratio, type TargetSummary } from './summary';
import { BASELINE_TARGET } from './targets/catalog';

const COLUMNS = [
  'target',
  'RPS',
  'p50 ms',
  'p99 ms',
  'errors',
  'CPU ms/req',
  'peak RSS MB',
  'subgraph req/req',
  'reps/req',
  'SQL/req',
  `vs ${BASELINE_TARGET} (per round)`,
  'vs limit',
  'check',
] as const;

/** Other processes' CPU (in % of one core) during a window above which the report says so. */
const BUSY_MACHINE_PERCENT = 15;

/** Redis CPU per request worth a note. */
const REDIS_NOTE_MS = 0.05;

const RIGHT_ALIGNED = new Set<string>(COLUMNS.slice(1, 12));

function formatErrors(errors: TargetSummary['errors']): string {
  const expected = errors.expected ? ` (+${errors.expected} expected)` : '';
  if (errors.total === 0) return `0${expected}`;
  const parts = [
    errors.non2xx > 0 ? `non-2xx ${errors.non2xx}` : '',
    errors.graphql > 0 ? `GraphQL ${errors.graphql}` : '',
    errors.transport > 0 ? `transport ${errors.transport}` : '',
  ].filter(Boolean);
  return `${errors.total} (${parts.join(', ')})${expected}`;
}

function formatRoundRatio(ratio: Ratio): string {
  if (ratio.median == null) return 'n/a';
  const rounds = ratio.perRound.map((value) => (value == null ? 'n/a' : formatRatio(value)));
  return rounds.length > 1 ? `${formatRatio(ratio.median)} (${rounds.join(', ')})` : formatRatio(ratio.median);
}

function row(summary: TargetSummary): string[] {
  return [
    summary.target,
    formatRps(summary.rps),
    formatMs(summary.p50Ms),
    formatMs(summary.p99Ms),
    formatErrors(summary.errors),
    formatAmount(summary.serverCpuMsPerRequest),
    summary.peakRssMB == null ? 'n/a' : String(Math.round(summary.peakRssMB)),
    formatAmount(summary.subgraphHttpRequestsPerRequest),
    formatAmount(summary.representationsPerRequest),
    formatAmount(summary.sqlStatementsPerRequest),
    summary.target === BASELINE_TARGET ? '1x' : formatRoundRatio(summary.vsApollo),
    formatPercent(summary.vsLimit.median),
    summary.check === 'failed' ? '**failed**' : summary.check,
  ];
}

function table(rows: string[][]): string[] {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  return [
    `| ${COLUMNS.join(' | ')} |`,
    `|${COLUMNS.map((column) => (RIGHT_ALIGNED.has(column) ? '---:' : '---')).join('|')}|`,
    ...rows.map((cells) => `| ${cells.map(escape).join(' | ')} |`),
  ];
}

export function renderMarkdown(report: BenchReport): string {
  const { machine, settings } = report;
  const date = report.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const commit =
    machine.commit == null ? 'commit unknown' : `commit ${machine.commit}${machine.dirty ? ' with uncommitted changes' : ''}`;
  const lines: string[] = [
    `# Gateway benchmark, ${date}`,
    '',
    `${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB.toFixed(1)} GiB RAM, Node ${machine.node}, ${machine.os}; ${commit}.`,
    `${settings.mode === 'quick' ? 'Quick (smoke) run' : 'Full run'}: ${settings.rounds} round${settings.rounds === 1 ? '' : 's'} per workload, ` +
      `the targets interleaved within each round; ${settings.connections} connections. Per target and round: a ` +
      `${settings.warmupSeconds} s warm-up, then a timed window inside one continuous load, opened after at least ` +
      `${settings.leadSeconds} s and ${settings.leadResponsesPerConnection} responses per connection, lasting at least ` +
      `${settings.durationSeconds} s and ${settings.windowResponsesPerConnection} responses per connection (at most ` +
      `${2 * settings.durationSeconds} s). Wall time ${formatDuration(report.wallSeconds)}.`,
    '',
    'RPS, latencies and per-request figures are medians across rounds; ratios are taken within each round, then ' +
      'the median (per-round values in brackets). Latencies are of 2xx responses. CPU and RSS are the serving ' +
      "process's: the gateway, the subgraph for subgraph-direct, the bare server for limit. The subgraph columns " +
      "count the HTTP requests, entity representations and SQL statements that reached the workload's subgraphs per " +
      `client request. A check compares each query's answer (parsed JSON) with ours-off's, ` +
      `${settings.warmupSeconds > 0 ? 'before and after the warm-up' : 'before and after the load'}; ` +
      'mutations are only checked for errors.',
  ];
  for (const workload of report.workloads) {
    lines.push('', `## ${workload.name}`, '', `${workload.description}. Subgraph-direct: ${workload.direct}.`, '');
    const summaries = report.summary.filter((summary) => summary.workload === workload.name);
    lines.push(...table(summaries.map(row)));
    // Every table says what each target had on: a ratio means nothing without it.
    lines.push('', 'Mechanisms on:');
    for (const { target } of summaries) {
      const described = report.targets.find((t) => t.name === target);
      lines.push(`- ${target}: ${described?.mechanisms ?? described?.description ?? 'not described'}`);
    }
  }
  const measuredOurs = report.summary.filter((summary) => summary.target.startsWith('ours-') && summary.peakRssMB != null);
  if (measuredOurs.length > 0) {
    const flags = memoryFlags(report.summary);
    lines.push(
      '',
      flags.length === 0
        ? `Memory: every configuration of ours peaked under ${OUR_RSS_LIMIT_MB} MB RSS under load.`
        : `Memory: **above ${OUR_RSS_LIMIT_MB} MB** peak RSS under load: ` +
            `${flags.map((flag) => `${flag.workload} / ${flag.target} ${Math.round(flag.peakRssMB)} MB`).join(', ')}.`,
    );
  }
  if (report.goals.length > 0) {
    lines.push('', '## Targets for the deep workload (reported, not asserted)', '');
    for (const goal of report.goals) {
      const mark = goal.met == null ? 'n/a' : goal.met ? 'met' : 'not met';
      lines.push(`- ${goal.description}: ${goal.actual} (${mark})`);
    }
  }
  const problems = report.summary.filter((summary) => summary.problems.length > 0);
  const busy = report.summary.filter((summary) => (summary.otherCpuPercentMax ?? 0) > BUSY_MACHINE_PERCENT);
  const anyRedis = report.summary.some((summary) => (summary.redisCpuMsPerRequest ?? 0) >= REDIS_NOTE_MS);
  if (problems.length > 0 || busy.length > 0 || anyRedis || report.notes.length > 0) {
    lines.push('', '## Notes', '');
    for (const note of report.notes) lines.push(`- ${note}`);
    const redis = report.summary.filter((summary) => (summary.redisCpuMsPerRequest ?? 0) >= REDIS_NOTE_MS);
    if (redis.length > 0) {
      const uses = redis.map((s) => `${s.workload} / ${s.target} ${formatAmount(s.redisCpuMsPerRequest)}`).join(', ');
      lines.push(`- Redis CPU ms per request (not in the CPU column; any other Redis client on the machine adds to it): ${uses}.`);
    }
    if (busy.length > 0) {
      const worst = busy.map((s) => `${s.workload} / ${s.target} ${Math.round(s.otherCpuPercentMax!)}%`).join(', ');
      lines.push(`- Other processes on the machine used CPU during some timed windows (up to, in % of one core): ${worst}.`);
    }
    for (const summary of problems) {
      const shown = summary.problems.slice(0, 3);
      const more = summary.problems.length - shown.length;
      lines.push(
        `- ${summary.workload} / ${summary.target}: ${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
