import { logDomain, renderChartSvg } from '../../bench/chart';
import { formatAmount } from '../../bench/format';
import { renderMarkdown } from '../../bench/markdown';
import { evaluateGoals, memoryFlags, summarise, type BenchReport, type RunRecord } from '../../bench/summary';
import { TARGET_NAMES, type TargetName } from '../../bench/targets/catalog';
import type { WorkloadName } from '../../bench/workloads/workload';

function run(workload: WorkloadName, target: TargetName, round: number, rps: number, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    workload,
    target,
    round,
    check: { ok: true, details: [] },
    load: {
      requests: rps * 8,
      durationSeconds: 8,
      rps,
      latencyP50Ms: 1000 / rps,
      latencyP99Ms: 4000 / rps,
      latencyMaxMs: 5000 / rps,
      non2xx: 0,
      graphqlErrors: 0,
      transportErrors: 0,
    },
    server: { cpuMsPerRequest: 1000 / rps, peakRssMB: 100 + round },
    subgraphs: {
      httpRequestsPerRequest: 4,
      representationsPerRequest: 200,
      sqlStatementsPerRequest: 6,
      cpuMsPerRequest: 2,
      totals: {
        users: { httpRequests: 1, representations: 0, sqlStatements: 2 },
        orders: { httpRequests: 2, representations: 100, sqlStatements: 2 },
        inventory: { httpRequests: 1, representations: 100, sqlStatements: 2 },
      },
    },
    ...extra,
  };
}

/** Deep: apollo 20 rps, ours-off 3.5x, ours-default 40x in every round but one slowed round. */
const RPS: Record<TargetName, number[]> = {
  'ours-off': [70, 35, 72],
  'ours-default': [800, 400, 820],
  'ours-nolimits': [810, 405, 830],
  'ours-tracing': [700, 350, 720],
  'ours-off-2w': [120, 60, 125],
  'ours-default-2w': [1200, 600, 1230],
  'apollo-gateway': [20, 10, 20],
  'hive-gateway': [30, 15, 31],
  'hive-gateway-rust': [40, 20, 41],
  'hive-gateway-rust-dedup': [900, 450, 910],
  'subgraph-direct': [300, 150, 310],
  limit: [20000, 10000, 21000],
};

function runs(): RunRecord[] {
  const all: RunRecord[] = [];
  for (let round = 1; round <= 3; round++) {
    for (const target of TARGET_NAMES) all.push(run('deep', target, round, RPS[target][round - 1]!));
  }
  return all;
}

describe('summarise', () => {
  it('takes medians across rounds and ratios within each round', () => {
    const summary = summarise(runs(), ['deep'], [...TARGET_NAMES], 3);
    const oursOff = summary.find((s) => s.target === 'ours-off')!;
    expect(oursOff.rps).toBe(70);
    expect(oursOff.vsApollo.perRound).toEqual([3.5, 3.5, 3.6]);
    expect(oursOff.vsApollo.median).toBe(3.5);
    expect(oursOff.vsLimit.median).toBeCloseTo(0.0035, 6);
    expect(oursOff.peakRssMB).toBe(103);
    expect(oursOff.check).toBe('ok');
  });

  it('adds up errors and collects check failures and run errors', () => {
    const failing = runs().map((r) =>
      r.target === 'hive-gateway' && r.round === 2
        ? { ...r, check: { ok: false, details: ['cold: answer differs at $.data.x'] }, load: { ...r.load!, non2xx: 3, graphqlErrors: 4 } }
        : r,
    );
    failing.push({ workload: 'deep', target: 'limit', round: 4, check: { ok: false, details: [] }, error: 'limit exited with code 1' });
    const summary = summarise(failing, ['deep'], [...TARGET_NAMES], 3);
    const hive = summary.find((s) => s.target === 'hive-gateway')!;
    expect(hive.check).toBe('failed');
    expect(hive.errors).toEqual({ non2xx: 3, graphql: 4, transport: 0, total: 7 });
    expect(hive.problems).toEqual(['cold: answer differs at $.data.x']);
    expect(summary.find((s) => s.target === 'limit')!.problems).toEqual(['round 4: limit exited with code 1']);
  });

  it('leaves ratios empty when apollo-gateway produced nothing', () => {
    const withoutApollo = runs().filter((r) => r.target !== 'apollo-gateway');
    const summary = summarise(withoutApollo, ['deep'], ['ours-off'], 3);
    expect(summary[0]!.vsApollo).toEqual({ perRound: [null, null, null], median: null });
  });
});

