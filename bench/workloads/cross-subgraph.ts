import { project, type Shape } from '../compare';
import { compact, edgeNodes, graphqlRequest, userRepresentations, type DirectRequests, type Workload } from './workload';

/** Users (users), their orders (orders), the orders' products (inventory) and shipping (orders, @requires). */
export const CROSS_SUBGRAPH_QUERY = compact(`
  query CrossSubgraph {
    users(first: 10) {
      edges {
        node {
          id
          name
          orders(first: 5) {
            edges {
              node {
                id
                totalCents
                items { quantity product { sku name stock shippingEstimateCents } }
              }
            }
          }
        }
      }
    }
  }
`);

/** The gateway's biggest fetch for this query: the orders of the ten users, as one `_entities` call. */
const DIRECT_QUERY = compact(`
  query CrossSubgraphOrders($representations: [_Any!]!) {
    _entities(representations: $representations) {
      ... on User {
        orders(first: 5) {
          edges { node { id totalCents items { quantity product { sku } } } }
        }
      }
    }
  }
`);

const DIRECT_SHAPE: Shape = {
  orders: { edges: { node: { id: true, totalCents: true, items: { quantity: true, product: { sku: true } } } } },
};

export function directCrossSubgraph(): DirectRequests {
  return {
    subgraph: 'orders',
    description: "orders `_entities` for the 10 users' orders and items",
    requests: [graphqlRequest('query', DIRECT_QUERY, { representations: userRepresentations(10) })],
    expected: (reference) => ({ data: { _entities: project(edgeNodes(reference, 'data.users.edges'), DIRECT_SHAPE) } }),
  };
}

export function crossSubgraphWorkload(): Workload {
  return {
    name: 'cross-subgraph',
    description: '10 users, 5 orders each, their items and products: all three subgraphs, admin token',
    requests: [graphqlRequest('query', CROSS_SUBGRAPH_QUERY)],
    stateful: false,
    direct: directCrossSubgraph(),
  };
}
