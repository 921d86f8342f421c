import { composeSubgraphs } from '../../tools/schema/compose';
import { STATIC_SUBGRAPH_NAMES, staticSubgraphSdl, type StaticSubgraphName } from './subgraphs';

/**
 * Composes the four static subgraphs with `@apollo/composition` (through the schema tool's `composeSubgraphs`)
 * into a supergraph whose routing URLs are `urls`: the bench composes it at start, for this run's ports.
 */
export function composeStaticSupergraph(urls: Record<StaticSubgraphName, string>): string {
  const outcome = composeSubgraphs(
    STATIC_SUBGRAPH_NAMES.map((name) => ({ name, url: urls[name], origin: `bench/static-graph (${name})`, sdl: staticSubgraphSdl(name) })),
  );
  if (!outcome.ok) {
    throw new Error(`the static subgraphs do not compose: ${outcome.errors.map((error) => error.message).join('; ')}`);
  }
  return outcome.supergraphSdl;
}
