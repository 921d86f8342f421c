import {
  Kind,
  parse,
  type ConstDirectiveNode,
  type FieldDefinitionNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type TypeNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { FetchShape } from '../fetch/document';

/**
 * Cache policy read from the supergraph: `@cacheControl(maxAge:, scope:, inheritMaxAge:)` on types and fields
 * (composed into the supergraph with `@composeDirective`), plus overrides from config (`Type=seconds`,
 * `Type.field=seconds`). The semantics follow Apollo Server's cache control: a field's own policy wins; a
 * field returning an object type takes that type's policy, or its parent's when marked `inheritMaxAge`, or
 * else is not cacheable; a leaf field inherits its parent's. A fetch is cacheable for the smallest maxAge of
 * everything it selects, and is PRIVATE (per caller) if anything it selects is.
 *
 * Types that carry no `@cacheControl` at all (most supergraphs: nobody wrote the directive) get their maxAge from
 * the settings instead: a `Type=seconds` override, else the default policy's maxAge (ENTITY_CACHE_DEFAULT_MAX_AGE)
 * for every object and interface type but the root types. Their scope is then inferred, and conservatively: such
 * a type is PRIVATE unless the operator lists it as public. The gateway cannot tell from a foreign supergraph
 * what a subgraph answers differently per caller (authorization is decided inside the subgraphs, from the caller
 * forwarded with every fetch), so keying per caller is the only rule that is never wrong; callers without a token
 * all share one scope, so anonymous traffic still shares its entries. A type or field carrying an authorization
 * directive (`@authenticated`, `@requiresScopes`, `@policy`) is reachable only by signed-in callers and is PRIVATE
 * whatever the list says, unless its own `@cacheControl` names a scope. Where the SDL does decide (a field's own
 * maxAge or `inheritMaxAge`), the settings' policy for the type it returns is not used.
 */
interface Hint {
  maxAge?: number;
  private?: boolean;
  inheritMaxAge?: boolean;
  /** The maxAge (and the inferred scope) came from the settings, not from the type's own `@cacheControl`. */
  fromSettings?: boolean;
  /** PRIVATE by the settings' rule for undeclared types (not listed public). */
  inferredPrivate?: boolean;
}

/** How types without `@cacheControl` are cached (the settings' default policy). */
export interface DefaultCachePolicy {
  /** maxAge for object and interface types without `@cacheControl` (root types excepted); 0: not cached. */
  maxAge?: number;
  /** Types without `@cacheControl` whose cached entries are shared by every caller (PUBLIC); the others are PRIVATE. */
  publicTypes?: readonly string[];
}

interface FieldInfo {
  returnType: string;
  hint: Hint;
}

interface TypeInfo {
  hint: Hint;
  fields: Map<string, FieldInfo>;
  /** Subgraph name to the entity's key fields there (flat keys only). */
  keys: Map<string, string[]>;
}

export interface FetchPolicy {
  maxAge: number;
  private: boolean;
}

export interface CachePolicy {
  /** The policy of a fetch document, or undefined when it must not be cached. */
  forFetch(shape: FetchShape): FetchPolicy | undefined;
  /** The entity key fields of `typename` in `subgraph`, if it is an entity there with a flat key. */
  keyFields(subgraph: string, typename: string): string[] | undefined;
  /** Every subgraph in which `typename` is an entity, with its key fields. */
  entityKeys(typename: string): [string, string[]][];
  /** The return type of a Query field. */
  rootFieldType(field: string): string | undefined;
}

const MAX_POLICIES = 5_000;

const namedType = (type: TypeNode): string => (type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type));

const AUTHORIZATION_DIRECTIVES = new Set(['authenticated', 'requiresScopes', 'policy']);
const requiresSignIn = (directives: readonly ConstDirectiveNode[] | undefined) =>
  directives?.some((directive) => AUTHORIZATION_DIRECTIVES.has(directive.name.value)) ?? false;
