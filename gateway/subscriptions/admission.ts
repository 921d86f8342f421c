import type http from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import type { Caller } from '../../lib/identity';
import type { Edge } from '../edge/pipeline';
import type { EdgeRequest, GraphQLParams } from '../edge/request';
import type { EventStream, SubscriberHooks, SubscriptionEngine } from './engine';

/** One operation sent over a streaming transport, as graphql-ws and graphql-sse hand it over. */
export interface StreamedOperation {
  query?: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
  extensions?: Record<string, unknown> | null;
}

export type Admission =
  | { kind: 'refused'; status: number; errors: GraphQLFormattedError[] }
  | { kind: 'operation'; document: DocumentNode; run(): Promise<FormattedExecutionResult> }
  | { kind: 'subscription'; document: DocumentNode; events: EventStream };

export interface AdmissionOptions {
  edge: Edge;
  /** The API schema being served (follows supergraph reloads); undefined before the first one loaded. */
  schema(): GraphQLSchema | undefined;
  /** Queries and mutations sent over a streaming transport run on the gateway's HTTP engine. */
  runOperation(operation: StreamedOperation, caller: Caller): Promise<FormattedExecutionResult>;
  /** Undefined when the gateway has no broker to feed subscriptions from (no Redis). */
  engine: SubscriptionEngine | undefined;
}

const refusal = (
  status: number,
  code: string,
  message: string,
  extensions: Record<string, unknown> = {},
): Admission => ({
  kind: 'refused',
  status,
  errors: [{ message, extensions: { code, ...extensions } }],
});

/**
 * What happens at subscribe time, the same for graphql-ws and SSE: the edge stages of an HTTP request (trusted
 * documents, document limits, operation resolution, rate limits, demand control) on the operation, validation
 * against the API schema, then the subscription's own admission (who may subscribe to what). Limits, cost and
 * rate limits are thus spent once per subscription, not per event.
 */
export function createAdmission(options: AdmissionOptions) {
  return async function admit(
    req: http.IncomingMessage,
    caller: Caller,
    operation: StreamedOperation,
    hooks: SubscriberHooks,
  ): Promise<Admission> {
    if (typeof operation.query !== 'string' || operation.query === '')
      return refusal(
        400,
        'BAD_REQUEST',
        'Send the operation text in "query" (persisted query hashes alone are not accepted here)',
      );
    const params: GraphQLParams = {
      query: operation.query,
      operationName: operation.operationName ?? undefined,
      variables: operation.variables ?? undefined,
      extensions: operation.extensions ?? undefined,
    };
    const request: EdgeRequest = { req, caller, body: operation, params, streaming: true };
    const rejection = await options.edge.check(request);
    if (rejection) return refusal(rejection.status, rejection.code, rejection.message, rejection.extensions);

    let document = request.document;
    if (!document) {
      try {
        document = parse(operation.query);
      } catch (error) {
        return refusal(400, 'GRAPHQL_PARSE_FAILED', (error as GraphQLError).message);
      }
    }
    const schema = options.schema();
    if (!schema) return refusal(503, 'SERVICE_UNAVAILABLE', 'The gateway has not loaded its supergraph yet');
    const invalid = validate(schema, document);
    if (invalid.length > 0)
      return {
        kind: 'refused',
        status: 400,
        errors: invalid.map((error) => ({ message: error.message, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })),
      };
    const selected = request.operation ?? getOperationAST(document, params.operationName);
    if (!selected) return refusal(400, 'OPERATION_RESOLUTION_FAILURE', 'Name the operation to run in "operationName"');
    if (selected.operation !== 'subscription')
      return { kind: 'operation', document, run: () => options.runOperation(operation, caller) };
    if (!options.engine)
      return refusal(
        503,
        'SERVICE_UNAVAILABLE',
        'Subscriptions need Redis: this gateway has no broker to read events from (set REDIS_URL or REDIS_CLUSTER_NODES)',
      );
    const outcome = await options.engine.subscribe(
      { schema, document, operation: selected, variables: params.variables, caller },
      hooks,
    );
    return outcome.kind === 'refused' ? outcome : { kind: 'subscription', document, events: outcome.events };
  };
}

export type Admit = ReturnType<typeof createAdmission>;

/** graphql-ws wants GraphQLError instances for a refusal. */
export const toGraphQLErrors = (errors: readonly GraphQLFormattedError[]): GraphQLError[] =>
  errors.map((error) => new GraphQLError(error.message, { extensions: error.extensions }));

/**
 * Open connections (graphql-ws sockets, SSE streams) per caller: a signed-in user by id, anyone else by client
 * address. `open` returns the release, or undefined when the caller is at the limit.
 */
export function createConnectionCounter(maxPerCaller: number) {
  const open = new Map<string, number>();
  return {
    open(caller: Caller, req: http.IncomingMessage): (() => void) | undefined {
      const key = caller.kind === 'user' ? `user:${caller.userId}` : `address:${req.socket.remoteAddress ?? 'unknown'}`;
      const count = open.get(key) ?? 0;
      if (count >= maxPerCaller) return undefined;
      open.set(key, count + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (open.get(key) ?? 1) - 1;
        if (left <= 0) open.delete(key);
        else open.set(key, left);
      };
    },
  };
}
