import { project, type Shape } from '../compare';
import { compact, graphqlRequest, type Workload } from './workload';

/**
 * The shape of the public gateway benchmarks (four subgraphs of static data, one deep query that keeps coming
 * back to the same entities), with our own subgraphs and query: every user's reviews, their products, those
 * products' reviews, their authors, and the authors' reviews' products again, plus the top products: about 640
 * product objects in a 120 KB answer, over 10 distinct products and 10 distinct users.
 */
export const FOUR_SUBGRAPH_QUERY = compact(`
  query ReviewersOfReviewedProducts {
    users {
      ...Person
      reviews {
        ...ReviewFacts
        product {
          ...ProductFacts
          reviews {
            ...ReviewFacts
            author {
              ...Person
              reviews { id product { ...ProductFacts } }
            }
          }
        }
      }
    }
    topProducts(first: 5) { ...ProductFacts reviews { ...ReviewFacts author { id username } } }
  }
  fragment Person on User { id name username birthYear }
  fragment ReviewFacts on Review { id body rating }
  fragment ProductFacts on Product { upc name priceCents weightGrams inStock shippingEstimateCents }
`);

/** The top-level fetch of the plan, straight to accounts. */
const DIRECT_QUERY = compact('query Users { users { id name username birthYear } }');
const DIRECT_SHAPE: Shape = { id: true, name: true, username: true, birthYear: true };

export function fourSubgraphWorkload(): Workload {
  return {
    name: 'four-subgraph',
    description:
      "four foreign subgraphs of static data (accounts, products, inventory, reviews; no signatures, no @cacheControl): users' reviews' products' reviews' authors' reviews' products, and the top products; " +
      'ours with COST_DEFAULT_LIST_SIZE=5 (at the default 10 its cost estimate, 22,420, exceeds COST_MAX 20,000)',
    graph: 'static',
    requests: [graphqlRequest('query', FOUR_SUBGRAPH_QUERY)],
    stateful: false,
    direct: {
      subgraph: 'accounts',
      description: 'accounts, the users (the plan\'s first fetch)',
      requests: [graphqlRequest('query', DIRECT_QUERY)],
      expected: (reference) => {
        const users = (reference as { data?: { users?: unknown } } | undefined)?.data?.users;
        return { data: { users: project(users, DIRECT_SHAPE) } };
      },
    },
  };
}
