import { createRequire } from 'node:module';
import type { ApolloGateway, GraphQLDataSource } from '@apollo/gateway';
import type { GraphQLDataSourceRequestKind } from '@apollo/gateway/dist/datasources/types';
import { Schema } from '@apollo/federation-internals';
import type { QueryPlanner } from '@apollo/query-planner';
import { GraphQLSchema } from 'graphql';

/**
 * The one module that reaches into Apollo Gateway beyond its public API, for our plan executor.
 *
 * The executor replaces `gateway.executor` (public) and plans with the gateway's own planner, API schema,
 * supergraph schema and data sources, which are private fields. They are checked, by name and shape, each
 * time a schema loads; when one is missing (a new Apollo version renamed it), `readGatewayInternals` says
 * which, the executor logs that in one line and every request goes to Apollo's own executor. Nothing else in
 * the gateway imports from `@apollo/gateway/dist`.
 */
export interface GatewayInternals {
  queryPlanner: QueryPlanner;
  apiSchema: Schema;
  supergraphSchema: GraphQLSchema;
  serviceMap: Record<string, { dataSource: GraphQLDataSource }>;
}

export type InternalsCheck = { kind: 'ready'; internals: GatewayInternals } | { kind: 'missing'; missing: string[] };

/** The public hooks the executor is installed through; what is missing, if anything. */
export function missingPublicHooks(gateway: ApolloGateway): string[] {
  const missing: string[] = [];
  if (typeof gateway.executor !== 'function') missing.push('ApolloGateway.executor');
  if (typeof gateway.onSchemaLoadOrUpdate !== 'function') missing.push('ApolloGateway.onSchemaLoadOrUpdate');
  if (INCOMING_OPERATION_CHECK) missing.push(INCOMING_OPERATION_CHECK);
  return missing;
}

/** The private fields, checked; call after a schema has loaded. */
export function readGatewayInternals(gateway: ApolloGateway): InternalsCheck {
  const candidate = gateway as unknown as Partial<Record<keyof GatewayInternals, unknown>>;
  const missing: string[] = [];
  const planner = candidate.queryPlanner as { buildQueryPlan?: unknown } | undefined;
  if (typeof planner?.buildQueryPlan !== 'function') missing.push('queryPlanner.buildQueryPlan');
  if (!(candidate.apiSchema instanceof Schema)) missing.push('apiSchema');
  if (!(candidate.supergraphSchema instanceof GraphQLSchema)) missing.push('supergraphSchema');
  const services = candidate.serviceMap;
  if (
    services === null ||
    typeof services !== 'object' ||
    !Object.values(services).every(
      (service) => typeof (service as { dataSource?: { process?: unknown } })?.dataSource?.process === 'function',
    )
  )
    missing.push('serviceMap');
  return missing.length > 0
    ? { kind: 'missing', missing }
    : { kind: 'ready', internals: candidate as unknown as GatewayInternals };
}

/**
 * The request kind Apollo's executor gives `process()` for a client operation. The enum is not exported from
 * the package's entry point; its value is read from where it lives, and checked against the one we send.
 */
const EXPECTED_INCOMING_OPERATION = 'incoming operation';
export const INCOMING_OPERATION =
  EXPECTED_INCOMING_OPERATION as unknown as GraphQLDataSourceRequestKind.INCOMING_OPERATION;
const INCOMING_OPERATION_CHECK = ((): string | undefined => {
  try {
    const types = createRequire(__filename)('@apollo/gateway/dist/datasources/types') as {
      GraphQLDataSourceRequestKind?: Record<string, string>;
    };
    return types.GraphQLDataSourceRequestKind?.INCOMING_OPERATION === EXPECTED_INCOMING_OPERATION
      ? undefined
      : 'GraphQLDataSourceRequestKind.INCOMING_OPERATION';
  } catch {
    return 'GraphQLDataSourceRequestKind';
  }
})();
