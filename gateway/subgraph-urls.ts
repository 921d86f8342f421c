import { Kind, parse } from 'graphql';

/**
 * The subgraph names a supergraph declares: the `name:` of each `@join__graph` on the `join__Graph` enum
 * (whatever prefix the join spec was linked under).
 */
export function subgraphNamesOf(supergraphSdl: string): string[] {
  const names: string[] = [];
  for (const definition of parse(supergraphSdl, { noLocation: true }).definitions) {
    if (definition.kind !== Kind.ENUM_TYPE_DEFINITION || !/(^|__)Graph$/.test(definition.name.value)) continue;
    for (const value of definition.values ?? []) {
      const graph = value.directives?.find((directive) => /(^|__)graph$/.test(directive.name.value));
      const name = graph?.arguments?.find((argument) => argument.name.value === 'name')?.value;
      if (name?.kind === Kind.STRING) names.push(name.value);
    }
  }
  return names;
}

/**
 * `SUBGRAPH_URL_<NAME>` overrides are read before any supergraph is (the gateway serves anyone's), so a typo
 * (`SUBGRAPH_URL_ORDER`) could only be caught here, once the supergraph says which subgraphs exist; unchecked,
 * it would silently leave the real subgraph on its routing URL. Returns the problem, naming the variable, the
 * file and the names it knows, or undefined when every override names a subgraph.
 */
export function unknownSubgraphUrlOverrides(
  supergraphSdl: string,
  overrides: Readonly<Record<string, string>>,
  supergraphPath: string,
): string | undefined {
  const known = subgraphNamesOf(supergraphSdl);
  const lowerCase = new Set(known.map((name) => name.toLowerCase()));
  const problems = Object.keys(overrides)
    .filter((name) => !lowerCase.has(name))
    .map(
      (name) =>
        `SUBGRAPH_URL_${name.toUpperCase()}: no subgraph named '${name}' in ${supergraphPath}; known: ${known.join(', ')}`,
    );
  return problems.length > 0 ? problems.join('\n') : undefined;
}
