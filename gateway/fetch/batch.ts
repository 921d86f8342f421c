import type { GraphQLFormattedError } from 'graphql';
import { mergeDocuments, type FetchShape } from './document';
import { placeEntities, representationKey, type IdentityShape } from './identity';

/**
 * Turning the fetches one plan wave sends to one subgraph into as few HTTP requests as possible, and the
 * answer back into exactly what each fetch would have received on its own:
 *
 * 1. `_entities` fetches with the same document and the same other variables become one unit whose
 *    representations are concatenated and deduplicated (identical representations are sent once);
 * 2. all units go out in one document (`mergeDocuments`), or alone when there is only one;
 * 3. the response is split by alias prefix, and each unit's entities are fanned back out to every fetch and
 *    position that asked for them, errors included, at the paths they would have had.
 */
export interface FetchRequest {
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
}

export interface FetchResult {
  data?: Record<string, unknown> | null;
  errors?: GraphQLFormattedError[];
  /**
   * Some entity in `_entities` was placed by position without a key to check it (see `placeEntities`): good
   * for this request, as Apollo Gateway would use it, but never to be cached or reused. Internal; removed
   * before the result leaves the data source.
   */
  unverified?: true;
}

/**
 * A fetch whose `_entities` answer could not be placed: the wrong number of entities with no way to tell
 * which is which, or answers that match no representation. The fetch fails as a whole, as in Apollo Gateway.
 */
export interface EntityFailure {
  failure: 'wrong-count' | 'unmatched';
}
export const isEntityFailure = (value: FetchResult | EntityFailure): value is EntityFailure => 'failure' in value;

export interface PlannedFetch {
  request: FetchRequest;
  shape: FetchShape;
  /** `representationKey` of each representation, when already computed (by the request memo). */
  representationKeys?: string[];
}

interface EntityUnit {
  kind: 'entities';
  shape: FetchShape;
  /** What is sent instead of `shape`: the same selection plus the fields that identify each answer. */
  identity: IdentityShape | undefined;
  variables: Record<string, unknown>;
  representations: unknown[];
  /** For each member fetch, the unique-representation index of each of its representations. */
  members: { fetch: number; indexes: number[] }[];
}
interface PlainUnit {
  kind: 'plain';
  shape: FetchShape;
  request: FetchRequest;
  fetch: number;
}
type Unit = EntityUnit | PlainUnit;

export interface BatchPlan {
  units: Unit[];
  /** The request body to send. */
  body: { query: string; variables: Record<string, unknown>; operationName?: string };
  prefixes: string[] | undefined;
  representationsSent: number;
  representationsAsked: number;
}

export interface BatchOptions {
  dedupeRepresentations: boolean;
  /** The identity-checked form of an `_entities` fetch (see `withIdentityFields`), when there is one. */
  identityOf?: (shape: FetchShape) => IdentityShape | undefined;
}

export function planBatch(fetches: PlannedFetch[], options: BatchOptions): BatchPlan {
  const units: Unit[] = [];
  const entityUnits = new Map<string, { unit: EntityUnit; seen: Map<string, number> }>();
  let representationsAsked = 0;
  fetches.forEach((fetch, index) => {
    const variables = fetch.request.variables ?? {};
    if (!fetch.shape.entities || !Array.isArray(variables.representations)) {
      units.push({ kind: 'plain', shape: fetch.shape, request: fetch.request, fetch: index });
      return;
    }
    const { representations, ...others } = variables as { representations: unknown[] } & Record<string, unknown>;
    representationsAsked += representations.length;
    const groupKey = options.dedupeRepresentations
      ? `${fetch.shape.selectionId}\u0000${JSON.stringify(others)}`
      : `#${index}`;
    let group = entityUnits.get(groupKey);
    if (!group) {
      group = {
        unit: {
          kind: 'entities',
          shape: fetch.shape,
          identity: options.identityOf?.(fetch.shape),
          variables: others,
          representations: [],
          members: [],
        },
        seen: new Map(),
      };
      entityUnits.set(groupKey, group);
      units.push(group.unit);
    }
    const { unit, seen } = group;
    const keys = fetch.representationKeys?.length === representations.length ? fetch.representationKeys : undefined;
    const indexes = representations.map((representation, at) => {
      if (!options.dedupeRepresentations) return unit.representations.push(representation) - 1;
      const key = keys ? keys[at]! : representationKey(representation);
      let position = seen.get(key);
      if (position === undefined) {
        position = unit.representations.push(representation) - 1;
        seen.set(key, position);
      }
      return position;
    });
    unit.members.push({ fetch: index, indexes });
  });

  const representationsSent = units.reduce(
    (sum, unit) => sum + (unit.kind === 'entities' ? unit.representations.length : 0),
    0,
  );
  const sentShape = (unit: Unit): FetchShape => (unit.kind === 'entities' && unit.identity?.sent) || unit.shape;
  const unitVariables = (unit: Unit): Record<string, unknown> =>
    unit.kind === 'entities'
      ? { ...unit.variables, representations: unit.representations }
      : (unit.request.variables ?? {});

  if (units.length === 1) {
    const unit = units[0]!;
    const operationName = unit.kind === 'plain' ? unit.request.operationName : undefined;
    return {
      units,
      body: {
        query: sentShape(unit).query,
        variables: unitVariables(unit),
        ...(operationName ? { operationName } : {}),
      },
      prefixes: undefined,
      representationsSent,
      representationsAsked,
    };
  }
  const merged = mergeDocuments(units.map(sentShape));
  const variables: Record<string, unknown> = {};
  units.forEach((unit, index) => {
    for (const [name, value] of Object.entries(unitVariables(unit))) variables[merged.prefixes[index]! + name] = value;
  });
  return {
    units,
    body: { query: merged.query, variables, operationName: 'BatchedFetches' },
    prefixes: merged.prefixes,
    representationsSent,
    representationsAsked,
  };
}

