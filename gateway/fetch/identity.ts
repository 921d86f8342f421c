import {
  Kind,
  print,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionNode,
} from 'graphql';
import type { GraphQLFormattedError } from 'graphql';
import { shapeOf, type FetchShape } from './document';

/**
 * Knowing which entity each `_entities` answer is.
 *
 * A subgraph must answer `_entities` in representation order, one answer per representation. Apollo Gateway
 * trusts that: an answer out of order lands on the wrong entity, and a short or long answer fails the whole
 * fetch. We check it instead. Every `_entities` fetch goes out with the entity's typename and key fields added
 * under reserved aliases (`_fgw_typename`, `_fgw_key_<field>`), each inside its own inline fragment so the
 * planner's selection is untouched; only key fields the subgraph itself resolves are added (see
 * `EntityKeyIndex`). When the answer comes back:
 *
 * - in order (the normal case): placed by position, exactly as Apollo does;
 * - out of order, short or long, but every answer carries a key that matches exactly one representation:
 *   placed by key, and a representation with no answer gets null and a `SUBGRAPH_INVALID_RESPONSE` error at
 *   its own path. Apollo returns wrong data (out of order) or fails every entity of the fetch (short, long);
 *   we keep the entities that are certain;
 * - anything else (an answer that matches no representation or two, keys not available to check a short
 *   answer): nothing is placed, the fetch fails, as in Apollo.
 *
 * Whatever the gateway added is removed before anything is merged, cached or remembered, so an
 * `@interfaceObject` subgraph's `__typename` never replaces the concrete type the gateway already has, and a
 * key value in a wrong answer never overwrites the real one. Entities placed by position without a key check
 * (the subgraph cannot return its keys) are marked unverified: used for this request only, as Apollo would,
 * but never cached or reused.
 */

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
  // One copy in name order and one stringify: cheaper than a stringify per field. Integer-like names would be
  // enumerated first whatever the insertion order; GraphQL names never are, but such a record keeps the slow way.
  if (keys[0]!.charCodeAt(0) > 0x39) {
    const ordered: Record<string, unknown> = {};
    for (let index = 0; index < keys.length; index++) ordered[keys[index]!] = record[keys[index]!];
    return JSON.stringify(ordered);
  }
  let key = '{';
  for (let index = 0; index < keys.length; index++) {
    const value = record[keys[index]!];
    if (value === undefined) continue;
    key += `${key.length > 1 ? ',' : ''}${JSON.stringify(keys[index])}:${JSON.stringify(value)}`;
  }
  return `${key}}`;
}

export const TYPENAME_ALIAS = '_fgw_typename';
export const KEY_ALIAS_PREFIX = '_fgw_key_';

export interface IdentityShape {
  /** The document sent to the subgraph: the fetch's own plus the identity fields. */
  sent: FetchShape;
  /** The key sets the subgraph can answer, by representation typename. */
  keySets(typename: string): readonly (readonly string[])[];
}

/** The key sets `subgraph` can answer for `typename`: see `EntityKeyIndex`. */
export type KeySetsOf = (typename: string) => readonly (readonly string[])[];

/**
 * The fetch with identity fields added, for an `_entities` fetch; undefined for anything else. Callers cache
 * the result per query text (it depends only on the text and the supergraph).
 */
export function withIdentityFields(shape: FetchShape, keySetsOf: KeySetsOf): IdentityShape | undefined {
  if (!shape.entities) return undefined;
  const operation = shape.document.definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  )!;
  const entities = operation.selectionSet.selections[0] as FieldNode;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of shape.document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const typeConditions = new Set<string>();
  for (const selection of entities.selectionSet?.selections ?? []) {
    if (selection.kind === Kind.INLINE_FRAGMENT && selection.typeCondition)
      typeConditions.add(selection.typeCondition.name.value);
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const fragment = fragments.get(selection.name.value);
      if (fragment) typeConditions.add(fragment.typeCondition.name.value);
    }
  }
  const field = (name: string, alias: string): FieldNode => ({
    kind: Kind.FIELD,
    alias: { kind: Kind.NAME, value: alias },
    name: { kind: Kind.NAME, value: name },
  });
  const added: SelectionNode[] = [field('__typename', TYPENAME_ALIAS)];
  for (const typename of typeConditions) {
    const keyFields = [...new Set(keySetsOf(typename).flat())];
    if (keyFields.length === 0) continue;
    const fragment: InlineFragmentNode = {
      kind: Kind.INLINE_FRAGMENT,
      typeCondition: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: typename } },
      selectionSet: {
        kind: Kind.SELECTION_SET,
        selections: keyFields.map((name) => field(name, KEY_ALIAS_PREFIX + name)),
      },
    };
    added.push(fragment);
  }
  const document: DocumentNode = {
    ...shape.document,
    definitions: shape.document.definitions.map((definition) =>
      definition === operation
        ? {
            ...operation,
            selectionSet: {
              ...operation.selectionSet,
              selections: [
                {
                  ...entities,
                  selectionSet: {
                    kind: Kind.SELECTION_SET,
                    selections: [...(entities.selectionSet?.selections ?? []), ...added],
                  },
                },
              ],
            },
          }
        : definition,
    ),
  };
  return { sent: shapeOf(print(document)), keySets: keySetsOf };
}

