import { GraphQLError, type GraphQLFormattedError } from 'graphql';

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
      extensions: { code: 'INTERNAL_SERVER_ERROR', ...(extensions.serviceName ? { serviceName: extensions.serviceName } : {}) },
    };
  };
}

/** The message of anything thrown, for logs and wrapped errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
