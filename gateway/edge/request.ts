import type http from 'node:http';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import type { ErrorCode } from '../../lib/errors';
import { sendJson, type GraphQLHttpResult } from '../../lib/http';
import type { Caller } from '../../lib/identity';

/**
 * One client GraphQL request as the edge stages see it, before Apollo Server does: who sent it, the GraphQL
 * parameters (from a JSON POST body or a GET's query string), and what the stages learn on the way (the
 * parsed document, the operation it selects, its cost). Each stage (`gateway/edge/*`) either passes the
 * request on or rejects it with an `EdgeRejection`: a 4xx with `extensions.code`, never a 500.
 */
export interface EdgeRequest {
  req: http.IncomingMessage;
  caller: Caller;
  /** The parsed JSON body, as Apollo Server will receive it. */
  body: unknown;
  /** The GraphQL parameters, when the request carries them in the usual shape (undefined otherwise). */
  params: GraphQLParams | undefined;
  /** Parsed by the document-limits stage, when there is query text. */
  document?: DocumentNode;
  /** The operation the request runs, once the operation stage has resolved it. */
  operation?: OperationDefinitionNode;
  /** The operation's static cost, once demand control has computed it. */
  cost?: number;
  /** Headers for the response, whatever it is (the RateLimit headers). */
  headers?: Record<string, string>;
  /** Sent over a streaming transport (graphql-ws, SSE), where subscriptions are allowed. */
  streaming?: boolean;
}

export interface GraphQLParams {
  query: string | undefined;
  operationName: string | undefined;
  variables: Record<string, unknown> | undefined;
  extensions: Record<string, unknown> | undefined;
}

export interface EdgeRejection {
  status: number;
  code: ErrorCode;
  message: string;
  extensions?: Record<string, unknown>;
  headers?: Record<string, string>;
}

export type StageResult = EdgeRejection | undefined;

export const reject = (
  status: number,
  code: ErrorCode,
  message: string,
  extensions: Record<string, unknown> = {},
  headers?: Record<string, string>,
): EdgeRejection => ({ status, code, message, extensions, ...(headers ? { headers } : {}) });

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The GraphQL parameters of a request. Anything not in the usual shape (a batch array, a query that is not a
 * string) gives undefined: Apollo Server answers it with its own 400.
 */
export function graphQLParams(req: http.IncomingMessage, body: unknown): GraphQLParams | undefined {
  if (req.method === 'GET') {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const json = (name: string): Record<string, unknown> | undefined => {
      const raw = url.searchParams.get(name);
      if (raw === null) return undefined;
      try {
        const parsed: unknown = JSON.parse(raw);
        return isRecord(parsed) ? parsed : undefined;
      } catch {
        return undefined;
      }
    };
    return {
      query: url.searchParams.get('query') ?? undefined,
      operationName: url.searchParams.get('operationName') ?? undefined,
      variables: json('variables'),
      extensions: json('extensions'),
    };
  }
  if (!isRecord(body)) return undefined;
  const { query, operationName, variables, extensions } = body;
  if (query !== undefined && query !== null && typeof query !== 'string') return undefined;
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') return undefined;
  return {
    query: query ?? undefined,
    operationName: operationName ?? undefined,
    variables: isRecord(variables) ? variables : undefined,
    extensions: isRecord(extensions) ? extensions : undefined,
  };
}

export function sendRejection(res: http.ServerResponse, rejection: EdgeRejection): void {
  sendJson(res, rejection.status, rejectionBody(rejection), rejection.headers);
}

const rejectionBody = (rejection: EdgeRejection) => ({
  errors: [{ message: rejection.message, extensions: { code: rejection.code, ...rejection.extensions } }],
});

/** A rejection as a whole response, like Apollo Server's, for answers that are put together (a batch). */
export function rejectionResult(rejection: EdgeRejection): GraphQLHttpResult {
  return {
    status: rejection.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...rejection.headers },
    body: JSON.stringify(rejectionBody(rejection)),
  };
}
