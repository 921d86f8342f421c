import { GraphQLError, type GraphQLFormattedError } from 'graphql';

/**
 * Every error code a client can see in `extensions.code`, with the HTTP status of a response that carries it
 * and who emits it. One registry: `ErrorCode` is its keys, so a code that is not here does not compile where
 * the code is typed, and the README's table of codes is checked against it (`test/unit/error-codes.test.ts`).
 * Status 200: a field error inside a partial answer; the request itself succeeded.
 */
export const ERROR_CODES = {
  // Request errors, before execution (the gateway's edge, or Apollo Server).
  BAD_REQUEST: {
    status: 400,
    by: 'gateway, subgraphs',
    meaning: 'malformed HTTP request: not JSON, no query, variables not an object, an empty batch',
  },
  BATCH_LIMIT_EXCEEDED: {
    status: 400,
    by: 'gateway',
    meaning: 'a batched request with more operations than BATCH_MAX_OPERATIONS (0: batches refused)',
  },
  PAYLOAD_TOO_LARGE: { status: 413, by: 'gateway, subgraphs', meaning: 'body over BODY_LIMIT_BYTES' },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, by: 'gateway, subgraphs', meaning: 'headers or URL over 16 KiB' },
  GRAPHQL_PARSE_FAILED: { status: 400, by: 'gateway', meaning: 'the document does not parse (Apollo Server)' },
  GRAPHQL_VALIDATION_FAILED: {
    status: 400,
    by: 'gateway',
    meaning: 'the document is not valid against the schema (Apollo Server)',
  },
  DOCUMENT_LIMIT_EXCEEDED: {
    status: 400,
    by: 'gateway',
    meaning: 'over a document limit; extensions name the limit, the maximum and the value found',
  },
  COST_ESTIMATED_TOO_EXPENSIVE: {
    status: 400,
    by: 'gateway',
    meaning: 'static cost over COST_MAX; extensions carry cost and maxCost',
  },
  OPERATION_RESOLUTION_FAILURE: {
    status: 400,
    by: 'gateway',
    meaning: 'several operations and no operationName, or an unknown operationName',
  },
  SUBSCRIPTION_OVER_HTTP: { status: 400, by: 'gateway', meaning: 'a subscription sent as a plain HTTP request' },
  SUBSCRIPTION_LIMIT_EXCEEDED: {
    status: 429,
    by: 'gateway',
    meaning: 'over SUBSCRIPTIONS_MAX_PER_CONNECTION, or an SSE stream over SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER',
  },
  PERSISTED_QUERY_NOT_FOUND: {
    status: 400,
    by: 'gateway',
    meaning: 'an APQ hash the gateway has not seen: send the query with it',
  },
  PERSISTED_QUERY_NOT_SUPPORTED: { status: 400, by: 'gateway', meaning: 'APQ is turned off (PERSISTED_QUERIES=false)' },
  PERSISTED_QUERY_INVALID: {
    status: 400,
    by: 'gateway',
    meaning: 'a malformed persistedQuery extension (version, hash format)',
  },
  PERSISTED_QUERY_HASH_MISMATCH: {
    status: 400,
    by: 'gateway',
    meaning: 'the query does not hash to the sha256Hash sent with it',
  },
  PERSISTED_QUERY_NOT_IN_LIST: {
    status: 400,
    by: 'gateway',
    meaning: 'TRUSTED_DOCUMENTS=enforce and the document is not in the manifest',
  },
  RATE_LIMITED: {
    status: 429,
    by: 'gateway',
    meaning: 'over a rate limit; Retry-After and RateLimit headers say when to retry',
  },
  UNAUTHENTICATED: {
    status: 401,
    by: 'gateway, subgraphs',
    meaning: 'a bad or expired token (never treated as anonymous); in a 200, a field that needs a signed-in caller',
  },
  // Field errors inside a (partial) answer.
  BAD_USER_INPUT: {
    status: 200,
    by: 'subgraphs',
    meaning: 'an argument is out of range or malformed (extensions.argumentName); 400 for variables of the wrong type',
  },
  FORBIDDEN: { status: 200, by: 'subgraphs', meaning: 'the caller may not see or do this' },
  NOT_FOUND: { status: 200, by: 'subgraphs', meaning: 'the entity does not exist (404 for an unknown route)' },
  CONFLICT: { status: 200, by: 'subgraphs', meaning: 'the write conflicts with existing data (an email or sku taken)' },
  OUT_OF_STOCK: {
    status: 200,
    by: 'subgraphs',
    meaning: 'placeOrder: not enough stock for a line; nothing was written',
  },
  SUBGRAPH_UNAVAILABLE: {
    status: 200,
    by: 'gateway',
    meaning: 'a subgraph could not be reached or did not answer GraphQL; partial data',
  },
  SUBGRAPH_TIMEOUT: {
    status: 200,
    by: 'gateway',
    meaning: 'a subgraph did not answer within SUBGRAPH_TIMEOUT_MS; partial data',
  },
  SUBGRAPH_INVALID_RESPONSE: {
    status: 200,
    by: 'gateway',
    meaning: 'a subgraph answered _entities with missing, extra or wrong entities',
  },
  DOWNSTREAM_SERVICE_ERROR: {
    status: 200,
    by: 'gateway',
    meaning: 'a subgraph error that carried no code of its own (Apollo Gateway)',
  },
  SERVICE_UNAVAILABLE: {
    status: 503,
    by: 'gateway, subgraphs',
    meaning: 'a dependency is down (the JWKS endpoint, a database); a subscription on a gateway without Redis',
  },
  INTERNAL_SERVER_ERROR: {
    status: 500,
    by: 'gateway, subgraphs',
    meaning: 'a bug: the message is hidden outside development; in a 200, one field failed',
  },
} as const satisfies Record<string, { status: number; by: string; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function clientError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

export const badInput = (argumentName: string, message: string): GraphQLError =>
  clientError('BAD_USER_INPUT', message, { argumentName });
export const unauthenticated = (
  message = 'You must be signed in',
  extensions: Record<string, unknown> = {},
): GraphQLError => clientError('UNAUTHENTICATED', message, extensions);
export const forbidden = (message = 'You may not access this'): GraphQLError => clientError('FORBIDDEN', message);
export const notFound = (message: string, extensions: Record<string, unknown> = {}): GraphQLError =>
  clientError('NOT_FOUND', message, extensions);
export const conflict = (message: string, extensions: Record<string, unknown> = {}): GraphQLError =>
  clientError('CONFLICT', message, extensions);

/**
 * Apollo Server `formatError`. An error with a deliberate code (ours, or a subgraph's own, e.g. CORRUPTED) is
 * the client's to see; one with no code or INTERNAL_SERVER_ERROR is unexpected, and outside development its
 * message is replaced so no internals (SQL, stack traces, hostnames) reach a client. Stack traces only ever
 * leave the process in development.
 */
export function maskUnexpectedErrors(development: boolean) {
  return (formatted: GraphQLFormattedError): GraphQLFormattedError => {
    if (development) return formatted;
    const { stacktrace: _stacktrace, exception: _exception, ...extensions } = formatted.extensions ?? {};
    const code = extensions.code;
    if (typeof code === 'string' && code !== 'INTERNAL_SERVER_ERROR') return { ...formatted, extensions };
    return {
      message: 'Internal server error',
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: {
        code: 'INTERNAL_SERVER_ERROR',
        ...(extensions.serviceName ? { serviceName: extensions.serviceName } : {}),
      },
    };
  };
}

/** The message of anything thrown, for logs and wrapped errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
