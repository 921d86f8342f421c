/** The things the bench measures, in the order every round visits them. */
export const TARGET_NAMES = [
  'ours-off',
  'ours-default',
  'ours-nolimits',
  'ours-tracing',
  'ours-off-2w',
  'ours-default-2w',
  'apollo-gateway',
  'hive-gateway',
  'hive-gateway-rust',
  'hive-gateway-rust-dedup',
  'subgraph-direct',
  'limit',
] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** The target every other one is compared against, round by round. */
export const BASELINE_TARGET: TargetName = 'apollo-gateway';
/** The target whose answers are the expected ones. */
export const REFERENCE_TARGET: TargetName = 'ours-off';

export const TARGET_DESCRIPTIONS: Record<TargetName, string> = {
  'ours-off': 'our gateway, DEDUP_INFLIGHT=false DEDUP_INBOUND=off ENTITY_CACHE=false (batching on)',
  'ours-default':
    'our gateway with its defaults (DEDUP_INFLIGHT=true DEDUP_INBOUND=all ENTITY_CACHE=true, document limits, cost limit, rate limits on Redis with a budget the bench never reaches), on Redis (warmed)',
  'ours-nolimits': 'ours-default with DOCUMENT_LIMITS=false COST_LIMIT=false RATE_LIMIT=false: what the edge limits cost',
  'ours-tracing':
    "ours-default with OpenTelemetry tracing on, every request sampled (OTEL_TRACES_SAMPLER=always_on), spans exported over OTLP/HTTP to a sink in the bench's process: what tracing costs",
  'ours-off-2w': 'ours-off with GATEWAY_WORKERS=2: two worker processes on one port (node:cluster), CPU and RSS of all three processes',
  'ours-default-2w':
    'ours-default with GATEWAY_WORKERS=2: two worker processes on one port (node:cluster) sharing the Redis cache, CPU and RSS of all three processes',
  'apollo-gateway': '@apollo/gateway + @apollo/server startStandaloneServer, default options, caller headers signed per request',
  'hive-gateway': '@graphql-hive/gateway createGatewayRuntime on node:http, default options, caller headers signed per request',
  'hive-gateway-rust':
    "hive-gateway with Hive's Rust query planner (@graphql-hive/router-runtime's unifiedGraphHandler), otherwise default options",
  'hive-gateway-rust-dedup':
    'hive-gateway-rust with inbound in-flight request deduplication on (inboundInflightRequestDeduplication: true, keyed by all headers, so per caller)',
  'subgraph-direct': "one subgraph asked directly for the workload's largest fetch (no gateway)",
  limit: 'bare node:http server answering the reference bytes: what one Node process here can serve at all',
};

/**
 * Which of the mechanisms that decide these benchmarks each target had on: every table lists them, so that a
 * ratio is never read without knowing what it compares. A target missing here is shown with its description.
 */
export const TARGET_MECHANISMS: Partial<Record<TargetName, string>> = {
  'ours-off': 'batching on; in-flight subgraph dedup, inbound dedup and entity cache off; limits on',
  'ours-default': 'batching, in-flight subgraph dedup, inbound dedup (all callers, per caller), entity cache on Redis; limits on',
  'ours-nolimits': 'as ours-default, document, cost and rate limits off',
  'ours-tracing': 'as ours-default, plus OpenTelemetry tracing of every request',
  'ours-off-2w': 'as ours-off, in 2 worker processes (nothing shared between them)',
  'ours-default-2w': 'as ours-default, in 2 worker processes (inbound and in-flight dedup per worker; entity cache shared on Redis)',
  'apollo-gateway': "Apollo's planner and executor; no request dedup, no entity cache",
  'hive-gateway':
    "Hive's JavaScript planner, in-flight subgraph dedup (its default, per forwarded authorization); no inbound dedup, no response or entity cache",
  'hive-gateway-rust':
    "Hive's Rust planner, in-flight subgraph dedup (its default, per forwarded authorization); no inbound dedup, no response or entity cache",
  'hive-gateway-rust-dedup':
    "Hive's Rust planner, in-flight subgraph dedup and inbound in-flight dedup (both per authorization header); no response or entity cache",
  'subgraph-direct': 'no gateway',
  limit: 'no GraphQL at all',
};

/** The gateway-shaped targets: they answer the workload's own query at /graphql. */
export function isGatewayTarget(target: TargetName): boolean {
  return target !== 'subgraph-direct' && target !== 'limit';
}
