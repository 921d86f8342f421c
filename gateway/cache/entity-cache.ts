import crypto from 'node:crypto';
import { Kind, type FieldNode, type OperationDefinitionNode } from 'graphql';
import type { EntityChange } from '../../lib/events';
import { encodeCaller, type Caller } from '../../lib/identity';
import type { Logger } from '../../lib/logger';
import type { FetchResult, PlannedFetch } from '../fetch/batch';
import { withKnownEntities } from '../fetch/residual';
import type { GatewayMetrics } from '../metrics';
import type { CachePolicy } from './policy';
import { decodeStored, type CacheStore, type HashLookup, type HashWrite } from './store';

/**
 * The entity cache on the gateway's fetch path. For the fetches of one batch it computes one key per
 * representation (subgraph, type, key fields; then the selection's hash, the full representation and the
 * caller scope as the hash field), reads them all in ONE store round trip, answers fully cached fetches
 * without the subgraph, and shrinks the others to their misses. When the subgraph answers, the misses are
 * merged back in order and written (pipelined) with their TTLs — except entities that came with an error, or
 * any fetch whose response had an error not tied to one entity.
 *
 * Root fields whose arguments are exactly an entity's key (`product(sku:)`, `user(id:)`) are cached in the
 * same entity hash, so one eviction covers both.
 */
export type CacheOutcome =
  | { kind: 'hit'; result: FetchResult }
  | {
      kind: 'miss';
      residual: PlannedFetch;
      complete(result: FetchResult): FetchResult;
      /**
       * Stale-if-error: the whole fetch's answer from entries past their TTL but within the stale window,
       * when every entity it needs has one; for when the subgraph fails. Returns how many entities were stale.
       */
      stale?: () => { result: FetchResult; staleEntities: number } | undefined;
    }
  | { kind: 'bypass' };

export interface EntityCache {
  resolve(
    subgraph: string,
    fetches: PlannedFetch[],
    context: { caller: Caller; stats: { entityCacheHits: number; entityCacheMisses: number } },
  ): Promise<CacheOutcome[]>;
  evict(changes: EntityChange[]): Promise<void>;
}

const hash = (text: string) => crypto.createHash('sha1').update(text).digest('base64url').slice(0, 16);
const selectionHashes = new Map<string, string>();
function selectionHash(query: string): string {
  let value = selectionHashes.get(query);
  if (!value) {
    value = hash(query);
    if (selectionHashes.size > 5000) selectionHashes.clear();
    selectionHashes.set(query, value);
  }
  return value;
}

export const entityKey = (subgraph: string, typename: string, keyValues: unknown[]) =>
  `ec:${subgraph}:${typename}:${JSON.stringify(keyValues.map(String))}`;

interface EntityPlan {
  kind: 'entities';
  fetch: PlannedFetch;
  ttl: number;
  /** Per representation: its lookup, or undefined when it cannot be cached (no flat key). */
  lookups: (HashLookup | undefined)[];
}
interface RootPlan {
  kind: 'root';
  fetch: PlannedFetch;
  ttl: number;
  rootKey: string;
  lookup: HashLookup;
}
type Plan = EntityPlan | RootPlan | undefined;

