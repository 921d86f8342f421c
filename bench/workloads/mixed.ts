import { CROSS_SUBGRAPH_QUERY, directCrossSubgraph } from './cross-subgraph';
import { compact, graphqlRequest, type BenchRequest, type Workload, type WorkloadContext } from './workload';

/** Every tenth request is a mutation. */
const QUERIES_PER_MUTATION = 9;

/**
 * Ordering one unit of one product: orders reserves stock in inventory (service to service) and the answer
 * reads the product back through the gateway. The bench restocks that product first so it never sells out.
 */
export function placeOrderMutation(sku: string): string {
  return compact(`
    mutation PlaceBenchOrder {
      placeOrder(input: { items: [{ sku: ${JSON.stringify(sku)}, quantity: 1 }] }) {
        id
        status
        totalCents
        items { quantity product { sku name } }
      }
    }
  `);
}

/** The same order placed on the orders subgraph itself (its own fields only). */
function directPlaceOrderMutation(sku: string): string {
  return compact(`
    mutation PlaceBenchOrder {
      placeOrder(input: { items: [{ sku: ${JSON.stringify(sku)}, quantity: 1 }] }) { id status totalCents }
    }
  `);
}

function withMutations(query: BenchRequest, mutation: BenchRequest): BenchRequest[] {
  return [...Array.from({ length: QUERIES_PER_MUTATION }, () => query), mutation];
}

export function mixedWorkload(context: WorkloadContext): Workload {
  const cross = directCrossSubgraph();
  return {
    name: 'mixed',
    description: `90% the cross-subgraph query, 10% placeOrder (1 x ${context.orderSku}); mutations are not compared, only their errors counted`,
    requests: withMutations(
      graphqlRequest('query', CROSS_SUBGRAPH_QUERY),
      graphqlRequest('mutation', placeOrderMutation(context.orderSku)),
    ),
    // New orders show up in user 1's newest orders, and stock in every answer that lists the product.
    stateful: true,
    direct: {
      ...cross,
      description: `${cross.description}, and every tenth request placeOrder on orders`,
      requests: withMutations(cross.requests[0]!, graphqlRequest('mutation', directPlaceOrderMutation(context.orderSku))),
    },
  };
}