/** What became of one `_entities` answer, per unique representation sent. */
export type Placement =
  | {
      kind: 'placed';
      /** One entity (or null) per representation, identity fields removed. */
      entities: unknown[];
      /** Errors with `_entities` positions in representation order; others as they came. */
      errors: GraphQLFormattedError[];
      /** False when some entity was placed by position without a key to check it. */
      verified: boolean;
    }
  | { kind: 'wrong-count' }
  | { kind: 'unmatched' };

type Entity = Record<string, unknown>;

const isEntity = (value: unknown): value is Entity =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const sameValue = (a: unknown, b: unknown): boolean =>
  a === b || (typeof a === 'object' && a !== null && JSON.stringify(a) === JSON.stringify(b));

/** The first key set of the representation's type whose fields it all carries. */
function keySetOf(identity: IdentityShape, representation: unknown): readonly string[] | undefined {
  if (!isEntity(representation) || typeof representation.__typename !== 'string') return undefined;
  for (const keySet of identity.keySets(representation.__typename))
    if (keySet.every((field) => representation[field] !== undefined && representation[field] !== null)) return keySet;
  return undefined;
}

/** Whether an answer carries this key set, and with the representation's values. */
function carries(entity: Entity, keySet: readonly string[]): boolean {
  return keySet.every((field) => entity[KEY_ALIAS_PREFIX + field] !== undefined);
}
function matches(entity: Entity, representation: Entity, keySet: readonly string[]): boolean {
  return keySet.every((field) => sameValue(entity[KEY_ALIAS_PREFIX + field], representation[field]));
}

/**
 * Removes the identity fields, last first. They are the last fields of the answer (added at the end of the
 * selection), and V8 undoes the deletion of an object's last-added property by going back to its previous
 * hidden class; deleting any other property turns the object into a slow dictionary, and every later read,
 * merge and the final `JSON.stringify` of that entity pays for it (about 3x on a parse, strip and
 * stringify of a typical answer).
 */
function strip(entity: unknown): void {
  if (!isEntity(entity)) return;
  let added: string[] | undefined;
  for (const key in entity) if (key.charCodeAt(0) === 95 && key.startsWith('_fgw_')) (added ??= []).push(key);
  if (added === undefined) return;
  for (let index = added.length - 1; index >= 0; index--) delete entity[added[index]!];
}

export function placeEntities(
  identity: IdentityShape | undefined,
  representations: unknown[],
  received: unknown[],
  errors: readonly GraphQLFormattedError[],
  subgraph: string,
): Placement {
  const keySets = identity ? representations.map((representation) => keySetOf(identity, representation)) : undefined;
  if (received.length === representations.length) {
    // An answer whose typename is another representation's type is out of place even when the key values
    // agree (a Product and a Review with the same id). A typename no representation has is not held against
    // it: an interface entity may answer with its concrete type.
    let typenames: Set<unknown> | undefined;
    let inOrder = true;
    let verified = true;
    for (let index = 0; index < received.length; index++) {
      const entity = received[index];
      if (!isEntity(entity)) continue;
      const keySet = keySets?.[index];
      const representation = representations[index] as Entity;
      const typename = entity[TYPENAME_ALIAS];
      if (typename !== undefined && typename !== representation.__typename) {
        typenames ??= new Set(representations.map((candidate) => (candidate as Entity | null)?.__typename));
        if (typenames.has(typename)) {
          inOrder = false;
          break;
        }
      }
      if (!keySet || !carries(entity, keySet)) verified = false;
      else if (!matches(entity, representation, keySet)) {
        inOrder = false;
        break;
      }
    }
    if (inOrder) {
      for (const entity of received) strip(entity);
      return { kind: 'placed', entities: received.slice(), errors: [...errors], verified };
    }
  }
  if (!identity || !keySets || keySets.some((keySet) => keySet === undefined)) return { kind: 'wrong-count' };
  return placeByKey(identity, representations, keySets as (readonly string[])[], received, errors, subgraph);
}