/** Takes a (possibly merged) response apart into one result per original fetch. */
export function splitBatch(
  plan: BatchPlan,
  response: FetchResult,
  fetchCount: number,
  subgraph: string,
): (FetchResult | EntityFailure)[] {
  const unitResults: FetchResult[] = plan.prefixes ? splitMerged(plan, response) : [response];
  const results: (FetchResult | EntityFailure)[] = new Array(fetchCount);
  plan.units.forEach((unit, index) => {
    const result = unitResults[index]!;
    if (unit.kind === 'plain') {
      results[unit.fetch] = result;
      return;
    }
    for (const [fetchIndex, result_] of fanOutEntities(unit, result, subgraph)) results[fetchIndex] = result_;
  });
  return results;
}

function splitMerged(plan: BatchPlan, response: FetchResult): FetchResult[] {
  const prefixes = plan.prefixes!;
  const results: FetchResult[] = plan.units.map((unit) => {
    if (response.data === null || response.data === undefined) return { data: response.data };
    const data: Record<string, unknown> = {};
    const prefix = prefixes[plan.units.indexOf(unit)]!;
    for (const key of unit.shape.rootKeys) data[key] = response.data[prefix + key];
    return { data };
  });
  for (const error of response.errors ?? []) {
    const head = error.path?.[0];
    const owner = typeof head === 'string' ? prefixes.findIndex((prefix) => head.startsWith(prefix)) : -1;
    if (owner === -1) {
      for (const result of results) (result.errors ??= []).push(error);
      continue;
    }
    const path = [(head as string).slice(prefixes[owner]!.length), ...error.path!.slice(1)];
    (results[owner]!.errors ??= []).push({ ...error, path });
  }
  return results;
}

function fanOutEntities(
  unit: EntityUnit,
  result: FetchResult,
  subgraph: string,
): Map<number, FetchResult | EntityFailure> {
  const out = new Map<number, FetchResult | EntityFailure>();
  const received = result.data?._entities;
  let unitErrors: readonly GraphQLFormattedError[] = result.errors ?? [];
  let entities: unknown[] | undefined;
  let verified = true;
  if (Array.isArray(received)) {
    const placement = placeEntities(unit.identity, unit.representations, received, unitErrors, subgraph);
    if (placement.kind !== 'placed') {
      const failure: EntityFailure = {
        failure: received.length !== unit.representations.length ? 'wrong-count' : 'unmatched',
      };
      for (const member of unit.members) out.set(member.fetch, failure);
      return out;
    }
    ({ entities, errors: unitErrors, verified } = placement);
  }
  const byUnique = new Map<number, GraphQLFormattedError[]>();
  const general: GraphQLFormattedError[] = [];
  for (const error of unitErrors) {
    const [head, position] = error.path ?? [];
    if (head === '_entities' && typeof position === 'number') {
      const list = byUnique.get(position);
      if (list) list.push(error);
      else byUnique.set(position, [error]);
    } else general.push(error);
  }
  const uses = new Map<number, number>();
  for (const member of unit.members) for (const unique of member.indexes) uses.set(unique, (uses.get(unique) ?? 0) + 1);
  for (const member of unit.members) {
    const errors: GraphQLFormattedError[] = [...general];
    member.indexes.forEach((unique, position) => {
      for (const error of byUnique.get(unique) ?? [])
        errors.push({ ...error, path: ['_entities', position, ...error.path!.slice(2)] });
    });
    const data =
      entities === undefined
        ? (result.data as Record<string, unknown> | null | undefined)
        : {
            ...result.data,
            _entities: member.indexes.map((unique) =>
              uses.get(unique)! < 2 ? entities![unique] : reusableEntity(entities![unique]),
            ),
          };
    const memberResult: FetchResult = errors.length > 0 ? { data, errors } : { data };
    if (!verified) memberResult.unverified = true;
    out.set(member.fetch, memberResult);
  }
  return out;
}

/**
 * An entity handed to more than one position (a deduplicated representation, a request memo hit): the gateway
 * merges an entity's fields into its own result object but may adopt its nested objects as they are, so one
 * nested object handed to two positions could later be changed through both. Flat entities (the common case)
 * are shared as they are; entities with nested objects are copied.
 */
export function reusableEntity(entity: unknown): unknown {
  if (entity === null || typeof entity !== 'object') return entity;
  for (const key in entity as Record<string, unknown>) {
    const value = (entity as Record<string, unknown>)[key];
    if (value !== null && typeof value === 'object') return cloneJson(entity);
  }
  return entity;
}

/** A copy of a JSON value (objects and arrays copied, primitives shared). */
export function cloneJson(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const copy: Record<string, unknown> = {};
  for (const key in value as Record<string, unknown>) copy[key] = cloneJson((value as Record<string, unknown>)[key]);
  return copy;
}

/**
 * True when an error nulled data that belongs to more than one fetch: the whole merged response, or a
 * deduplicated `_entities` list that several fetches shared. Alone, only the failing fetch would have lost it.
 */
export function nullPropagatedAcrossFetches(plan: BatchPlan, response: FetchResult): boolean {
  if (!response.errors || response.errors.length === 0) return false;
  if (response.data === null || response.data === undefined) return true;
  return plan.units.some((unit, index) => {
    if (unit.kind !== 'entities' || unit.members.length < 2) return false;
    const key = (plan.prefixes?.[index] ?? '') + '_entities';
    return response.data![key] === null || response.data![key] === undefined;
  });
}
