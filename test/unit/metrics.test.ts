import { createGatewayMetrics, createOperationNameLabels } from '../../gateway/metrics';
import { counterValue } from '../../lib/metrics';
import { parseExposition } from '../helpers/exposition';

describe('createGatewayMetrics().render()', () => {
  it('is a valid exposition: one HELP and TYPE per family, every sample in its family, ending with a newline', async () => {
    const metrics = createGatewayMetrics();
    metrics.httpRequests.inc({ route: '/graphql', status: '200' });
    metrics.subgraphDuration.observe({ subgraph: 'products' }, 0.02);
    metrics.deduplicated.inc({ kind: 'inbound' }, 3);
    const text = await metrics.render();
    expect(text.endsWith('\n')).toBe(true);
    const families = parseExposition(text);
    for (const [name, family] of families) {
      expect({ name, type: family.type, help: family.help.length > 0 }).toEqual({
        name,
        type: expect.stringMatching(/^(counter|gauge|histogram|summary)$/),
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

  it('exports every gateway metric, then the process metrics (CPU, memory, event-loop lag, heap, handles)', async () => {
    const metrics = createGatewayMetrics();
    const families = parseExposition(await metrics.render());
    const own = metrics.registry.getMetricsAsArray().map((metric) => metric.name);
    expect(own.length).toBeGreaterThan(20);
    for (const name of own) expect(families.has(name)).toBe(true);
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_active_handles_total',
      'nodejs_gc_duration_seconds',
    ])
      expect({ name, exported: families.has(name) }).toEqual({ name, exported: true });
    expect(families.get('process_resident_memory_bytes')!.samples[0]!.value).toBeGreaterThan(0);
    expect(families.get('process_cpu_seconds_total')).toMatchObject({ type: 'counter' });
  });

  it('keeps the metric names dashboards and the bench read', async () => {
    const families = parseExposition(await createGatewayMetrics().render());
    for (const name of [
      'gateway_http_requests_total',
      'gateway_request_duration_seconds',
      'gateway_subgraph_request_duration_seconds',
      'gateway_entity_cache_lookups_total',
      'gateway_rate_limited_total',
      'gateway_edge_rejections_total',
      'gateway_plan_executions_total',
      'gateway_deduplicated_total',
    ])
      expect({ name, exported: families.has(name) }).toEqual({ name, exported: true });
  });

  it('starts every gateway at zero, whatever another one counted', async () => {
    const busy = createGatewayMetrics();
    busy.cacheRoundTrips.inc();
    expect(await counterValue(createGatewayMetrics().cacheRoundTrips)).toBe(0);
    expect(await counterValue(busy.cacheRoundTrips)).toBe(1);
  });
});

describe('counterValue', () => {
  it('reads exactly one label set: not a subset, not another order of the same labels confused with another', async () => {
    const metrics = createGatewayMetrics();
    metrics.planExecutions.inc({ executor: 'waves' });
    metrics.planExecutions.inc({ executor: 'apollo', reason: 'mutation' }, 2);
    metrics.planExecutions.inc({ reason: 'mutation', executor: 'apollo' });
    expect(await counterValue(metrics.planExecutions, { executor: 'waves' })).toBe(1);
    expect(await counterValue(metrics.planExecutions, { executor: 'apollo', reason: 'mutation' })).toBe(3);
    expect(await counterValue(metrics.planExecutions, { executor: 'apollo' })).toBe(0);
  });
});

describe('createOperationNameLabels', () => {
  it('labels the first N distinct names as themselves and every later one as other', () => {
    const label = createOperationNameLabels({ maxDistinct: 3 });
    expect(['A', 'B', 'A', 'C', 'D', 'B', 'E'].map(label)).toEqual(['A', 'B', 'A', 'C', 'other', 'B', 'other']);
  });

  it('always labels the manifest’s names as themselves, without spending the bound', () => {
    const label = createOperationNameLabels({ known: ['TopProducts', 'Me'], maxDistinct: 1 });
    expect(['X', 'TopProducts', 'Y', 'Me'].map(label)).toEqual(['X', 'TopProducts', 'other', 'Me']);
  });

  it('labels anonymous operations anonymous, and what is not a GraphQL name other', () => {
    const label = createOperationNameLabels();
    expect([undefined, '', 'query plan requested', 'a"b', 'ok_1'].map(label)).toEqual([
      'anonymous',
      'anonymous',
      'other',
      'other',
      'ok_1',
    ]);
  });
});
