import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Context } from '@opentelemetry/api';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { CHANGES_EXTENSION, type EntityChange } from '../lib/events';
import { callerHeaders, encodeCaller, type Caller } from '../lib/identity';
import { REQUEST_ID_HEADER } from '../lib/request-id';
import { annotate, endSpanWith, injectTraceContext, TraceAttributes } from '../lib/tracing';
import type { EntityCache } from './cache/entity-cache';
import {
  isEntityFailure,
  nullPropagatedAcrossFetches,
  planBatch,
  reusableEntity,
  splitBatch,
  type FetchResult,
  type PlannedFetch,
} from './fetch/batch';
import { withKnownEntities } from './fetch/residual';
import { shapeOf, type FetchShape } from './fetch/document';
import type { EntityKeyIndex } from './fetch/entity-keys';
import { representationKey, withIdentityFields, type IdentityShape } from './fetch/identity';
import { SubgraphRequestError, type SubgraphHttpClient, type SubgraphResponse } from './fetch/http-client';
import { createCircuitBreaker, jitteredDelay, type CircuitBreaker } from './fetch/resilience';
import { FetchAttributes, recordCacheOutcome, recordMemoHits, startCallSpan, startFetchSpan } from './fetch/tracing';
import type { GatewayMetrics } from './metrics';

/** What one client request did on the network; shown in development as a response extension. */
export interface RequestStats {
  /** Fetches the query plan asked for. */
  fetches: number;
  /** HTTP requests actually sent to subgraphs. */
  subgraphRequests: number;
  representationsAsked: number;
  representationsSent: number;
  entityCacheHits: number;
  entityCacheMisses: number;
  /** Entities answered from what this request had already fetched, instead of asking again. */
  entityMemoHits: number;
  /** The operation's static cost (demand control), when computed. */
  cost?: number;
  /** Entities served from the cache past their TTL because their subgraph failed (stale-if-error). */
  staleEntities?: number;
}

export interface GatewayContext {
  caller: Caller;
  stats: RequestStats;
  /**
   * The entities this client request has already received, by subgraph, selection and representation: a later
   * plan wave that needs the same entity with the same selection takes it from here. Only for queries (a
   * mutation's later reads must see its writes); null when off, undefined until the first fetch decides.
   */
  memo?: Map<string, Map<string, unknown>> | null;
  /** The client request's trace context (lib/tracing.ts); undefined when the request is not traced. */
  trace?: Context;
  /** The client request's id (x-request-id), sent on its subgraph requests so their log lines can be joined. */
  requestId?: string;
}

export const newRequestStats = (): RequestStats => ({
  fetches: 0,
  subgraphRequests: 0,
  representationsAsked: 0,
  representationsSent: 0,
  entityCacheHits: 0,
  entityCacheMisses: 0,
  entityMemoHits: 0,
});

export interface DataSourceOptions {
  serviceSecret: string;
  timeoutMs: number;
  metrics: GatewayMetrics;
  http: SubgraphHttpClient;
  /** Coalesce a wave's fetches into one HTTP request and send identical representations once. */
  batching: boolean;
  /** Share identical in-flight queries (same document, variables and caller) across client requests. */
  dedupInflight: boolean;
  cache?: EntityCache;
  /**
   * The key index of the supergraph being served (`EntityKeyIndex`), read on every fetch: Apollo keeps a data
   * source across supergraph reloads when its URL is unchanged. Used to check which entity each `_entities`
   * answer is; without it, answers are placed by position, as Apollo does.
   */
  keyIndex?: () => EntityKeyIndex | undefined;
  /** Retries and the circuit breaker; none when absent. */
  resilience?: { retry: boolean; breakerFailures: number; breakerResetMs: number };
}

const RETRY_DELAY_MS = 25;

/** The transport failed or the subgraph answered no GraphQL: what stale-if-error stands in for. */
const subgraphFailed = (error: unknown): boolean => {
  const code = error instanceof GraphQLError ? error.extensions.code : undefined;
  return code === 'SUBGRAPH_UNAVAILABLE' || code === 'SUBGRAPH_TIMEOUT';
};

