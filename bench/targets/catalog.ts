/** The things the bench measures, in the order every round visits them. */
export const TARGET_NAMES = [
  'ours-off',
  'ours-default',
  'ours-nolimits',
  'ours-tracing',
  'apollo-gateway',
  'hive-gateway',
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
  'apollo-gateway': '@apollo/gateway + @apollo/server startStandaloneServer, default options, caller headers signed per request',
  'hive-gateway': '@graphql-hive/gateway createGatewayRuntime on node:http, default options, caller headers signed per request',
  'subgraph-direct': "one subgraph asked directly for the workload's largest fetch (no gateway)",
  limit: 'bare node:http server answering the reference bytes: what one Node process here can serve at all',
};

/** The gateway-shaped targets: they answer the workload's own query at /graphql. */
export function isGatewayTarget(target: TargetName): boolean {
  return target !== 'subgraph-direct' && target !== 'limit';
}
