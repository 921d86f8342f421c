import type http from 'node:http';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import type { InboundDedup } from '../lib/config';
import type { GraphQLHttpResult } from '../lib/http';
import { encodeCaller, type Caller } from '../lib/identity';
import type { GatewayMetrics } from './metrics';

/**
 * Inbound deduplication: identical client queries that arrive while one is executing share its execution and
 * get the same response bytes. Identical means the same document, operation name, variables and extensions,
 * the same response-shaping headers, and the same caller: the key includes the caller's identity, so a
 * signed-in user only ever shares with their own concurrent requests, never with another user's. Mutations
 * and subscriptions never share.
 *
 * `anonymous` shares only anonymous queries; `all` (the default) also lets a signed-in caller's identical
 * concurrent queries share (a page that fires the same query from several components, a retry storm). It is
 * safe for the same reason the key is: results never cross callers.
 */
const operationTypes = new Map<string, Map<string | undefined, string | undefined>>();

function operationType(query: string, operationName: string | undefined): string | undefined {
  let byName = operationTypes.get(query);
  if (!byName) {
    byName = new Map();
    try {
      const operations = parse(query, { noLocation: true }).definitions.filter(
        (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
      );
      for (const operation of operations) byName.set(operation.name?.value, operation.operation);
      if (operations.length === 1) byName.set(undefined, operations[0]!.operation);
    } catch {
      // Not our business: Apollo Server reports the syntax error; such a request is simply not shared.
    }
    if (operationTypes.size > 2000) operationTypes.clear();
    operationTypes.set(query, byName);
  }
  return byName.get(operationName);
}

const SHAPING_HEADERS = ['accept', 'apollo-query-plan-experimental', 'apollo-query-plan-experimental-format'];

export function createInboundDeduplicator(mode: InboundDedup, metrics: GatewayMetrics) {
  const inflight = new Map<string, Promise<GraphQLHttpResult>>();

  function keyOf(req: http.IncomingMessage, body: unknown, caller: Caller): string | undefined {
    if (mode === 'off' || req.method !== 'POST' || (mode === 'anonymous' && caller.kind !== 'anonymous'))
      return undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
    const { query, operationName, variables, extensions } = body as Record<string, unknown>;
    if (typeof query !== 'string') return undefined;
    if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
    if (operationType(query, operationName ?? undefined) !== 'query') return undefined;
    const headers = SHAPING_HEADERS.map((name) => req.headers[name] ?? '');
    // The caller and the document, length-prefixed, are as unambiguous as their JSON and cost no escaping of
    // the document's quotes on every request; the rest stays JSON (`null` and `""` must differ).
    const callerValue = encodeCaller(caller) ?? '';
    const rest = JSON.stringify([operationName ?? null, variables ?? null, extensions ?? null, headers]);
    return `${callerValue.length}:${callerValue}${query.length}:${query}${rest}`;
  }

  return {
    async run(
      req: http.IncomingMessage,
      body: unknown,
      caller: Caller,
      execute: () => Promise<GraphQLHttpResult>,
    ): Promise<GraphQLHttpResult> {
      const key = keyOf(req, body, caller);
      if (key === undefined) return execute();
      const existing = inflight.get(key);
      if (existing) {
        metrics.deduplicated.inc({ kind: 'inbound' });
        return existing;
      }
      const running = execute();
      inflight.set(key, running);
      try {
        return await running;
      } finally {
        inflight.delete(key);
      }
    },
  };
}
