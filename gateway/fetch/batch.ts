import type { GraphQLFormattedError } from 'graphql';
import { mergeDocuments, type FetchShape } from './document';

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
}

export interface PlannedFetch {
  request: FetchRequest;
  shape: FetchShape;
  /** `representationKey` of each representation, when already computed (by the request memo). */
  representationKeys?: string[];
}

interface EntityUnit {
  kind: 'entities';
  shape: FetchShape;
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

/**
 * A stable key for a representation: its JSON with the top-level fields in name order, since two plan nodes
 * may ask for the same entity with their required fields in a different order (`sku weightGrams` and
 * `weightGrams sku`). Nested values (composite keys, @requires objects) keep the order the planner gave them.
 */
export function representationKey(representation: unknown): string {
  if (representation === null || typeof representation !== 'object' || Array.isArray(representation))
    return JSON.stringify(representation);
  const record = representation as Record<string, unknown>;
  const keys = Object.keys(record);
  let sorted = true;
  for (let index = 1; index < keys.length; index++) {
    if (keys[index - 1]! > keys[index]!) {
      sorted = false;
      break;
    }
  }
  if (sorted) return JSON.stringify(record);
  keys.sort();
  let key = '{';
  for (let index = 0; index < keys.length; index++) {
    const value = record[keys[index]!];
    if (value === undefined) continue;
    key += `${key.length > 1 ? ',' : ''}${JSON.stringify(keys[index])}:${JSON.stringify(value)}`;
  }
  return `${key}}`;
}

export function planBatch(fetches: PlannedFetch[], options: { dedupeRepresentations: boolean }): BatchPlan {
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
        unit: { kind: 'entities', shape: fetch.shape, variables: others, representations: [], members: [] },
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
  const unitVariables = (unit: Unit): Record<string, unknown> =>
    unit.kind === 'entities'
      ? { ...unit.variables, representations: unit.representations }
      : (unit.request.variables ?? {});

  if (units.length === 1) {
    const unit = units[0]!;
    const operationName = unit.kind === 'plain' ? unit.request.operationName : undefined;
    return {
      units,
      body: { query: unit.shape.query, variables: unitVariables(unit), ...(operationName ? { operationName } : {}) },
      prefixes: undefined,
      representationsSent,
      representationsAsked,
    };
  }
  const merged = mergeDocuments(units.map((unit) => unit.shape));
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
): FetchResult[] {
  const unitResults: FetchResult[] = plan.prefixes ? splitMerged(plan, response) : [response];
  const results: FetchResult[] = new Array(fetchCount);
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

function fanOutEntities(unit: EntityUnit, result: FetchResult, subgraph: string): Map<number, FetchResult> {
  const out = new Map<number, FetchResult>();
  const received = result.data?._entities;
  const unitErrors = [...(result.errors ?? [])];
  let entities: unknown[] | undefined;
  if (Array.isArray(received)) {
    entities = inOrder(unit.representations, received);
    // A subgraph that answers fewer entities than asked fails only the missing positions, not the fetch.
    for (let index = entities.length; index < unit.representations.length; index++) {
      entities.push(null);
      unitErrors.push({
        message: `Subgraph '${subgraph}' returned no entity for this representation`,
        path: ['_entities', index],
        extensions: { code: 'SUBGRAPH_INVALID_RESPONSE', serviceName: subgraph },
      });
    }
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
    out.set(member.fetch, errors.length > 0 ? { data, errors } : { data });
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
 * Entities must come back in representation order. The data source adds each entity's key fields to the
 * selection (see `withEntityKeys`), so answers in another order can be put back in order: they are matched
 * to representations by the fields both carry. Null answers fill the positions no answer matched. When
 * nothing can be matched (no shared fields), order is trusted, as every gateway does.
 */
function inOrder(representations: unknown[], received: unknown[]): unknown[] {
  const sample = received.find((entity) => entity !== null && typeof entity === 'object') as
    Record<string, unknown> | undefined;
  const first = representations[0] as Record<string, unknown> | undefined;
  if (!first || !sample || received.length !== representations.length) return [...received];
  const fields = Object.keys(first).filter(
    (field) => field !== '__typename' && field in sample && (typeof first[field] !== 'object' || first[field] === null),
  );
  if (fields.length === 0) return [...received];
  const matches = (representation: unknown, entity: unknown) =>
    entity !== null &&
    typeof entity === 'object' &&
    fields.every(
      (field) => (representation as Record<string, unknown>)[field] === (entity as Record<string, unknown>)[field],
    );
  // The usual case, checked without allocating: every answer is where it should be.
  if (
    representations.every(
      (representation, index) => received[index] === null || matches(representation, received[index]),
    )
  ) {
    return [...received];
  }
  const signature = (value: unknown): string | undefined => {
    if (!value || typeof value !== 'object') return undefined;
    const record = value as Record<string, unknown>;
    if (!fields.every((field) => field in record)) return undefined;
    return JSON.stringify(fields.map((field) => record[field]));
  };
  const wanted = representations.map(signature);
  const got = received.map(signature);
  const byKey = new Map<string, unknown>();
  for (const [index, key] of got.entries()) {
    if (key === undefined) {
      if (received[index] !== null) return [...received];
    } else byKey.set(key, received[index]);
  }
  return wanted.map((key) => (key !== undefined && byKey.has(key) ? byKey.get(key) : null));
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
