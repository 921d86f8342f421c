import { Counter, Histogram, Registry } from 'prom-client';
import { exposition } from '../lib/metrics';

/**
 * The gateway's metrics, on prom-client with one Registry per gateway (see lib/metrics.ts for why, and for the
 * process metrics every scrape ends with). Label values are identifiers without spaces; those a client could
 * choose (operation names, error codes) are bounded so that no client can grow the number of series.
 */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Label value for requests whose operation has no name. */
export const ANONYMOUS_OPERATION = 'anonymous';
/** Label value for operation names past the bound, and for anything that is not a GraphQL name. */
export const OTHER_OPERATION = 'other';
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

export interface OperationNameOptions {
  /** Names always labelled as themselves (the trusted documents manifest's). Default none. */
  known?: Iterable<string>;
  /** How many other distinct names get their own label value, first come first served. Default 100. */
  maxDistinct?: number;
}

/**
 * The `operation_name` label of a request: its name when the manifest lists it or while fewer than
 * `maxDistinct` other names have been seen, `other` past that, `anonymous` without a name. With a manifest the
 * label values are the organisation's operations; without one, a client sending ever new names fills the first
 * N and then lands in `other`.
 */
export function createOperationNameLabels(options: OperationNameOptions = {}): (name: string | undefined) => string {
  const known = new Set(options.known ?? []);
  const seen = new Set<string>();
  const maxDistinct = options.maxDistinct ?? 100;
  return (name) => {
    if (name === undefined || name === '') return ANONYMOUS_OPERATION;
    if (!GRAPHQL_NAME.test(name)) return OTHER_OPERATION;
    if (known.has(name) || seen.has(name)) return name;
    if (seen.size >= maxDistinct) return OTHER_OPERATION;
    seen.add(name);
    return name;
  };
}

export function createGatewayMetrics(options: { operationNames?: OperationNameOptions } = {}) {
  const registry = new Registry();
  const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Counter<L>({ name, help, labelNames, registers: [registry] });
  const histogram = <L extends string>(name: string, help: string, labelNames: readonly L[], buckets: number[]) =>
    new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
  const metrics = {
    httpRequests: counter('gateway_http_requests_total', 'Client HTTP requests, by route and status.', [
      'route',
      'status',
    ]),
    requestDuration: histogram(
      'gateway_request_duration_seconds',
      'Client GraphQL request duration in seconds, by operation name (bounded: see METRICS_OPERATION_NAMES), HTTP status and first error code (none when the answer has no error).',
      ['operation_name', 'status', 'code'],
      LATENCY_BUCKETS,
    ),
    subgraphFetches: counter(
      'gateway_subgraph_fetches_total',
      'Fetches the query plans asked of each subgraph (before batching, deduplication and caching).',
      ['subgraph'],
    ),
    subgraphRequests: counter('gateway_subgraph_requests_total', 'HTTP requests sent to subgraphs.', ['subgraph']),
    subgraphRepresentations: counter(
      'gateway_subgraph_representations_total',
      'Entity representations sent to subgraphs.',
      ['subgraph'],
    ),
    deduplicated: counter(
      'gateway_deduplicated_total',
      'Work not done twice: kind=inbound (client queries sharing one execution), inflight (subgraph requests sharing one HTTP call), batched_fetch (fetches merged into another HTTP request), representation (duplicate representations not sent), request_memo (entities an earlier wave of the same request had already fetched).',
      ['kind'],
    ),
    planExecutions: counter(
      'gateway_plan_executions_total',
      "Query plans run, by executor (waves: ours; apollo: Apollo Gateway's) and, for apollo, the reason (mutation, subscription, introspection, reserved_response_name, defer, data_rewrites, unsupported_plan_node, compile_error, query_plan_requested, gateway_internals).",
      ['executor', 'reason'],
    ),
    entityCacheLookups: counter(
      'gateway_entity_cache_lookups_total',
      'Entity cache lookups, by result (hit or miss).',
      ['result'],
    ),
    cacheErrors: counter(
      'gateway_cache_errors_total',
      'Cache operations that failed or timed out (the request was served without the cache).',
    ),
    changeEvents: counter(
      'gateway_entity_changes_total',
      'Entity changes received on the change stream (each evicts that entity).',
    ),
    cacheRoundTrips: counter('gateway_cache_round_trips_total', 'Round trips to the cache store.'),
    subgraphErrors: counter(
      'gateway_subgraph_errors_total',
      'Subgraph requests that failed (network, timeout, non-2xx).',
      ['subgraph'],
    ),
    edgeRejections: counter(
      'gateway_edge_rejections_total',
      'Requests refused at the edge before execution, by stage (trusted_documents, persisted_query, document_limits, operation, rate_limit, demand_control) and code.',
      ['stage', 'code'],
    ),
    trustedDocuments: counter(
      'gateway_trusted_documents_total',
      'Documents checked against the trusted documents manifest, by result (known, unknown, rejected).',
      ['result'],
    ),
    rateLimited: counter(
      'gateway_rate_limited_total',
      'Requests refused by a rate limit, by policy (request, mutation, operation:<name>).',
      ['policy'],
    ),
    rateLimitStoreErrors: counter(
      'gateway_rate_limit_store_errors_total',
      'Requests let through unchecked because the rate limit store (Redis) was down or slow (fail open).',
    ),
    subgraphRetries: counter(
      'gateway_subgraph_retries_total',
      'Query fetches asked again after a connection error, by subgraph.',
      ['subgraph'],
    ),
    circuitTransitions: counter(
      'gateway_circuit_transitions_total',
      "Changes of a subgraph's circuit breaker, by subgraph and the state entered (open, half-open, closed).",
      ['subgraph', 'state'],
    ),
    shortCircuited: counter(
      'gateway_subgraph_short_circuited_total',
      'Fetches failed at once because the subgraph circuit was open, by subgraph.',
      ['subgraph'],
    ),
    staleServed: counter(
      'gateway_stale_entities_served_total',
      'Entities served from the cache past their TTL because their subgraph failed (stale-if-error), by subgraph.',
      ['subgraph'],
    ),
    operationCost: histogram(
      'gateway_operation_cost',
      'Static cost of each operation (demand control, from @cost and @listSize), by operation type.',
      ['operation'],
      [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 100_000],
    ),
    subgraphDuration: histogram(
      'gateway_subgraph_request_duration_seconds',
      'Subgraph HTTP request duration in seconds, by subgraph.',
      ['subgraph'],
      LATENCY_BUCKETS,
    ),
  };
  return {
    ...metrics,
    registry,
    /** The bounded `operation_name` label value of a request's operation name. */
    operationLabel: createOperationNameLabels(options.operationNames),
    /** The text exposition: this gateway's metrics, then the process's. */
    render: () => exposition(registry),
  };
}
export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