export function createEntityCache(options: {
  store: CacheStore;
  policy: CachePolicy;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Entities are kept this long past their TTL, to be served if their subgraph fails. Default 0 (off). */
  staleIfErrorSeconds?: number;
}): EntityCache {
  const { store, policy, metrics } = options;
  const staleSeconds = options.staleIfErrorSeconds ?? 0;
  /** A cached value: fresh, usable only when the subgraph fails, or nothing. */
  const readValue = (stored: string | null | undefined): { fresh: string | null; stale: string | null } => {
    const decoded = decodeStored(stored);
    if (!decoded) return { fresh: null, stale: null };
    const time = Date.now();
    if (decoded.expiresAt > time) return { fresh: decoded.value, stale: null };
    return { fresh: null, stale: decoded.expiresAt + staleSeconds * 1000 > time ? decoded.value : null };
  };

  function scopeOf(caller: Caller, isPrivate: boolean): string {
    return isPrivate ? `p:${encodeCaller(caller) ?? 'anonymous'}` : 'public';
  }

  function planFetch(subgraph: string, fetch: PlannedFetch, caller: Caller): Plan {
    const fetchPolicy = policy.forFetch(fetch.shape);
    if (!fetchPolicy) return undefined;
    const scope = scopeOf(caller, fetchPolicy.private);
    const selection = selectionHash(fetch.shape.selectionKey);
    const variables = fetch.request.variables ?? {};
    if (fetch.shape.entities) {
      const representations = variables.representations;
      if (!Array.isArray(representations)) return undefined;
      const others =
        Object.keys(variables).length > 1 ? hash(JSON.stringify({ ...variables, representations: undefined })) : '';
      const lookups = representations.map((representation: Record<string, unknown>) => {
        const typename = representation?.__typename;
        if (typeof typename !== 'string') return undefined;
        const keys = policy.keyFields(subgraph, typename);
        if (!keys || !keys.every((key) => key in representation)) return undefined;
        return {
          key: entityKey(
            subgraph,
            typename,
            keys.map((key) => representation[key]),
          ),
          field: `${selection}${others}:${scope}:${JSON.stringify(representation)}`,
        };
      });
      return { kind: 'entities', fetch, ttl: fetchPolicy.maxAge, lookups };
    }
    return planRootFetch(subgraph, fetch, fetchPolicy.maxAge, scope, selection);
  }

  function planRootFetch(
    subgraph: string,
    fetch: PlannedFetch,
    ttl: number,
    scope: string,
    selection: string,
  ): RootPlan | undefined {
    const operation = fetch.shape.document.definitions.find(
      (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
    );
    const fields = operation?.selectionSet.selections ?? [];
    if (fields.length !== 1 || fields[0]!.kind !== Kind.FIELD) return undefined;
    const field = fields[0] as FieldNode;
    const typename = policy.rootFieldType(field.name.value);
    const keys = typename && policy.keyFields(subgraph, typename);
    const args = field.arguments ?? [];
    if (!typename || !keys || args.length !== keys.length) return undefined;
    const values: unknown[] = [];
    for (const key of keys) {
      const argument = args.find((candidate) => candidate.name.value === key);
      if (!argument) return undefined;
      const value = argument.value;
      if (value.kind === Kind.VARIABLE) values.push(fetch.request.variables?.[value.name.value]);
      else if (value.kind === Kind.STRING || value.kind === Kind.INT) values.push(value.value);
      else return undefined;
      if (values.at(-1) === undefined || values.at(-1) === null) return undefined;
    }
    return {
      kind: 'root',
      fetch,
      ttl,
      rootKey: field.alias?.value ?? field.name.value,
      lookup: {
        key: entityKey(subgraph, typename, values),
        field: `root:${selection}:${scope}:${hash(JSON.stringify(fetch.request.variables ?? {}))}`,
      },
    };
  }

  return {
    async resolve(subgraph, fetches, context) {
      const plans = fetches.map((fetch) => planFetch(subgraph, fetch, context.caller));
      const lookups: HashLookup[] = [];
      for (const plan of plans) {
        if (plan?.kind === 'entities') for (const lookup of plan.lookups) if (lookup) lookups.push(lookup);
        if (plan?.kind === 'root') lookups.push(plan.lookup);
      }
      if (lookups.length === 0) return fetches.map(() => ({ kind: 'bypass' }) as const);
      const values = await store.readFields(lookups);
      if (!values) return fetches.map(() => ({ kind: 'bypass' }) as const);
      let cursor = 0;
      const next = () => readValue(values[cursor++]);
      return plans.map((plan): CacheOutcome => {
        if (!plan) return { kind: 'bypass' };
        if (plan.kind === 'root') {
          const { fresh, stale } = next();
          if (fresh !== null) {
            count(context, 1, 0);
            return { kind: 'hit', result: { data: { [plan.rootKey]: JSON.parse(fresh) } } };
          }
          count(context, 0, 1);
          return {
            kind: 'miss',
            residual: plan.fetch,
            complete: (result) => {
              const value = result.data?.[plan.rootKey];
              if (!result.errors && value !== null && value !== undefined) {
                void store.writeFields([
                  { ...plan.lookup, value: JSON.stringify(value), ttlSeconds: plan.ttl, staleSeconds },
                ]);
              }
              return result;
            },
            ...(stale !== null
              ? { stale: () => ({ result: { data: { [plan.rootKey]: JSON.parse(stale) } }, staleEntities: 1 }) }
              : {}),
          };
        }
        return entityOutcome(
          plan,
          plan.lookups.map((lookup) => (lookup ? next() : { fresh: null, stale: null })),
          context,
        );
      });
    },

    async evict(changes) {
      const keys = new Set<string>();
      for (const change of changes) {
        for (const [subgraph, fields] of policy.entityKeys(change.typename)) {
          if (fields.every((field) => change.key[field] !== undefined)) {
            keys.add(
              entityKey(
                subgraph,
                change.typename,
                fields.map((field) => change.key[field]),
              ),
            );
          }
        }
      }
      await store.deleteKeys([...keys]);
    },
  };

  function count(
    context: { stats: { entityCacheHits: number; entityCacheMisses: number } },
    hits: number,
    misses: number,
  ) {
    context.stats.entityCacheHits += hits;
    context.stats.entityCacheMisses += misses;
    if (hits) metrics.entityCacheLookups.inc({ result: 'hit' }, hits);
    if (misses) metrics.entityCacheLookups.inc({ result: 'miss' }, misses);
  }

  function entityOutcome(
    plan: EntityPlan,
    cached: { fresh: string | null; stale: string | null }[],
    context: Parameters<typeof count>[0],
  ): CacheOutcome {
    const known = cached.map(({ fresh }) => (fresh === null ? undefined : JSON.parse(fresh)));
    const misses = known.reduce<number>((total, value) => total + (value === undefined ? 1 : 0), 0);
    count(context, known.length - misses, misses);
    const outcome = withKnownEntities(plan.fetch, known, (fresh) => {
      const writes: HashWrite[] = [];
      for (const { index, entity } of fresh) {
        const lookup = plan.lookups[index];
        if (lookup) writes.push({ ...lookup, value: JSON.stringify(entity), ttlSeconds: plan.ttl, staleSeconds });
      }
      if (writes.length > 0) void store.writeFields(writes);
    });
    if (outcome.kind !== 'miss' || !cached.every(({ fresh, stale }) => fresh !== null || stale !== null))
      return outcome;
    return {
      ...outcome,
      stale: () => ({
        result: {
          data: {
            _entities: cached.map(({ fresh, stale }, index) => known[index] ?? JSON.parse((fresh ?? stale)!)),
          },
        },
        staleEntities: misses,
      }),
    };
  }
}