describe('evaluateGoals', () => {
  it("reports the issue's deep-workload targets as met or not", () => {
    const goals = evaluateGoals(summarise(runs(), ['deep'], [...TARGET_NAMES], 3));
    const byDescription = Object.fromEntries(goals.map((goal) => [goal.description, goal]));
    expect(byDescription['deep: ours-off at least 3x apollo-gateway RPS']!.met).toBe(true);
    expect(byDescription['deep: ours-default at least 30x apollo-gateway RPS']!.met).toBe(true);
    expect(byDescription['deep: ours-default ahead of hive-gateway']!.met).toBe(true);
    // p99 = 4000 / 800 = 5 ms for ours-default, 4000 / 70 = 57 ms for ours-off.
    expect(byDescription['deep: ours-default p99 under 100 ms at 50 connections']!.met).toBe(true);
    expect(byDescription['deep: ours-off peak RSS under 300 MB']!.met).toBe(true);
  });

  it('says n/a when a target is missing', () => {
    const goals = evaluateGoals([]);
    expect(goals.every((goal) => goal.met === null)).toBe(true);
  });
});

function report(): BenchReport {
  const all = runs();
  const summary = summarise(all, ['deep'], [...TARGET_NAMES], 3);
  return {
    schemaVersion: 1,
    startedAt: '2026-01-31T12:00:00.000Z',
    finishedAt: '2026-01-31T12:15:00.000Z',
    wallSeconds: 900,
    machine: { cpus: 2, cpuModel: 'Test CPU', memoryGiB: 24, node: 'v20.0.0', os: 'Linux', commit: 'abc1234', dirty: false },
    settings: {
      mode: 'full',
      connections: 50,
      rounds: 3,
      warmupSeconds: 2,
      leadSeconds: 1,
      leadResponsesPerConnection: 2,
      durationSeconds: 8,
      windowResponsesPerConnection: 4,
      targets: [...TARGET_NAMES],
      workloads: ['deep'],
    },
    targets: TARGET_NAMES.map((name) => ({ name, description: name })),
    workloads: [{ name: 'deep', description: 'the deep one', direct: 'orders: entities', requests: [] }],
    runs: all,
    summary,
    goals: evaluateGoals(summary),
    notes: ['a note'],
  };
}

