import crypto from 'node:crypto';
import type http from 'node:http';
import { ERROR_CODES } from '../../lib/errors';
import { HttpError, type GraphQLHttpResult } from '../../lib/http';
import { encodeCaller, type Caller } from '../../lib/identity';
import type { Logger } from '../../lib/logger';
import { REQUEST_ID_HEADER, requestIdOf } from '../../lib/request-id';
import type { GatewayContext, RequestStats } from '../datasource';
import type { GatewayMetrics } from '../metrics';
import type { EdgeRequest } from './request';

/**
 * Access logging: one `info` line per client GraphQL request, written when its response is finished (or its
 * client has gone), and the request's duration observed by operation name, status and error code.
 *
 * The line, in JSON: `msg: "request"`, `requestId`, `operationName`, `operationHash` (SHA-256 of the document
 * text, the id trusted documents and APQ use), `status`, `durationMs`, `caller` (`anonymous`, or the caller's
 * kind and a keyed hash of its id, never the id itself), `subgraphRequests`, `entityCacheHits`,
 * `entityCacheMisses`, and `errorCodes` when the answer carries errors. A batch (several operations in one
 * POST) is one line: the first operation's name and hash, `batchSize`, and the network work of all of them.
 *
 * The request id is the client's `x-request-id` when well-formed, else a new UUID (lib/request-id.ts); it is
 * on the response and on every subgraph request the gateway makes for this one (`GatewayContext.requestId`).
 */
export interface AccessLogOptions {
  logger: Logger;
  metrics: GatewayMetrics;
  /**
   * Key of the HMAC that stands for caller ids in log lines (LOG_CALLER_SALT). Default: random per process, so
   * lines of one process can be correlated by caller but a hash cannot be checked against a guessed user id.
   */
  callerSalt?: string;
}

/** What one request's access line is made of, filled as the request goes through the handler. */
export interface AccessRecord {
  readonly requestId: string;
  /** An operation went through the edge stages (admitted or not): its name and document identify the line. */
  operation(request: EdgeRequest): void;
  /** The context Apollo runs the operation with: carries the request id to subgraph requests, and its stats. */
  context(context: Omit<GatewayContext, 'requestId'>): GatewayContext;
  /** The answer about to be written: its error codes are recorded. Returns it unchanged. */
  answered(result: GraphQLHttpResult): GraphQLHttpResult;
  /** The handler threw: an `HttpError` carries its code, anything else is an internal error. */
  failed(error: unknown): void;
}

/** Label value of requests answered without an error. */
const NO_ERROR = 'none';
/** Status of a request whose client went away before the answer (nginx's convention). */
const CLIENT_CLOSED = 499;
const MAX_CODES = 10;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

let processSalt: Buffer | undefined;

export function createAccessLog(options: AccessLogOptions): {
  start(req: http.IncomingMessage, res: http.ServerResponse): AccessRecord;
} {
  const { logger, metrics } = options;
  const key =
    options.callerSalt !== undefined ? Buffer.from(options.callerSalt) : (processSalt ??= crypto.randomBytes(32));
  const hashedCaller = (caller: Caller | undefined): string => {
    if (!caller) return 'unknown';
    const id = encodeCaller(caller);
    if (id === undefined) return 'anonymous';
    return `${caller.kind}:${crypto.createHmac('sha256', key).update(id).digest('hex').slice(0, 16)}`;
  };
  const codeLabel = (code: string | undefined) =>
    code === undefined ? NO_ERROR : code in ERROR_CODES ? code : 'other';

  return {
    start(req, res) {
      const started = performance.now();
      const requestId = requestIdOf(req);
      res.setHeader(REQUEST_ID_HEADER, requestId);
      const operations: EdgeRequest[] = [];
      const stats: RequestStats[] = [];
      const codes = new Set<string>();
      const addCode = (code: unknown) => {
        if (typeof code === 'string' && codes.size < MAX_CODES) codes.add(code);
      };

      res.once('close', () => {
        const seconds = (performance.now() - started) / 1000;
        const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED;
        const first = operations[0];
        const resolvedName = first?.operation?.name?.value;
        const operationName = resolvedName ?? first?.params?.operationName;
        const sum = (field: 'subgraphRequests' | 'entityCacheHits' | 'entityCacheMisses') =>
          stats.reduce((total, each) => total + each[field], 0);
        const errorCodes = [...codes];
        // Hashing the document and the caller is most of the line's cost: only for a line that is written.
        if (logger.enabled?.('info') ?? true)
          logger.info('request', {
            requestId,
            operationName: operationName ?? null,
            operationHash: first ? operationHash(first) : null,
            ...(operations.length > 1 ? { batchSize: operations.length } : {}),
            status,
            durationMs: Math.round(seconds * 10_000) / 10,
            caller: hashedCaller(first?.caller),
            subgraphRequests: sum('subgraphRequests'),
            entityCacheHits: sum('entityCacheHits'),
            entityCacheMisses: sum('entityCacheMisses'),
            ...(errorCodes.length > 0 ? { errorCodes } : {}),
          });
        // A name earns its own label value only once it is known to be an operation of the document: the edge
        // resolved it, or Apollo ran it. Names of refused requests could otherwise fill the bound.
        const named = resolvedName !== undefined || (status === 200 && operationName !== undefined);
        const label = named
          ? metrics.operationLabel(operationName)
          : operationName === undefined
            ? 'anonymous'
            : 'other';
        metrics.httpRequests.inc({ route: '/graphql', status: String(status) });
        metrics.requestDuration.observe(
          { operation_name: label, status: String(status), code: codeLabel(errorCodes[0]) },
          seconds,
        );
      });

      return {
        requestId,
        operation: (request) => void operations.push(request),
        context(context) {
          stats.push(context.stats);
          return { ...context, requestId };
        },
        answered(result) {
          // Only an answer with errors is read again. Apollo Server writes `errors` first, as do our rejections,
          // so a single answer is checked at its start, not searched (answers run to hundreds of KB); a batch
          // (an array of answers) is searched.
          const body = result.body;
          const hasErrors = body.charCodeAt(0) === 0x5b ? body.includes('"errors"') : body.startsWith('{"errors"');
          if (hasErrors) for (const code of errorCodesOf(body)) addCode(code);
          return result;
        },
        failed(error) {
          addCode(error instanceof HttpError ? error.code : 'INTERNAL_SERVER_ERROR');
        },
      };
    },
  };
}

/** SHA-256 of the document text; without text, the hash or document id the client sent in its place. */
function operationHash(request: EdgeRequest): string | null {
  const query = request.params?.query;
  if (query !== undefined) return crypto.createHash('sha256').update(query).digest('hex');
  const persisted = request.params?.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined;
  const documentId = (request.body as { documentId?: unknown } | null | undefined)?.documentId;
  const id = typeof persisted?.sha256Hash === 'string' ? persisted.sha256Hash : documentId;
  return typeof id === 'string' && SHA256_HEX.test(id) ? id.toLowerCase() : null;
}

/** `extensions.code` of every error in a GraphQL response body (or a batch of them). */
function errorCodesOf(body: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  const responses = Array.isArray(parsed) ? parsed : [parsed];
  return responses.flatMap((response) => {
    const errors = (response as { errors?: unknown } | null)?.errors;
    return Array.isArray(errors)
      ? errors.flatMap((error) => {
          const code = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
          return typeof code === 'string' ? [code] : [];
        })
      : [];
  });
}
