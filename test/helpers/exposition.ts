/**
 * The Prometheus text exposition format as Prometheus scrapes it
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE` once per metric family,
 * then one `name{label="value",...} number` line per sample, label values escaping backslash, double quote and
 * line feed. Parsed strictly: any line that is not valid throws.
 */
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (\S+)$/;

export interface MetricFamily {
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  let current: MetricFamily | undefined;
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
    const ownNames =
      current?.type === 'histogram'
        ? [`${currentName}_bucket`, `${currentName}_sum`, `${currentName}_count`]
        : current?.type === 'summary'
          ? [currentName, `${currentName}_sum`, `${currentName}_count`]
          : [currentName];
    if (!ownNames.includes(name!)) throw new Error(`sample ${name} outside its family (${currentName})`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (rawLabels ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[key!] = value!.replace(/\\(.)/g, (_, escaped: string) => (escaped === 'n' ? '\n' : escaped));
    // Prometheus reads values with Go's ParseFloat, which takes NaN in any case (prom-client writes `Nan`).
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue);
    if (Number.isNaN(value) && !/^nan$/i.test(rawValue!)) throw new Error(`not a number: ${line}`);
    current!.samples.push({ name: name!, labels, value });
  }
  return families;
}

/** Every series name a scrape can be queried by: each family, and each histogram's _bucket, _sum and _count. */
export function seriesNames(families: Map<string, MetricFamily>): Set<string> {
  const names = new Set<string>();
  for (const [name, family] of families) {
    names.add(name);
    if (family.type === 'histogram' || family.type === 'summary')
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
  }
  return names;
}
