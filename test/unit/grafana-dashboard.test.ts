import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../lib/paths';
import { parseExposition, seriesNames } from '../helpers/exposition';
import { startSystem, type TestSystem } from '../helpers/system';

/**
 * The Grafana dashboard in deploy/grafana/ queries only metrics the services export: every PromQL expression's
 * metric names are checked against what a running gateway and subgraph answer on /metrics, so renaming a metric
 * without the dashboard fails here rather than as an empty panel in production.
 */
interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

const dashboard = JSON.parse(
  fs.readFileSync(path.join(projectRoot, 'deploy', 'grafana', 'gateway-dashboard.json'), 'utf8'),
) as { title: string; panels: Panel[] };

const panelsOf = (panels: Panel[]): Panel[] => panels.flatMap((panel) => [panel, ...panelsOf(panel.panels ?? [])]);
const expressions = panelsOf(dashboard.panels).flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr })),
);

const PROMQL_WORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
]);

/** The metric names a PromQL expression selects: what is left once strings, matchers, ranges, grouping and calls are gone. */
function metricNamesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)].flatMap(([, name, call]) =>
    call || PROMQL_WORDS.has(name!) ? [] : [name!],
  );
}

describe('deploy/grafana/gateway-dashboard.json', () => {
  let system: TestSystem;
  let exported: Set<string>;
  beforeAll(async () => {
    system = await startSystem('sqlite');
    const scrape = async (url: string) =>
      seriesNames(parseExposition(await (await fetch(url.replace(/\/graphql$/, '/metrics'))).text()));
    const [gateway, users] = await Promise.all([scrape(system.gatewayUrl), scrape(system.subgraphs.users.url)]);
    exported = new Set([...gateway, ...users]);
  });
  afterAll(() => system?.close());

  it('reads the metric names out of PromQL', () => {
    expect(
      metricNamesOf(
        'histogram_quantile(0.95, sum by (le, subgraph) (rate(x_bucket{job=~"a|b",code!="none"}[$__rate_interval]))) / sum(rate(y_total[5m]))',
      ),
    ).toEqual(['x_bucket', 'y_total']);
  });

  it('has panels for requests, latency by operation, errors by code, subgraph fetches, the cache, rate limits and the processes', () => {
    const all = expressions.map((entry) => entry.expr).join('\n');
    for (const needed of [
      'gateway_http_requests_total',
      'gateway_request_duration_seconds_bucket',
      'gateway_request_duration_seconds_count',
      'gateway_subgraph_request_duration_seconds_bucket',
      'gateway_entity_cache_lookups_total',
      'gateway_rate_limited_total',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_p99_seconds',
    ])
      expect({ needed, queried: all.includes(needed) }).toEqual({ needed, queried: true });
    expect(all).toMatch(/histogram_quantile\(0\.99, sum by \(le, operation_name\)/);
  });

  it('queries only metrics that the gateway and the subgraphs export', () => {
    expect(expressions.length).toBeGreaterThan(10);
    const unknown = expressions.flatMap(({ panel, expr }) =>
      metricNamesOf(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });
});
