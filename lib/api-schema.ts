import { Supergraph } from '@apollo/federation-internals';
import {
  Kind,
  parse,
  print,
  printSchema,
  visit,
  type DirectiveNode,
  type ValueNode,
  type DefinitionNode,
  type DirectiveDefinitionNode,
  type DocumentNode,
  type TypeNode,
} from 'graphql';

/**
 * A composed directive (our `@cacheControl`) enters the supergraph through a `@link` that imports only the
 * directive, and the API schema drops it with its link; but a type only its arguments use (the
 * `CacheControlScope` enum) is not part of that link, so it stays behind in the API schema, in introspection
 * and in every client's generated types, with nothing that can use it. Composition will not let us mark it
 * `@inaccessible` (the directive still references it), so instead the type is added to its link's imports:
 * the supergraph keeps it (and the entity cache policy keeps reading `@cacheControl` from the original SDL),
 * and Apollo's API schema removes it with the directive it belongs to. Any supergraph, not only ours: only
 * types referenced by nothing but the linked directive's arguments move, so nothing a client can query does.
 */
export function withLinkedDirectiveTypesImported(supergraphSdl: string): string {
  const document = parse(supergraphSdl, { noLocation: true });
  const directives = new Map<string, DirectiveDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.DIRECTIVE_DEFINITION) directives.set(definition.name.value, definition);

  // Every reference to a named type, by the definition it appears in (a directive definition by `@name`).
  const referencedBy = new Map<string, Set<string>>();
  for (const definition of document.definitions) {
    const owner = ownerName(definition);
    if (owner === undefined) continue;
    visit(definition, {
      NamedType(node) {
        let owners = referencedBy.get(node.name.value);
        if (!owners) referencedBy.set(node.name.value, (owners = new Set()));
        owners.add(owner);
      },
      // Applied directives name no types (their arguments are values).
      Directive: () => false,
    });
  }
  const onlyUsedBy = (type: string, directive: string) => {
    const owners = referencedBy.get(type);
    return owners !== undefined && owners.size === 1 && owners.has(`@${directive}`);
  };

  let changed = false;
  const rewritten = visit(document, {
    Directive(node) {
      if (node.name.value !== 'link') return undefined;
      const imports = node.arguments?.find((argument) => argument.name.value === 'import');
      if (!imports || imports.value.kind !== Kind.LIST) return undefined;
      const imported = new Set(imports.value.values.map(importedName).filter((name) => name !== undefined));
      const added: string[] = [];
      for (const name of imported) {
        if (!name.startsWith('@')) continue;
        const definition = directives.get(name.slice(1));
        for (const argument of definition?.arguments ?? []) {
          const type = namedType(argument.type);
          if (!imported.has(type) && !added.includes(type) && onlyUsedBy(type, name.slice(1))) added.push(type);
        }
      }
      if (added.length === 0) return undefined;
      changed = true;
      const values: ValueNode[] = [
        ...imports.value.values,
        ...added.map((type): ValueNode => ({ kind: Kind.STRING, value: type })),
      ];
      return {
        ...node,
        arguments: node.arguments!.map((argument) =>
          argument === imports ? { ...argument, value: { kind: Kind.LIST, values } } : argument,
        ),
      } satisfies DirectiveNode;
    },
  });
  return changed ? print(rewritten as DocumentNode) : supergraphSdl;
}

/** The client-facing schema of a supergraph, as the gateway serves it: what codegen and introspection see. */
export function printApiSchema(supergraphSdl: string): string {
  const api = Supergraph.build(withLinkedDirectiveTypesImported(supergraphSdl)).apiSchema();
  return `${printSchema(api.toGraphQLJSSchema())}\n`;
}

function ownerName(definition: DefinitionNode): string | undefined {
  if (definition.kind === Kind.DIRECTIVE_DEFINITION) return `@${definition.name.value}`;
  return 'name' in definition && definition.name ? definition.name.value : undefined;
}

function importedName(value: ValueNode): string | undefined {
  if (value.kind === Kind.STRING) return value.value;
  if (value.kind !== Kind.OBJECT) return undefined;
  // `{ name: "@x", as: "@y" }`: the schema knows it by its `as`.
  const field = (key: string) => value.fields.find((candidate) => candidate.name.value === key)?.value;
  const local = field('as') ?? field('name');
  return local?.kind === Kind.STRING ? local.value : undefined;
}

const namedType = (type: TypeNode): string => (type.kind === Kind.NAMED_TYPE ? type.name.value : namedType(type.type));