const declaresCacheControl = (directives: readonly ConstDirectiveNode[] | undefined) =>
  directives?.some((directive) => directive.name.value === 'cacheControl') ?? false;

function hintOf(directives: readonly ConstDirectiveNode[] | undefined): Hint {
  const directive = directives?.find((candidate) => candidate.name.value === 'cacheControl');
  const hint: Hint = {};
  // Only signed-in callers reach it: never shared, unless its own @cacheControl names a scope.
  if (requiresSignIn(directives)) hint.private = true;
  for (const argument of directive?.arguments ?? []) {
    const value = argument.value;
    if (argument.name.value === 'maxAge' && value.kind === Kind.INT) hint.maxAge = Number(value.value);
    if (argument.name.value === 'scope' && value.kind === Kind.ENUM) hint.private = value.value === 'PRIVATE';
    if (argument.name.value === 'inheritMaxAge' && value.kind === Kind.BOOLEAN) hint.inheritMaxAge = value.value;
  }
  return hint;
}

function argumentString(directive: ConstDirectiveNode, name: string): string | undefined {
  const argument = directive.arguments?.find((candidate) => candidate.name.value === name);
  return argument && (argument.value.kind === Kind.STRING || argument.value.kind === Kind.ENUM)
    ? argument.value.value
    : undefined;
}