function placeByKey(
  identity: IdentityShape,
  representations: unknown[],
  keySets: (readonly string[])[],
  received: unknown[],
  errors: readonly GraphQLFormattedError[],
  subgraph: string,
): Placement {
  const signature = (typename: unknown, keySet: readonly string[], values: unknown[]) =>
    `${String(typename)}\u0000${keySet.join(' ')}\u0000${JSON.stringify(values)}`;
  // Representations by key. The same key twice is fine when the representations are the same (without
  // deduplication a fetch carries one per position); the same key with other fields differing (@requires)
  // cannot be told apart by the answer, so such a key matches nothing.
  const byKey = new Map<string, { indexes: number[]; representation: string; ambiguous: boolean }>();
  representations.forEach((representation, index) => {
    const keySet = keySets[index]!;
    const record = representation as Entity;
    const key = signature(
      record.__typename,
      keySet,
      keySet.map((field) => record[field]),
    );
    const text = representationKey(representation);
    const entry = byKey.get(key);
    if (!entry) byKey.set(key, { indexes: [index], representation: text, ambiguous: false });
    else {
      entry.indexes.push(index);
      if (entry.representation !== text) entry.ambiguous = true;
    }
  });
  // Answer position -> representation position.
  const target = new Array<number | undefined>(received.length);
  const taken = new Set<number>();
  const nullAnswers: number[] = [];
  for (let position = 0; position < received.length; position++) {
    const entity = received[position];
    if (!isEntity(entity)) {
      nullAnswers.push(position);
      continue;
    }
    const typename = entity[TYPENAME_ALIAS];
    let found: number | undefined;
    for (const keySet of typeof typename === 'string' ? identity.keySets(typename) : []) {
      if (!carries(entity, keySet)) continue;
      const entry = byKey.get(
        signature(
          typename,
          keySet,
          keySet.map((field) => entity[KEY_ALIAS_PREFIX + field]),
        ),
      );
      if (!entry) continue;
      if (entry.ambiguous) return { kind: 'unmatched' };
      found = entry.indexes.find((index) => !taken.has(index));
      break;
    }
    if (found === undefined) return { kind: 'unmatched' };
    taken.add(found);
    target[position] = found;
  }
  // Representations no answer matched take the null answers, in order; any left over got no answer at all.
  const unanswered = representations.map((_, index) => index).filter((index) => !taken.has(index));
  if (nullAnswers.length > unanswered.length) return { kind: 'unmatched' };
  nullAnswers.forEach((position, at) => (target[position] = unanswered[at]));
  const entities: unknown[] = representations.map(() => null);
  received.forEach((entity, position) => {
    if (!isEntity(entity)) return;
    strip(entity);
    entities[target[position]!] = entity;
  });
  const placedErrors: GraphQLFormattedError[] = [];
  const nullPositions = new Set(nullAnswers);
  for (const error of errors) {
    const [head, position, ...rest] = error.path ?? [];
    if (head === '_entities' && typeof position === 'number') {
      const index = target[position];
      if (index === undefined) return { kind: 'unmatched' };
      // A null carries no key: which representation it answered is certain only when there is one.
      if (nullPositions.has(position) && nullAnswers.length > 1) return { kind: 'unmatched' };
      placedErrors.push({ ...error, path: ['_entities', index, ...rest] });
    } else placedErrors.push(error);
  }
  for (const index of unanswered.slice(nullAnswers.length)) {
    placedErrors.push({
      message: `Subgraph '${subgraph}' returned no entity for this representation`,
      path: ['_entities', index],
      extensions: { code: 'SUBGRAPH_INVALID_RESPONSE', serviceName: subgraph },
    });
  }
  return { kind: 'placed', entities, errors: placedErrors, verified: true };
}