describe('renderMarkdown', () => {
  it('writes the machine, one row per target and the per-round ratios', () => {
    const markdown = renderMarkdown(report());
    expect(markdown).toContain('# Gateway benchmark, 2026-01-31 12:00:00 UTC');
    expect(markdown).toContain('2 CPUs (Test CPU), 24.0 GiB RAM, Node v20.0.0, Linux; commit abc1234.');
    expect(markdown).toContain('Wall time 15 min 0 s');
    expect(markdown).toMatch(/\| ours-off \| 70\.0 \| 14 \| 57 \| 0 \| 14\.3 \| 103 \| 4\.00 \| 200 \| 6\.00 \| 3\.5x \(3\.5x, 3\.5x, 3\.6x\) \| 0\.4% \| ok \|/);
    expect(markdown).toContain('| apollo-gateway | 20.0 |');
    expect(markdown).toContain('- deep: ours-off at least 3x apollo-gateway RPS: 3.5x (met)');
    expect(markdown).toContain('- a note');
    expect(markdown).not.toContain('Other processes on the machine');
  });

  it('notes the Redis CPU a target caused, which the CPU column leaves out', () => {
    const cached = report();
    cached.summary = cached.summary.map((s) => (s.target === 'ours-default' ? { ...s, redisCpuMsPerRequest: 0.25 } : s));
    expect(renderMarkdown(cached)).toContain('deep / ours-default 0.25.');
  });

  it('says which mechanisms each target had on, under every table', () => {
    const described = report();
    described.targets = described.targets.map((t) => (t.name === 'ours-off' ? { ...t, mechanisms: 'batching only' } : t));
    const markdown = renderMarkdown(described);
    expect(markdown).toContain('Mechanisms on:\n- ours-off: batching only\n- ours-default: ours-default\n');
  });

  it('flags every configuration of ours above 250 MB peak RSS, and only ours', () => {
    const heavy = report();
    expect(renderMarkdown(heavy)).toContain('Memory: every configuration of ours peaked under 250 MB RSS under load.');
    heavy.summary = heavy.summary.map((s) =>
      s.target === 'ours-off' || s.target === 'apollo-gateway' ? { ...s, peakRssMB: 319.4 } : s.target === 'ours-default' ? { ...s, peakRssMB: 250 } : s,
    );
    expect(memoryFlags(heavy.summary)).toEqual([{ workload: 'deep', target: 'ours-off', peakRssMB: 319.4 }]);
    expect(renderMarkdown(heavy)).toContain('Memory: **above 250 MB** peak RSS under load: deep / ours-off 319 MB.');
  });

  it('counts expected business errors apart from errors', () => {
    const withBusiness = [run('realistic', 'ours-off', 1, 100, {}), run('realistic', 'apollo-gateway', 1, 50, {})];
    withBusiness[0]!.load = { ...withBusiness[0]!.load!, expectedErrors: 7, graphqlErrors: 1 };
    const [ours] = summarise(withBusiness, ['realistic'], ['ours-off'], 1);
    expect(ours!.errors).toEqual({ non2xx: 0, graphql: 1, transport: 0, total: 1, expected: 7 });
    const rendered = report();
    rendered.summary = [{ ...ours!, workload: 'deep' }];
    expect(renderMarkdown(rendered)).toContain('| 1 (GraphQL 1) (+7 expected) |');
  });

  it('says when something else on the machine took CPU during a window', () => {
    const busy = report();
    busy.summary = busy.summary.map((s) => (s.target === 'hive-gateway' ? { ...s, otherCpuPercentMax: 80 } : s));
    expect(renderMarkdown(busy)).toContain('(up to, in % of one core): deep / hive-gateway 80%.');
  });
});

describe('renderChartSvg', () => {
  it('draws one labelled bar per target and workload', () => {
    const svg = renderChartSvg(report());
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<rect [^>]*fill="#[0-9a-f]{6}"><title>/g)).toHaveLength(TARGET_NAMES.length);
    expect(svg).toContain('>deep / limit: 20.0k RPS<');
    expect(svg).toContain('>70.0</text>');
    expect(svg.trim().endsWith('</svg>')).toBe(true);
  });

  it('spans whole powers of ten below the smallest bar, with headroom above the largest', () => {
    expect(logDomain([20, 20000])).toEqual({ low: 0, high: Math.log10(20000) + 0.45 });
    expect(logDomain([0.5, 10]).low).toBe(-1);
    expect(logDomain([])).toEqual({ low: 0, high: 1 });
  });
});

describe('number formats', () => {
  it('shows zero as 0 and a stray trace of work as <0.01', () => {
    expect(formatAmount(0)).toBe('0');
    expect(formatAmount(0.00003)).toBe('<0.01');
    expect(formatAmount(0.25)).toBe('0.25');
    expect(formatAmount(683.2)).toBe('683');
    expect(formatAmount(null)).toBe('n/a');
  });
});
