import crypto from 'node:crypto';
import type http from 'node:http';

/**
 * The id that ties one client request's log lines together, in the gateway and in every subgraph it asks.
 * The gateway takes the client's (or its load balancer's) `x-request-id` when it is well-formed, makes one
 * otherwise, answers with it, and sends it on every subgraph request. It is not covered by the request
 * signature (lib/identity.ts): it correlates lines, it grants nothing, so a subgraph checks its shape again
 * before logging it rather than trusting it.
 */
export const REQUEST_ID_HEADER = 'x-request-id';

/**
 * What an accepted id may look like: UUIDs, ULIDs, AWS/Envoy/HAProxy trace ids and the like, bounded so that
 * it cannot bloat every log line, and with no character that could forge a log field or another header.
 */
const WELL_FORMED = /^[A-Za-z0-9._:-]{1,128}$/;

export const isWellFormedRequestId = (value: unknown): value is string =>
  typeof value === 'string' && WELL_FORMED.test(value);

/** The request's id: its own `x-request-id` when well-formed, else a fresh random UUID. */
export function requestIdOf(req: http.IncomingMessage): string {
  const given = req.headers[REQUEST_ID_HEADER];
  return isWellFormedRequestId(given) ? given : crypto.randomUUID();
}
