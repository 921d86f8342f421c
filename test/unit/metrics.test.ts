import { Counter, Histogram, createGatewayMetrics } from '../../gateway/metrics';

/**
 * The text exposition format as Prometheus scrapes it (https://prometheus.io/docs/instrumenting/exposition_formats/):
 * `# HELP` and `# TYPE` once per metric family, then one `name{label="value",...} number` line per sample,
 * label values escaping backslash, double quote and line feed.
 */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$/;

interface Family {
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** Parses an exposition strictly: any line that is not valid makes the test fail. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  let current: Family | undefined;
  let currentName = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (help) {
      if (families.has(help[1]!)) throw new Error(`second HELP for ${help[1]}`);
      currentName = help[1]!;
      current = { type: '', help: help[2]!, samples: [] };
      families.set(currentName, current);
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      if (type[1] !== currentName || current!.type !== '') throw new Error(`misplaced TYPE: ${line}`);
      current!.type = type[2]!;
      continue;
    }
    const sample = SAMPLE.exec(line);
    if (!sample) throw new Error(`not a valid exposition line: ${JSON.stringify(line)}`);
    const [, name, rawLabels, rawValue] = sample;
    const ownName =
      current?.type === 'histogram'
        ? [`${currentName}_bucket`, `${currentName}_sum`, `${currentName}_count`]
        : [currentName];
    if (!ownName.includes(name!)) throw new Error(`sample ${name} outside its family (${currentName})`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (rawLabels ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!.replace(/\\(.)/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    const value = rawValue === '+Inf' ? Infinity : Number(rawValue);
    if (Number.isNaN(value)) throw new Error(`not a number: ${line}`);
    current!.samples.push({ name: name!, labels, value });
  }
  return families;
}

describe('Counter', () => {
  it('renders its HELP and TYPE, and 0 before anything was counted', () => {
    expect(new Counter('jobs_total', 'Jobs done.').render()).toBe(
      '# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 0',
    );
  });

  it('keeps one series per label set, whatever order the labels come in, adding what it is given', () => {
    const counter = new Counter('http_requests_total', 'Requests.');
    counter.inc({ route: '/graphql', status: '200' });
    counter.inc({ status: '200', route: '/graphql' }, 2);
    counter.inc({ route: '/graphql', status: '500' });
    counter.inc();
    expect(counter.get({ status: '200', route: '/graphql' })).toBe(3);
    expect(counter.get({ route: '/graphql', status: '500' })).toBe(1);
    expect(counter.get()).toBe(1);
    expect(counter.get({ route: '/metrics' })).toBe(0);
    expect(counter.render().split('\n').slice(2)).toEqual([
      'http_requests_total{route="/graphql",status="200"} 3',
      'http_requests_total{route="/graphql",status="500"} 1',
      'http_requests_total 1',
    ]);
  });

  it('escapes backslashes, double quotes and line feeds in label values, and reads them back', () => {
    const counter = new Counter('odd_total', 'Odd labels.');
    const value = 'C:\\path "quoted"\nnext line';
    counter.inc({ value });
    expect(counter.render().split('\n')[2]).toBe('odd_total{value="C:\\\\path \\"quoted\\"\\nnext line"} 1');
    expect(parseExposition(counter.render()).get('odd_total')!.samples[0]!.labels).toEqual({ value });
  });

  it('never mixes up a label value with another label set', () => {
    const counter = new Counter('pairs_total', 'Pairs.');
    counter.inc({ a: 'x,b=y' });
    counter.inc({ a: 'x', b: 'y' });
    expect(counter.get({ a: 'x,b=y' })).toBe(1);
    expect(counter.get({ a: 'x', b: 'y' })).toBe(1);
  });
});

describe('Histogram', () => {
  it('renders cumulative buckets, +Inf, sum and count per label set', () => {
    const histogram = new Histogram('latency_seconds', 'Latency.', [0.1, 0.5, 1]);
    for (const value of [0.05, 0.1, 0.3, 2]) histogram.observe(value, { route: '/graphql' });
    histogram.observe(0.7);
    expect(histogram.render()).toBe(
      [
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{route="/graphql",le="0.1"} 2',
        'latency_seconds_bucket{route="/graphql",le="0.5"} 3',
        'latency_seconds_bucket{route="/graphql",le="1"} 3',
        'latency_seconds_bucket{route="/graphql",le="+Inf"} 4',
        'latency_seconds_sum{route="/graphql"} 2.45',
        'latency_seconds_count{route="/graphql"} 4',
        'latency_seconds_bucket{le="0.1"} 0',
        'latency_seconds_bucket{le="0.5"} 0',
        'latency_seconds_bucket{le="1"} 1',
        'latency_seconds_bucket{le="+Inf"} 1',
        'latency_seconds_sum 0.7',
        'latency_seconds_count 1',
      ].join('\n'),
    );
  });

  it('renders only its HELP and TYPE before anything was observed', () => {
    expect(new Histogram('idle_seconds', 'Idle.').render()).toBe(
      '# HELP idle_seconds Idle.\n# TYPE idle_seconds histogram',
    );
  });

  it('uses Prometheus’s default buckets unless given others', () => {
    const histogram = new Histogram('default_seconds', 'Default buckets.');
    histogram.observe(0.003);
    const buckets = parseExposition(histogram.render())
      .get('default_seconds')!
      .samples.filter((sample) => sample.name === 'default_seconds_bucket');
    expect(buckets.map((sample) => sample.labels.le)).toEqual([
      ...['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10'],
      '+Inf',
    ]);
    expect(buckets.map((sample) => sample.value)).toEqual([0, 0, ...Array(12).fill(1)]);
  });
});

describe('createGatewayMetrics().render()', () => {
  it('is a valid exposition: one HELP and TYPE per family, every sample in its family, ending with a newline', () => {
    const metrics = createGatewayMetrics();
    metrics.httpRequests.inc({ route: '/graphql', status: '200' });
    metrics.subgraphDuration.observe(0.02, { subgraph: 'products' });
    metrics.deduplicated.inc({ kind: 'inbound' }, 3);
    const text = metrics.render();
    expect(text.endsWith('\n')).toBe(true);
    const families = parseExposition(text);
    for (const [name, family] of families) {
      expect({ name, type: family.type, help: family.help.length > 0 }).toEqual({
        name,
        type: expect.stringMatching(/^(counter|gauge|histogram)$/),
        help: true,
      });
    }
    expect(families.get('gateway_http_requests_total')!.samples).toEqual([
      { name: 'gateway_http_requests_total', labels: { route: '/graphql', status: '200' }, value: 1 },
    ]);
    expect(families.get('gateway_deduplicated_total')!.samples).toEqual([
      { name: 'gateway_deduplicated_total', labels: { kind: 'inbound' }, value: 3 },
    ]);
    const duration = families.get('gateway_subgraph_request_duration_seconds')!;
    expect(duration.type).toBe('histogram');
    expect(duration.samples.find((sample) => sample.name.endsWith('_count'))).toEqual({
      name: 'gateway_subgraph_request_duration_seconds_count',
      labels: { subgraph: 'products' },
      value: 1,
    });
  });

  it('exports every gateway metric, and the process’s memory and CPU', () => {
    const metrics = createGatewayMetrics();
    const families = parseExposition(metrics.render());
    const names = Object.values(metrics).flatMap((metric) =>
      typeof metric === 'object' && metric !== null && 'name' in metric ? [String(metric.name)] : [],
    );
    expect(names.length).toBeGreaterThan(10);
    expect([...families.keys()].sort()).toEqual(
      [...names, 'process_resident_memory_bytes', 'process_cpu_seconds_total'].sort(),
    );
    expect(families.get('process_resident_memory_bytes')).toMatchObject({ type: 'gauge' });
    expect(families.get('process_resident_memory_bytes')!.samples[0]!.value).toBeGreaterThan(0);
    expect(families.get('process_cpu_seconds_total')).toMatchObject({ type: 'counter' });
  });

  it('starts every gateway at zero, whatever another one counted', () => {
    const busy = createGatewayMetrics();
    busy.cacheRoundTrips.inc();
    expect(createGatewayMetrics().cacheRoundTrips.get()).toBe(0);
    expect(busy.cacheRoundTrips.get()).toBe(1);
  });
});
