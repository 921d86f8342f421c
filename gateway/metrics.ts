/**
 * A small Prometheus registry: counters and histograms with labels, rendered in the text exposition format.
 * Enough for `/metrics` without a dependency on the request path.
 */
type Labels = Record<string, string>;

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const renderLabels = (labels: Labels, extra = ''): string => {
  const parts = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabel(value)}"`);
  if (extra) parts.push(extra);
  return parts.length > 0 ? `{${parts.join(',')}}` : '';
};
const keyOf = (labels: Labels): string => {
  const names = Object.keys(labels);
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]}=${labels[names[0]!]}`;
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
};

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const entry = this.values.get(key);
    if (entry) entry.value += by;
    else this.values.set(key, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${renderLabels(labels)} ${value}`);
    return lines.join('\n');
  }
}

export class Histogram implements Metric {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  ) {}
  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(labels);
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, entry);
    }
    for (let index = 0; index < this.buckets.length; index++) if (value <= this.buckets[index]!) entry.counts[index]!++;
    entry.sum += value;
    entry.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.series.values()) {
      this.buckets.forEach((bound, index) =>
        lines.push(`${this.name}_bucket${renderLabels(labels, `le="${bound}"`)} ${counts[index]}`),
      );
      lines.push(`${this.name}_bucket${renderLabels(labels, 'le="+Inf"')} ${count}`);
      lines.push(`${this.name}_sum${renderLabels(labels)} ${sum}`);
      lines.push(`${this.name}_count${renderLabels(labels)} ${count}`);
    }
    return lines.join('\n');
  }
}

export function createGatewayMetrics() {
  const metrics = {
    httpRequests: new Counter('gateway_http_requests_total', 'Client HTTP requests, by route and status.'),
    requestDuration: new Histogram('gateway_request_duration_seconds', 'Client GraphQL request duration in seconds.'),
    subgraphFetches: new Counter(
      'gateway_subgraph_fetches_total',
      'Fetches the query plans asked of each subgraph (before batching, deduplication and caching).',
    ),
    subgraphRequests: new Counter('gateway_subgraph_requests_total', 'HTTP requests sent to subgraphs.'),
    subgraphRepresentations: new Counter(
      'gateway_subgraph_representations_total',
      'Entity representations sent to subgraphs.',
    ),
    deduplicated: new Counter(
      'gateway_deduplicated_total',
      'Work not done twice: kind=inbound (client queries sharing one execution), inflight (subgraph requests sharing one HTTP call), batched_fetch (fetches merged into another HTTP request), representation (duplicate representations not sent), request_memo (entities an earlier wave of the same request had already fetched).',
    ),
    planExecutions: new Counter(
      'gateway_plan_executions_total',
      "Query plans run, by executor (waves: ours; apollo: Apollo Gateway's) and, for apollo, the reason (mutation, subscription, introspection, reserved_response_name, defer, data_rewrites, unsupported_plan_node, compile_error, query_plan_requested, gateway_internals).",
    ),
    entityCacheLookups: new Counter(
      'gateway_entity_cache_lookups_total',
      'Entity cache lookups, by result (hit or miss).',
    ),
    cacheErrors: new Counter(
      'gateway_cache_errors_total',
      'Cache operations that failed or timed out (the request was served without the cache).',
    ),
    changeEvents: new Counter(
      'gateway_entity_changes_total',
      'Entity changes received on the change stream (each evicts that entity).',
    ),
    cacheRoundTrips: new Counter('gateway_cache_round_trips_total', 'Round trips to the cache store.'),
    subgraphErrors: new Counter(
      'gateway_subgraph_errors_total',
      'Subgraph requests that failed (network, timeout, non-2xx).',
    ),
    edgeRejections: new Counter(
      'gateway_edge_rejections_total',
      'Requests refused at the edge before execution, by stage (trusted_documents, persisted_query, document_limits, operation, rate_limit, demand_control) and code.',
    ),
    trustedDocuments: new Counter(
      'gateway_trusted_documents_total',
      'Documents checked against the trusted documents manifest, by result (known, unknown, rejected).',
    ),
    rateLimited: new Counter(
      'gateway_rate_limited_total',
      'Requests refused by a rate limit, by policy (request, mutation, operation:<name>).',
    ),
    rateLimitStoreErrors: new Counter(
      'gateway_rate_limit_store_errors_total',
      'Requests let through unchecked because the rate limit store (Redis) was down or slow (fail open).',
    ),
    subgraphRetries: new Counter(
      'gateway_subgraph_retries_total',
      'Query fetches asked again after a connection error, by subgraph.',
    ),
    circuitTransitions: new Counter(
      'gateway_circuit_transitions_total',
      "Changes of a subgraph's circuit breaker, by subgraph and the state entered (open, half-open, closed).",
    ),
    shortCircuited: new Counter(
      'gateway_subgraph_short_circuited_total',
      'Fetches failed at once because the subgraph circuit was open, by subgraph.',
    ),
    staleServed: new Counter(
      'gateway_stale_entities_served_total',
      'Entities served from the cache past their TTL because their subgraph failed (stale-if-error), by subgraph.',
    ),
    operationCost: new Histogram(
      'gateway_operation_cost',
      'Static cost of each operation (demand control, from @cost and @listSize), by operation type.',
      [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 100_000],
    ),
    subgraphDuration: new Histogram(
      'gateway_subgraph_request_duration_seconds',
      'Subgraph request duration in seconds.',
    ),
  };
  return {
    ...metrics,
    render(): string {
      const process_ = [
        '# HELP process_resident_memory_bytes Resident memory size in bytes.',
        '# TYPE process_resident_memory_bytes gauge',
        `process_resident_memory_bytes ${process.memoryUsage().rss}`,
        '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.',
        '# TYPE process_cpu_seconds_total counter',
        `process_cpu_seconds_total ${(process.cpuUsage().user + process.cpuUsage().system) / 1e6}`,
      ];
      return [...Object.values(metrics).map((metric) => metric.render()), ...process_].join('\n') + '\n';
    },
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
