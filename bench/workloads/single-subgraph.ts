import { compact, graphqlRequest, type Workload } from './workload';

export const SINGLE_SUBGRAPH_QUERY = compact(`
  query SingleSubgraph {
    products(first: 50) { edges { node { sku name priceCents stock } } }
  }
`);

/** One subgraph only: the gateway's cost is pure overhead, and subgraph-direct asks inventory the same query. */
export function singleSubgraphWorkload(): Workload {
  return {
    name: 'single-subgraph',
    description: '50 products from inventory alone: what the gateway adds on top of one subgraph',
    requests: [graphqlRequest('query', SINGLE_SUBGRAPH_QUERY)],
    stateful: false,
    direct: {
      subgraph: 'inventory',
      description: 'inventory, the same query',
      requests: [graphqlRequest('query', SINGLE_SUBGRAPH_QUERY)],
      expected: (reference) => reference,
    },
  };
}