const looksLikeGraphQL = (body: string): boolean => /^\s*\{\s*"(data|errors)"/.test(body);

const MAX_IDENTITY_SHAPES = 5_000;

interface PendingFetch extends PlannedFetch {
  resolve(result: FetchResult): void;
  reject(error: unknown): void;
  /** The context of this fetch's span, when the client request is traced. */
  trace?: Context;
}

/** A fetch still to send: what goes out (the cache may have shrunk it) and how to finish its result. */
interface Pending {
  fetch: PendingFetch;
  planned: PlannedFetch;
  complete?: (result: FetchResult) => FetchResult;
  /** Stale-if-error: the fetch's answer from expired cache entries, when the subgraph fails. */
  stale?: () => { result: FetchResult; staleEntities: number } | undefined;
}

/** The result handed to the executor: completed (cache, memo), without the internal `unverified` mark. */
const finish = (entry: Pending, result: FetchResult): FetchResult => {
  const { unverified: _, ...completed } = entry.complete ? entry.complete(result) : result;
  return completed;
};

/** A stale answer, then the stages before the cache (the request memo) as a fresh one would go. */
const staleThrough =
  (
    stale: () => { result: FetchResult; staleEntities: number } | undefined,
    outer: ((result: FetchResult) => FetchResult) | undefined,
  ) =>
  () => {
    const answer = stale();
    return answer && { ...answer, result: outer ? outer(answer.result) : answer.result };
  };

/** First `inner` (closer to the network), then `outer`. */
const chain =
  (inner: (result: FetchResult) => FetchResult, outer: ((result: FetchResult) => FetchResult) | undefined) =>
  (result: FetchResult): FetchResult =>
    outer ? outer(inner(result)) : inner(result);

/**
 * The gateway's one seam onto the network: Apollo Gateway's executor calls `process()` once per plan fetch.
 *
 * Fetches of one client request to this subgraph that arrive in the same tick (one plan wave: the executor
 * starts every fetch of a Parallel node synchronously) are queued and flushed together on the next tick, like
 * DataLoader's batch. The flush takes what this request already fetched from its memo and what the entity
 * cache has, plans one HTTP request for the rest (`planBatch`), shares it with any identical request already in flight, and hands every fetch exactly
 * the result it would have had alone.
 */
export class SubgraphDataSource implements GraphQLDataSource<GatewayContext> {
  private readonly queues = new WeakMap<object, PendingFetch[]>();
  private readonly inflight = new Map<string, Promise<SubgraphResponse>>();
  private readonly breaker: CircuitBreaker | undefined;
  /** Per fetch text: the same fetch with identity fields added, for the key index they were built from. */
  private readonly identities = new Map<string, IdentityShape | undefined>();
  private identitiesIndex: EntityKeyIndex | undefined;

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly options: DataSourceOptions,
  ) {
    const resilience = options.resilience;
    this.breaker =
      resilience && resilience.breakerFailures > 0
        ? createCircuitBreaker({
            failures: resilience.breakerFailures,
            resetMs: resilience.breakerResetMs,
            onChange: (state) => options.metrics.circuitTransitions.inc({ subgraph: name, state }),
          })
        : undefined;
  }

  async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    const request = {
      query: options.request.query!,
      variables: options.request.variables,
      operationName: options.request.operationName,
    };
    // Health checks and schema loading carry no client request (told apart by shape, not by Apollo's
    // unexported request-kind enum).
    if (!('incomingRequestContext' in options) || !options.incomingRequestContext) {
      return (await this.send(request, { kind: 'anonymous' }, 'query', undefined)) as GatewayGraphQLResponse;
    }
    const context = options.context as GatewayContext;
    context.memo ??=
      this.options.batching && options.incomingRequestContext.operation?.operation === 'query' ? new Map() : null;
    context.stats.fetches++;
    this.options.metrics.subgraphFetches.inc({ subgraph: this.name });
    const shape = shapeOf(request.query);
    const fetchSpan = startFetchSpan(this.name, { request, shape }, context.trace);
    const trace = fetchSpan?.context;
    if (shape.operation !== 'query' || !this.options.batching) {
      return endSpanWith(
        fetchSpan,
        new Promise<FetchResult>(
          (resolve, reject) => void this.flush([{ request, shape, resolve, reject, trace }], context),
        ),
      ) as Promise<GatewayGraphQLResponse>;
    }
    const batched = new Promise<FetchResult>((resolve, reject) => {
      let queue = this.queues.get(context);
      if (!queue) {
        queue = [];
        this.queues.set(context, queue);
        const flushing = queue;
        // After the executor has started every fetch of this wave (its synchronous pass and the promise jobs it
        // queued), flush them together.
        void Promise.resolve().then(() =>
          process.nextTick(() => {
            this.queues.delete(context);
            void this.flush(flushing, context);
          }),
        );
      }
      queue.push({ request, shape, resolve, reject, trace });
    });
    return endSpanWith(fetchSpan, batched) as Promise<GatewayGraphQLResponse>;
  }

  private async flush(fetches: PendingFetch[], context: GatewayContext): Promise<void> {
    try {
      let pending: Pending[] = fetches.map((fetch) => ({ fetch, planned: fetch }));
      if (context.memo) pending = this.consultMemo(pending, context.memo, context);
      if (this.options.cache && pending.length > 0 && pending[0]!.planned.shape.operation === 'query') {
        const outcomes = await this.options.cache.resolve(
          this.name,
          pending.map((entry) => entry.planned),
          context,
        );
        const misses: Pending[] = [];
        outcomes.forEach((outcome, index) => {
          const entry = pending[index]!;
          recordCacheOutcome(entry.fetch.trace, entry.planned, outcome);
          if (outcome.kind === 'hit') entry.fetch.resolve(finish(entry, outcome.result));
          else if (outcome.kind === 'miss')
            misses.push({
              fetch: entry.fetch,
              planned: outcome.residual,
              complete: chain(outcome.complete, entry.complete),
              ...(outcome.stale ? { stale: staleThrough(outcome.stale, entry.complete) } : {}),
            });
          else misses.push(entry);
        });
        pending = misses;
      }
      if (pending.length === 0) return;
      // Documents that cannot be aliased into one (several operations, root fragments) go out one by one.
      const mergeable = pending.every((entry) => entry.planned.shape.mergeable);
      await Promise.all(
        (mergeable ? [pending] : pending.map((entry) => [entry])).map((group) => this.sendGroup(group, context)),
      );
    } catch (error) {
      for (const fetch of fetches) fetch.reject(error);
    }
  }

  /**
   * Answers what this request already fetched (same subgraph, selection, other variables and representation)
   * from its memo, shrinks the rest to what is new, and remembers every entity that comes back clean.
   */
  private consultMemo(pending: Pending[], memo: Map<string, Map<string, unknown>>, context: GatewayContext): Pending[] {
    const remaining: Pending[] = [];
    for (const entry of pending) {
      const { shape, request } = entry.planned;
      const representations = request.variables?.representations;
      if (!shape.entities || !Array.isArray(representations)) {
        remaining.push(entry);
        continue;
      }
      const { representations: _, ...others } = request.variables!;
      const group = `${this.name}\u0000${shape.selectionId}\u0000${Object.keys(others).length > 0 ? JSON.stringify(others) : ''}`;
      const seen = memo.get(group) ?? new Map<string, unknown>();
      if (seen.size === 0) memo.set(group, seen);
      const keys = representations.map(representationKey);
      let hits = 0;
      const known = keys.map((key) => {
        const entity = seen.get(key);
        if (entity === undefined) return undefined;
        hits++;
        return reusableEntity(entity);
      });
      if (hits > 0) {
        recordMemoHits(entry.fetch.trace, hits);
        context.stats.entityMemoHits += hits;
        this.options.metrics.deduplicated.inc({ kind: 'request_memo' }, hits);
      }
      const outcome = withKnownEntities(entry.planned, known, (fresh) => {
        for (const { index, entity } of fresh) seen.set(keys[index]!, entity);
      });
      if (outcome.kind === 'miss')
        outcome.residual.representationKeys =
          hits === 0 ? keys : keys.filter((_key, index) => known[index] === undefined);
      if (outcome.kind === 'hit') entry.fetch.resolve(finish(entry, outcome.result));
      else
        remaining.push({
          fetch: entry.fetch,
          planned: outcome.residual,
          complete: chain(outcome.complete, entry.complete),
        });
    }
    return remaining;
  }

  /** Sends a group of fetches as one HTTP request and settles each with exactly its own result. */
  private async sendGroup(group: Pending[], context: GatewayContext): Promise<void> {
    const plan = planBatch(
      group.map((entry) => entry.planned),
      { dedupeRepresentations: this.options.batching, identityOf: this.identityOf },
    );
    context.stats.representationsAsked += plan.representationsAsked;
    context.stats.representationsSent += plan.representationsSent;
    this.options.metrics.subgraphRepresentations.inc({ subgraph: this.name }, plan.representationsSent);
    if (plan.representationsAsked > plan.representationsSent) {
      this.options.metrics.deduplicated.inc(
        { kind: 'representation' },
        plan.representationsAsked - plan.representationsSent,
      );
    }
    if (group.length > 1) this.options.metrics.deduplicated.inc({ kind: 'batched_fetch' }, group.length - 1);
    try {
      const call = startCallSpan(
        this.name,
        this.url,
        group.map((entry) => entry.fetch.trace),
        plan.representationsSent,
      );
      const response = await endSpanWith(
        call,
        this.send(plan.body, context.caller, group[0]!.planned.shape.operation, context, call?.context),
      );
      if (group.length > 1 && nullPropagatedAcrossFetches(plan, response)) {
        // One fetch's error nulled data that other fetches shared (a failed `_entities` list nulls the whole
        // merged response). Each fetch is asked again alone, so each gets exactly what it would have had
        // without batching. Costs one more round trip, on this error path only.
        await Promise.all(group.map((entry) => this.sendGroup([entry], context)));
        return;
      }
      const results = splitBatch(plan, response, group.length, this.name);
      group.forEach((entry, index) => {
        const result = results[index]!;
        if (isEntityFailure(result)) entry.fetch.reject(this.entityFailure(result.failure, entry.fetch));
        else entry.fetch.resolve(finish(entry, result));
      });
    } catch (error) {
      for (const entry of group) {
        const stale = subgraphFailed(error) ? entry.stale?.() : undefined;
        if (!stale) {
          entry.fetch.reject(error);
          continue;
        }
        // Stale-if-error: the subgraph is down or slow, and every entity this fetch needs is in the cache
        // past its TTL but within the stale window. Served, counted, and marked in the response.
        context.stats.staleEntities = (context.stats.staleEntities ?? 0) + stale.staleEntities;
        this.options.metrics.staleServed.inc({ subgraph: this.name }, stale.staleEntities);
        const { unverified: _, ...result } = stale.result;
        entry.fetch.resolve(result);
      }
    }
  }

  private readonly identityOf = (shape: FetchShape): IdentityShape | undefined => {
    const index = this.options.keyIndex?.();
    if (!index || !shape.entities) return undefined;
    if (index !== this.identitiesIndex) {
      this.identities.clear();
      this.identitiesIndex = index;
    }
    if (this.identities.has(shape.query)) return this.identities.get(shape.query);
    const identity = withIdentityFields(shape, (typename) => index.keySets(this.name, typename));
    if (this.identities.size >= MAX_IDENTITY_SHAPES) this.identities.delete(this.identities.keys().next().value!);
    this.identities.set(shape.query, identity);
    return identity;
  };

  /**
   * The error that fails a fetch whose entities could not be placed. A wrong count keeps Apollo Gateway's
   * message; both carry SUBGRAPH_INVALID_RESPONSE (Apollo's has no code and is masked as an internal error in
   * production, although it is the subgraph's fault, not the gateway's).
   */
  private entityFailure(failure: 'wrong-count' | 'unmatched', fetch: PendingFetch): GraphQLError {
    this.options.metrics.subgraphErrors.inc({ subgraph: this.name });
    const representations = fetch.request.variables?.representations;
    const count = Array.isArray(representations) ? representations.length : 0;
    return new GraphQLError(
      failure === 'wrong-count'
        ? `Expected "data._entities" to contain ${count} elements`
        : `Subgraph '${this.name}' returned entities that match none of the representations sent`,
      { extensions: { code: 'SUBGRAPH_INVALID_RESPONSE', serviceName: this.name } },
    );
  }

  /** One HTTP request (shared with an identical one in flight), parsed; transport failures become stable codes. */
  private async send(
    body: { query: string; variables?: Record<string, unknown>; operationName?: string },
    caller: Caller,
    operation: string,
    context: GatewayContext | undefined,
    trace?: Context,
  ): Promise<FetchResult> {
    const payload = JSON.stringify(body);
    const headers = callerHeaders(this.options.serviceSecret, caller, payload);
    // Outside the signature, which covers the caller and the body only.
    injectTraceContext(trace, headers);
    // A request shared with an identical one in flight carries the id of the client request that sent it first.
    if (context?.requestId) headers[REQUEST_ID_HEADER] = context.requestId;
    let response: SubgraphResponse;
    const shareable = this.options.dedupInflight && operation === 'query';
    const key = shareable ? `${encodeCaller(caller) ?? ''}\u0000${payload}` : undefined;
    const existing = key === undefined ? undefined : this.inflight.get(key);
    if (existing) {
      annotate(trace, { [FetchAttributes.sharedInFlight]: true });
      this.options.metrics.deduplicated.inc({ kind: 'inflight' });
      response = await existing.catch((error: unknown) => Promise.reject(this.transportError(error)));
    } else {
      if (context) context.stats.subgraphRequests++;
      this.options.metrics.subgraphRequests.inc({ subgraph: this.name });
      const started = performance.now();
      const sending = this.post(payload, headers, operation);
      if (key !== undefined) {
        this.inflight.set(key, sending);
        void sending.then(
          () => this.inflight.delete(key),
          () => this.inflight.delete(key),
        );
      }
      try {
        response = await sending;
      } catch (error) {
        this.options.metrics.subgraphErrors.inc({ subgraph: this.name });
        throw this.transportError(error);
      } finally {
        this.options.metrics.subgraphDuration.observe({ subgraph: this.name }, (performance.now() - started) / 1000);
      }
    }
    annotate(trace, { [TraceAttributes.statusCode]: response.status });
    const result = this.parse(response);
    const changes = result.extensions?.[CHANGES_EXTENSION];
    if (operation !== 'query' && Array.isArray(changes) && this.options.cache) {
      // Evict before the mutation's answer goes back, so the caller's next read cannot see the old value.
      await this.options.cache.evict(changes as EntityChange[]);
    }
    return { data: result.data, ...(result.errors ? { errors: result.errors } : {}) };
  }

  /**
   * The HTTP call, through this subgraph's circuit breaker, with one jittered retry for a query that could
   * not connect (see `fetch/resilience.ts` for why exactly those).
   */
  private async post(payload: string, headers: Record<string, string>, operation: string): Promise<SubgraphResponse> {
    const breaker = this.breaker;
    if (breaker && breaker.admit() === 'no') {
      this.options.metrics.shortCircuited.inc({ subgraph: this.name });
      throw new SubgraphRequestError(`circuit open for ${this.name}`, 'circuit-open');
    }
    try {
      let response: SubgraphResponse;
      try {
        response = await this.options.http.post(this.url, payload, headers, this.options.timeoutMs);
      } catch (error) {
        const retryable =
          this.options.resilience?.retry &&
          operation === 'query' &&
          error instanceof SubgraphRequestError &&
          error.kind === 'network';
        if (!retryable) throw error;
        this.options.metrics.subgraphRetries.inc({ subgraph: this.name });
        await new Promise((resolve) => setTimeout(resolve, jitteredDelay(RETRY_DELAY_MS)));
        response = await this.options.http.post(this.url, payload, headers, this.options.timeoutMs);
      }
      // A 5xx that is not a GraphQL answer is the subgraph failing; a GraphQL answer, even with errors, is not.
      if (response.status >= 500 && !looksLikeGraphQL(response.body)) breaker?.failed();
      else breaker?.succeeded();
      return response;
    } catch (error) {
      breaker?.failed();
      throw error;
    }
  }

  private parse(response: SubgraphResponse): FetchResult & { extensions?: Record<string, unknown> } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(response.body);
    } catch {
      parsed = undefined;
    }
    const result = parsed as { data?: unknown; errors?: unknown } | undefined;
    const isGraphQL =
      result !== undefined &&
      result !== null &&
      typeof result === 'object' &&
      ('data' in result || Array.isArray(result.errors));
    if (!isGraphQL || (response.status >= 500 && !('data' in result) && !Array.isArray(result.errors))) {
      this.options.metrics.subgraphErrors.inc({ subgraph: this.name });
      throw new GraphQLError(`Subgraph '${this.name}' answered HTTP ${response.status} without a GraphQL response`, {
        extensions: { code: 'SUBGRAPH_UNAVAILABLE', serviceName: this.name },
      });
    }
    const extensions = (result as { extensions?: Record<string, unknown> }).extensions;
    return {
      data: (result as { data?: Record<string, unknown> | null }).data,
      ...(Array.isArray(result.errors) ? { errors: result.errors as GraphQLFormattedError[] } : {}),
      ...(extensions ? { extensions } : {}),
    };
  }

  private transportError(error: unknown): GraphQLError {
    if (error instanceof GraphQLError) return error;
    const timedOut = error instanceof SubgraphRequestError && error.kind === 'timeout';
    const circuitOpen = error instanceof SubgraphRequestError && error.kind === 'circuit-open';
    return new GraphQLError(
      timedOut
        ? `Subgraph '${this.name}' did not answer within ${this.options.timeoutMs} ms`
        : circuitOpen
          ? `Subgraph '${this.name}' is unavailable (failing repeatedly; not asked until it recovers)`
          : `Subgraph '${this.name}' is unavailable`,
      { extensions: { code: timedOut ? 'SUBGRAPH_TIMEOUT' : 'SUBGRAPH_UNAVAILABLE', serviceName: this.name } },
    );
  }
}
