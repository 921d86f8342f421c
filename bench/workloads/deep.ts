import { project, type Shape } from '../compare';
import { compact, edgeNodes, graphqlRequest, userRepresentations, type Workload } from './workload';

/**
 * One query that comes back to the same entities again and again: products directly and through orders,
 * users directly, as every order's owner, and through repeated (aliased) order lookups whose owners fan out
 * into their orders again. The 20 users and their ~100 orders reach about 250 order lines over 100 products,
 * so a gateway that batches and deduplicates fetches far fewer entities than one that does not.
 */
export const DEEP_QUERY = compact(`
  query DeepRevisits {
    products(first: 20) { edges { node { ...ProductFacts } } }
    users(first: 20) { edges { node { ...UserWithOrders } } }
    a: order(id: "1") { ...OrderFacts user { ...UserWithOrders } }
    b: order(id: "1") { ...OrderFacts user { ...UserWithOrders } }
    c: order(id: "2") { ...OrderFacts user { ...UserWithOrders } }
    d: order(id: "2") { ...OrderFacts user { ...UserWithOrders } }
  }
  fragment ProductFacts on Product { sku name priceCents stock shippingEstimateCents }
  fragment OrderFacts on Order { id totalCents user { id name } items { quantity product { ...ProductFacts } } }
  fragment UserWithOrders on User { id name orders(first: 5) { edges { node { ...OrderFacts } } } }
`);

/** The largest single fetch of the plan: the 20 users' orders, their owners and lines, from orders. */
const DIRECT_QUERY = compact(`
  query DeepOrders($representations: [_Any!]!) {
    _entities(representations: $representations) {
      ... on User {
        orders(first: 5) {
          edges { node { id totalCents user { id } items { quantity product { sku } } } }
        }
      }
    }
  }
`);

const DIRECT_SHAPE: Shape = {
  orders: {
    edges: { node: { id: true, totalCents: true, user: { id: true }, items: { quantity: true, product: { sku: true } } } },
  },
};

export function deepWorkload(): Workload {
  return {
    name: 'deep',
    description: 'products, 20 users with 5 orders each, and aliased order lookups: the same users and products many times over',
    requests: [graphqlRequest('query', DEEP_QUERY)],
    stateful: false,
    direct: {
      subgraph: 'orders',
      description: "orders `_entities` for the 20 users' orders, owners and items",
      requests: [graphqlRequest('query', DIRECT_QUERY, { representations: userRepresentations(20) })],
      expected: (reference) => ({ data: { _entities: project(edgeNodes(reference, 'data.users.edges'), DIRECT_SHAPE) } }),
    },
  };
}
