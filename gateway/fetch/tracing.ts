import { SpanKind, trace, type Context, type Link } from '@opentelemetry/api';
import { annotate, startSpan, TraceAttributes, tracingActive, type TracedSpan } from '../../lib/tracing';
import type { CacheOutcome } from '../cache/entity-cache';
import type { PlannedFetch } from './batch';

/**
 * The gateway's spans below a client request (see lib/tracing.ts): one per plan fetch, from the moment the
 * executor asks the data source until its result is settled, and one per HTTP call to a subgraph, under the
 * fetch it serves. A call that carries several fetches of one wave (batching) is the child of the first and
 * links the others, so every fetch leads to the call that answered it.
 */
export const FetchAttributes = {
  /** The plan fetch's own operation name (`Query__inventory__2`). */
  fetchOperationName: 'gateway.fetch.operation_name',
  /** Representations the fetch asked for (an `_entities` fetch). */
  representations: 'gateway.fetch.representations',
  /** Entities (or cached root fields) served from the entity cache instead of the subgraph. */
  entityCacheHits: 'gateway.entity_cache.hits',
  /** Entities served from what this client request had already fetched. */
  requestMemoHits: 'gateway.request_memo.hits',
  /** Plan fetches one HTTP call carries (the batch size). */
  batchFetches: 'gateway.batch.fetches',
  /** Representations one HTTP call sends, each distinct one once. */
  batchRepresentations: 'gateway.batch.representations',
  /** The call found an identical one in flight and shared its answer (no request of its own). */
  sharedInFlight: 'gateway.inflight.shared',
} as const;

const representationCount = (fetch: PlannedFetch): number => {
  const representations = fetch.request.variables?.representations;
  return Array.isArray(representations) ? representations.length : 0;
};

/** A span for one plan fetch to `subgraph`; undefined when the client request is not traced. */
export function startFetchSpan(
  subgraph: string,
  fetch: PlannedFetch,
  parent: Context | undefined,
): TracedSpan | undefined {
  if (parent === undefined) return undefined;
  return startSpan(`fetch ${subgraph}`, parent, SpanKind.INTERNAL, {
    [TraceAttributes.subgraph]: subgraph,
    [FetchAttributes.fetchOperationName]: fetch.request.operationName,
    [FetchAttributes.representations]: fetch.shape.entities ? representationCount(fetch) : undefined,
    [TraceAttributes.operationType]: fetch.shape.operation,
  });
}

/** How many of the fetch's entities the entity cache answered. */
export function recordCacheOutcome(fetchTrace: Context | undefined, asked: PlannedFetch, outcome: CacheOutcome): void {
  if (fetchTrace === undefined || outcome.kind === 'bypass') return;
  const entities = asked.shape.entities;
  const hits =
    outcome.kind === 'hit'
      ? entities
        ? representationCount(asked)
        : 1
      : entities
        ? representationCount(asked) - representationCount(outcome.residual)
        : 0;
  annotate(fetchTrace, { [FetchAttributes.entityCacheHits]: hits });
}

/** Notes the entities of a fetch answered from the request's memo. */
export function recordMemoHits(fetchTrace: Context | undefined, hits: number): void {
  if (fetchTrace !== undefined && hits > 0) annotate(fetchTrace, { [FetchAttributes.requestMemoHits]: hits });
}

/**
 * A span for one HTTP call to a subgraph carrying `fetchTraces` (the contexts of the fetches' spans); its
 * context is what the call's `traceparent` names. Undefined when none of them is traced.
 */
export function startCallSpan(
  subgraph: string,
  url: string,
  fetchTraces: readonly (Context | undefined)[],
  representations: number,
): TracedSpan | undefined {
  const traced = fetchTraces.filter((fetchTrace): fetchTrace is Context => fetchTrace !== undefined);
  const parent = traced[0];
  if (parent === undefined) return undefined;
  const links: Link[] = [];
  if (tracingActive())
    for (const other of traced.slice(1)) {
      const spanContext = trace.getSpanContext(other);
      if (spanContext) links.push({ context: spanContext });
    }
  return startSpan(
    `POST ${subgraph}`,
    parent,
    SpanKind.CLIENT,
    {
      [TraceAttributes.subgraph]: subgraph,
      'http.request.method': 'POST',
      'url.full': url,
      [FetchAttributes.batchFetches]: fetchTraces.length,
      [FetchAttributes.batchRepresentations]: representations,
    },
    links,
  );
}
