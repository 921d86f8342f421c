import {
  Kind,
  parse,
  type ConstDirectiveNode,
  type DefinitionNode,
  type FieldDefinitionNode,
  type TypeNode,
} from 'graphql';

/**
 * Which key fields each subgraph can answer for each entity type, read from the supergraph's `join__` directives.
 *
 * The gateway adds key fields to `_entities` selections so that it can check which entity each answer is. It
 * may only ask a subgraph for a field that subgraph resolves itself: a key field marked `@external` there (the
 * subgraph receives it but cannot return it), a field another subgraph overrides (progressive `@override`
 * included), or a field the subgraph does not define for that type (`@interfaceObject` types see only their
 * own fields) would make the subgraph error or answer null and lose the entity. So a key set is usable only
 * when every field in it is a leaf (flat key), and defined and not external in that subgraph.
 */
export interface EntityKeyIndex {
  /** The usable key sets of `typename` in `subgraph`, in declaration order (empty when none). */
  keySets(subgraph: string, typename: string): readonly (readonly string[])[];
}

interface FieldJoin {
  /** No `@join__field` at all: the field is in every subgraph that has the type. */
  everywhere: boolean;
  /** Subgraphs (by enum value) that resolve the field themselves. */
  resolvers: Set<string>;
  leaf: boolean;
}

const NONE: readonly (readonly string[])[] = Object.freeze([]);

const namedType = (type: TypeNode): string => (type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type));

function argument(directive: ConstDirectiveNode, name: string): string | boolean | undefined {
  const value = directive.arguments?.find((candidate) => candidate.name.value === name)?.value;
  if (!value) return undefined;
  if (value.kind === Kind.STRING || value.kind === Kind.ENUM) return value.value;
  if (value.kind === Kind.BOOLEAN) return value.value;
  return undefined;
}

export function createEntityKeyIndex(supergraphSdl: string): EntityKeyIndex {
  const document = parse(supergraphSdl, { noLocation: true });
  const graphNames = new Map<string, string>();
  const composite = new Set<string>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.ENUM_TYPE_DEFINITION && definition.name.value === 'join__Graph') {
      for (const value of definition.values ?? []) {
        const graph = value.directives?.find((directive) => directive.name.value === 'join__graph');
        const name = graph && argument(graph, 'name');
        if (typeof name === 'string') graphNames.set(value.name.value, name);
      }
    }
    if (
      definition.kind === Kind.OBJECT_TYPE_DEFINITION ||
      definition.kind === Kind.INTERFACE_TYPE_DEFINITION ||
      definition.kind === Kind.UNION_TYPE_DEFINITION ||
      definition.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION
    )
      composite.add(definition.name.value);
  }

  // subgraph name -> type name -> key sets
  const index = new Map<string, Map<string, string[][]>>();
  for (const definition of document.definitions) indexType(definition);

  function indexType(definition: DefinitionNode): void {
    if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION && definition.kind !== Kind.INTERFACE_TYPE_DEFINITION) return;
    const fields = new Map<string, FieldJoin>();
    for (const field of definition.fields ?? ([] as readonly FieldDefinitionNode[])) {
      const joins = field.directives?.filter((directive) => directive.name.value === 'join__field') ?? [];
      const resolvers = new Set<string>();
      for (const join of joins) {
        const graph = argument(join, 'graph');
        if (typeof graph !== 'string') continue;
        if (argument(join, 'external') === true || argument(join, 'usedOverridden') === true) continue;
        // Progressively overridden: which subgraph resolves it depends on the request, so neither is sure.
        if (argument(join, 'overrideLabel') !== undefined) continue;
        resolvers.add(graph);
      }
      fields.set(field.name.value, {
        everywhere: joins.length === 0,
        resolvers,
        leaf: !composite.has(namedType(field.type)),
      });
    }
    const typeGraphs = new Set<string>();
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'join__type') continue;
      const graph = argument(directive, 'graph');
      if (typeof graph === 'string') typeGraphs.add(graph);
    }
    for (const directive of definition.directives ?? []) {
      if (directive.name.value !== 'join__type') continue;
      const graph = argument(directive, 'graph');
      const key = argument(directive, 'key');
      const subgraph = typeof graph === 'string' ? graphNames.get(graph) : undefined;
      if (!subgraph || typeof graph !== 'string' || typeof key !== 'string') continue;
      if (argument(directive, 'resolvable') === false || /[{}():@$]/.test(key)) continue;
      const names = key
        .trim()
        .split(/[\s,]+/)
        .filter(Boolean);
      const usable = names.every((name) => {
        const field = fields.get(name);
        return (
          field !== undefined && field.leaf && (field.everywhere ? typeGraphs.has(graph) : field.resolvers.has(graph))
        );
      });
      if (!usable || names.length === 0) continue;
      let types = index.get(subgraph);
      if (!types) index.set(subgraph, (types = new Map()));
      const sets = types.get(definition.name.value);
      if (sets) sets.push(names);
      else types.set(definition.name.value, [names]);
    }
  }

  return {
    keySets: (subgraph, typename) => index.get(subgraph)?.get(typename) ?? NONE,
  };
}