export function createCachePolicy(
  supergraphSdl: string,
  overrides: Record<string, number> = {},
  defaults: DefaultCachePolicy = {},
): CachePolicy {
  const document = parse(supergraphSdl, { noLocation: true });
  const graphNames = new Map<string, string>();
  const types = new Map<string, TypeInfo>();
  const publicTypes = new Set(defaults.publicTypes ?? []);
  const rootTypes = new Set(['Query', 'Mutation', 'Subscription']);
  for (const definition of document.definitions) {
    if (definition.kind === Kind.SCHEMA_DEFINITION)
      for (const operation of definition.operationTypes) rootTypes.add(operation.type.name.value);
  }
  for (const definition of document.definitions) {
    if (definition.kind === Kind.ENUM_TYPE_DEFINITION && definition.name.value === 'join__Graph') {
      for (const value of definition.values ?? []) {
        const graph = value.directives?.find((directive) => directive.name.value === 'join__graph');
        const name = graph && argumentString(graph, 'name');
        if (name) graphNames.set(value.name.value, name);
      }
    }
  }
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    const typename = definition.name.value;
    const hint = hintOf(definition.directives);
    if (overrides[typename] !== undefined) hint.maxAge = overrides[typename];
    if (!declaresCacheControl(definition.directives)) {
      const maxAge = overrides[typename] ?? (rootTypes.has(typename) ? undefined : defaults.maxAge || undefined);
      if (maxAge !== undefined) {
        hint.maxAge = maxAge;
        hint.fromSettings = true;
        hint.inferredPrivate = !publicTypes.has(typename);
      }
    }
    const fields = new Map<string, FieldInfo>();
    for (const field of definition.fields ?? ([] as readonly FieldDefinitionNode[])) {
      const fieldHint = hintOf(field.directives);
      const override = overrides[`${typename}.${field.name.value}`];
      if (override !== undefined) fieldHint.maxAge = override;
      fields.set(field.name.value, { returnType: namedType(field.type), hint: fieldHint });
    }
    const keys = new Map<string, string[]>();
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'join__type') continue;
      const graph = graphNames.get(argumentString(directive, 'graph') ?? '');
      const key = argumentString(directive, 'key');
      const resolvable = directive.arguments?.find((argument) => argument.name.value === 'resolvable');
      if (!graph || !key || /[{}]/.test(key) || keys.has(graph)) continue;
      if (resolvable?.value.kind === Kind.BOOLEAN && !resolvable.value.value) continue;
      keys.set(graph, key.trim().split(/\s+/));
    }
    types.set(typename, { hint, fields, keys });
  }

  // One entry per distinct fetch document: bounded, since clients decide how many distinct operations there are.
  const policies = new LRUCache<string, { policy: FetchPolicy | null }>({ max: MAX_POLICIES });

  function walk(
    selectionSet: SelectionSetNode,
    parentType: string,
    parentMaxAge: number | undefined,
    fragments: Map<string, FragmentDefinitionNode>,
    acc: { maxAge: number; private: boolean },
  ): void {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition?.name.value ?? parentType;
        const conditionType = types.get(condition);
        walk(selection.selectionSet, condition, conditionType?.hint.maxAge ?? parentMaxAge, fragments, acc);
        if (conditionType?.hint.private || conditionType?.hint.inferredPrivate) acc.private = true;
        continue;
      }
      if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(selection.name.value);
        if (!fragment) {
          acc.maxAge = 0;
          continue;
        }
        // As an inline fragment: the type condition's own policy applies (an `_entities` fetch's named fragment).
        const condition = fragment.typeCondition.name.value;
        const conditionType = types.get(condition);
        walk(fragment.selectionSet, condition, conditionType?.hint.maxAge ?? parentMaxAge, fragments, acc);
        if (conditionType?.hint.private || conditionType?.hint.inferredPrivate) acc.private = true;
        continue;
      }
      if (selection.name.value.startsWith('__')) continue;
      const field = types.get(parentType)?.fields.get(selection.name.value);
      if (!field) {
        acc.maxAge = 0;
        continue;
      }
      const returned = types.get(field.returnType);
      // The field's own @cacheControl decides over the settings' policy for the type it returns.
      const settingsOverruled =
        returned?.hint.fromSettings === true && (field.hint.maxAge !== undefined || field.hint.inheritMaxAge === true);
      let maxAge: number | undefined;
      if (field.hint.maxAge !== undefined) maxAge = field.hint.maxAge;
      else if (settingsOverruled) maxAge = parentMaxAge;
      else if (returned) {
        maxAge =
          returned.hint.maxAge ?? (field.hint.inheritMaxAge || returned.hint.inheritMaxAge ? parentMaxAge : undefined);
      } else maxAge = parentMaxAge;
      if (field.hint.private || returned?.hint.private || (returned?.hint.inferredPrivate && !settingsOverruled))
        acc.private = true;
      acc.maxAge = Math.min(acc.maxAge, maxAge ?? 0);
      if (selection.selectionSet) walk(selection.selectionSet, field.returnType, maxAge, fragments, acc);
    }
  }

  return {
    forFetch(shape) {
      const cached = policies.get(shape.query);
      if (cached !== undefined) return cached.policy ?? undefined;
      const fragments = new Map<string, FragmentDefinitionNode>();
      let selectionSet: SelectionSetNode | undefined;
      for (const definition of shape.document.definitions) {
        if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
        if (definition.kind === Kind.OPERATION_DEFINITION) selectionSet = definition.selectionSet;
      }
      const acc = { maxAge: Number.POSITIVE_INFINITY, private: false };
      if (selectionSet) {
        if (shape.entities) {
          const entities = selectionSet.selections[0];
          if (entities?.kind === Kind.FIELD && entities.selectionSet)
            walk(entities.selectionSet, '_Entity', undefined, fragments, acc);
        } else {
          walk(selectionSet, 'Query', undefined, fragments, acc);
        }
      }
      const policy =
        shape.operation === 'query' && Number.isFinite(acc.maxAge) && acc.maxAge > 0
          ? { maxAge: acc.maxAge, private: acc.private }
          : null;
      policies.set(shape.query, { policy });
      return policy ?? undefined;
    },
    keyFields: (subgraph, typename) => types.get(typename)?.keys.get(subgraph),
    entityKeys: (typename) => [...(types.get(typename)?.keys ?? new Map<string, string[]>())],
    rootFieldType: (field) => types.get('Query')?.fields.get(field)?.returnType,
  };
}
