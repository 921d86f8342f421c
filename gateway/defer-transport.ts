import type http from 'node:http';
import type { GraphQLError, GraphQLFormattedError } from 'graphql';
import type { GraphQLHttpResult } from '../lib/http';
import type { DeferredDelivery, SubsequentPayload } from './execution/defer';

/**
 * `@defer` over HTTP: `multipart/mixed` in the incremental-delivery format Apollo Client and Apollo Router
 * speak (`deferSpec=20220824`). Each part is one JSON payload: the initial `{data, errors?, hasNext: true}`, then
 * `{incremental: [{data, path, label?, errors?}], hasNext}` per deferred block as it finishes, and a last
 * `{hasNext: false}`; parts are framed exactly as Apollo Server frames them (boundary `-`, closing `-----`).
 * A client that does not accept it gets the whole result as one JSON response instead.
 */
export const INCREMENTAL_CONTENT_TYPE = 'multipart/mixed; boundary="-"; deferSpec=20220824';
const PART_HEADER = 'content-type: application/json; charset=utf-8\r\n\r\n';

/**
 * Whether the Accept header takes the incremental-delivery multipart format: a `multipart/mixed` range whose
 * `deferSpec` is 20220824, or that names no spec (Apollo Client sends `multipart/mixed;deferSpec=20220824,application/json`).
 */
export function acceptsIncrementalDelivery(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((range) => {
    const [type, ...parameters] = range.split(';').map((part) => part.trim().toLowerCase());
    if (type !== 'multipart/mixed') return false;
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    if (q !== undefined && Number(q.slice(2)) === 0) return false;
    const spec = parameters.find((parameter) => parameter.startsWith('deferspec='));
    // `incrementalSpec=v0.2` is the later format (pending/completed): a client asking only for it does not get ours.
    if (spec === undefined) return !parameters.some((parameter) => parameter.startsWith('incrementalspec='));
    return spec.slice('deferspec='.length).replace(/"/g, '') === '20220824';
  });
}

/**
 * Writes the initial payload (Apollo Server's JSON answer, with `hasNext: true`) and then each subsequent payload
 * as the delivery yields it. A client that goes away stops the writing; the blocks still running finish into
 * the void (their fetches are bounded by the subgraph timeout).
 */
export async function writeIncrementalResult(
  res: http.ServerResponse,
  initial: GraphQLHttpResult,
  delivery: DeferredDelivery,
  formatError: (error: GraphQLFormattedError) => GraphQLFormattedError,
): Promise<void> {
  const headers = { ...initial.headers };
  for (const name of Object.keys(headers))
    if (name.toLowerCase() === 'content-type' || name.toLowerCase() === 'content-length') delete headers[name];
  res.writeHead(initial.status, { ...headers, 'content-type': INCREMENTAL_CONTENT_TYPE, 'cache-control': 'no-store' });
  const first = { ...(JSON.parse(initial.body) as Record<string, unknown>), hasNext: true };
  res.write(`\r\n---\r\n${PART_HEADER}${JSON.stringify(first)}\r\n---\r\n`);
  for await (const payload of delivery) {
    if (res.destroyed) continue;
    res.write(`${PART_HEADER}${JSON.stringify({ ...formatPayload(payload, formatError), hasNext: true })}\r\n---\r\n`);
  }
  if (!res.destroyed) res.end(`${PART_HEADER}${JSON.stringify({ hasNext: false })}\r\n-----\r\n`);
}

function formatPayload(
  payload: SubsequentPayload,
  formatError: (error: GraphQLFormattedError) => GraphQLFormattedError,
): Record<string, unknown> {
  const format = (errors: GraphQLError[]) => errors.map((error) => formatError(error.toJSON()));
  return {
    incremental: payload.incremental.map(({ errors, ...item }) =>
      errors && errors.length > 0 ? { ...item, errors: format(errors) } : item,
    ),
    ...(payload.errors && payload.errors.length > 0 ? { errors: format(payload.errors) } : {}),
  };
}
