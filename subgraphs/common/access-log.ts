import type http from 'node:http';
import type { Caller } from '../../lib/identity';
import type { Logger } from '../../lib/logger';
import { REQUEST_ID_HEADER, requestIdOf } from '../../lib/request-id';
import type { SubgraphMetrics } from './metrics';

/**
 * A subgraph's access line: one `debug` line per GraphQL request (`msg: "request"`, `requestId`,
 * `operationName`, `status`, `durationMs`, `caller` kind), so `LOG_LEVEL=debug` joins a subgraph's work to the
 * gateway's `info` line by `requestId`. Debug, not info: each client request fans out to several subgraph
 * requests, and the gateway's line already says how many and how long. The id is the one the gateway sent when
 * well-formed (anyone may call a subgraph directly: it is checked again), else a new one; it is echoed back.
 */
export interface SubgraphAccess {
  readonly requestId: string;
  /** Set once the request's signature is verified. */
  caller?: Caller;
  /** Set once the body is parsed. */
  body?: unknown;
}

const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

export function startSubgraphAccess(
  logger: Logger,
  metrics: SubgraphMetrics,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): SubgraphAccess {
  const started = performance.now();
  const access: SubgraphAccess = { requestId: requestIdOf(req) };
  res.setHeader(REQUEST_ID_HEADER, access.requestId);
  res.once('close', () => {
    const seconds = (performance.now() - started) / 1000;
    metrics.observeRequest(res.statusCode, seconds);
    const name = (access.body as { operationName?: unknown } | null | undefined)?.operationName;
    const caller = access.caller;
    logger.debug('request', {
      requestId: access.requestId,
      operationName: typeof name === 'string' && GRAPHQL_NAME.test(name) ? name : null,
      status: res.statusCode,
      durationMs: Math.round(seconds * 10_000) / 10,
      caller:
        caller === undefined ? 'unverified' : caller.kind === 'service' ? `service:${caller.service}` : caller.kind,
    });
  });
  return access;
}
