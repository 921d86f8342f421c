import { GraphQLError } from 'graphql';

/** Every error code a client can see, in `extensions.code`. */
export type ErrorCode =
  | 'BAD_USER_INPUT'
  | 'BAD_REQUEST'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'OUT_OF_STOCK'
  | 'PAYLOAD_TOO_LARGE'
  | 'SERVICE_UNAVAILABLE'
  | 'INTERNAL_SERVER_ERROR';

export function clientError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...extensions } });
}

export const badInput = (argumentName: string, message: string): GraphQLError =>
  clientError('BAD_USER_INPUT', message, { argumentName });
export const unauthenticated = (message = 'You must be signed in', extensions: Record<string, unknown> = {}): GraphQLError =>
  clientError('UNAUTHENTICATED', message, extensions);
export const forbidden = (message = 'You may not access this'): GraphQLError => clientError('FORBIDDEN', message);
export const notFound = (message: string, extensions: Record<string, unknown> = {}): GraphQLError =>
  clientError('NOT_FOUND', message, extensions);
export const conflict = (message: string, extensions: Record<string, unknown> = {}): GraphQLError =>
  clientError('CONFLICT', message, extensions);

const PUBLIC_CODES = new Set<string>([
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'OUT_OF_STOCK',
  'PAYLOAD_TOO_LARGE',
  'SERVICE_UNAVAILABLE',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'SUBGRAPH_UNAVAILABLE',
  'SUBGRAPH_TIMEOUT',
]);

/**
 * Apollo Server `formatError`: errors with a known code pass through; anything else is unexpected, and outside
 * development its message is replaced so no internals (SQL, stack traces, hostnames) reach a client.
 */
export function maskUnexpectedErrors(development: boolean) {
  return (formatted: import('graphql').GraphQLFormattedError): import('graphql').GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (development || (typeof code === 'string' && PUBLIC_CODES.has(code))) {
      if (development) return formatted;
      const { stacktrace: _stacktrace, exception: _exception, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    return {
      message: 'Internal server error',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}
