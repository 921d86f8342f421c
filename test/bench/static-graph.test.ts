import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { STATIC_SUBGRAPH_NAMES, type StaticSubgraphName } from '../../bench/static-graph/subgraphs';
import { REVIEWS_PER_USER, USER_COUNT, reviewsByProduct } from '../../bench/static-graph/data';
import { startStaticSubgraph, type StaticSubgraphServer } from '../../bench/static-graph/server';
import { composeStaticSupergraph } from '../../bench/static-graph/supergraph';
import { readSubgraphCounters } from '../../bench/prometheus';
import { FOUR_SUBGRAPH_QUERY } from '../../bench/workloads/four-subgraph';

interface ProductFacts {
  upc: string;
  name: string;
  priceCents: number;
  weightGrams: number;
  inStock: boolean;
  shippingEstimateCents: number;
}
interface Review {
  id: string;
  product: ProductFacts & { reviews: { author: { id: string; reviews: { product: ProductFacts }[] } }[] };
}
interface DeepAnswer {
  data?: {
    users: { id: string; username: string; reviews: Review[] }[];
    topProducts: (ProductFacts & { reviews: { author: { username: string } }[] })[];
  };
  errors?: unknown[];
}

describe('the four-subgraph static graph', () => {
  const subgraphs = new Map<StaticSubgraphName, StaticSubgraphServer>();
  let server: ApolloServer | undefined;
  let gatewayUrl = '';

  beforeAll(async () => {
    for (const name of STATIC_SUBGRAPH_NAMES) subgraphs.set(name, await startStaticSubgraph(name));
    const urls = Object.fromEntries([...subgraphs].map(([name, subgraph]) => [name, subgraph.url])) as Record<StaticSubgraphName, string>;
    server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl: composeStaticSupergraph(urls) }) });
    ({ url: gatewayUrl } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } }));
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all([...subgraphs.values()].map((subgraph) => subgraph.close()));
  });

  async function ask(query: string): Promise<{ status: number; body: DeepAnswer; text: string }> {
    const response = await fetch(gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    const text = await response.text();
    return { status: response.status, body: JSON.parse(text) as DeepAnswer, text };
  }

  it('composes into a supergraph that routes to all four subgraphs', () => {
    const urls = { accounts: 'http://a/graphql', inventory: 'http://i/graphql', products: 'http://p/graphql', reviews: 'http://r/graphql' };
    const supergraph = composeStaticSupergraph(urls);
    for (const [name, url] of Object.entries(urls)) expect(supergraph).toContain(`name: "${name}", url: "${url}"`);
  });

  it('answers the deep query through Apollo Gateway, every level complete and consistent', async () => {
    const { status, body, text } = await ask(FOUR_SUBGRAPH_QUERY);
    expect(status).toBe(200);
    expect(body.errors).toBeUndefined();
    const users = body.data!.users;
    expect(users).toHaveLength(USER_COUNT);
    let leafProducts = 0;
    for (const user of users) {
      expect(user.reviews).toHaveLength(REVIEWS_PER_USER);
      for (const review of user.reviews) {
        expect(review.product.reviews).toHaveLength(reviewsByProduct.get(review.product.upc)!.length);
        for (const productReview of review.product.reviews) {
          // The reviewer at the bottom is one of the product's reviewers, whose own reviews come round again.
          expect(productReview.author.reviews).toHaveLength(REVIEWS_PER_USER);
          leafProducts += productReview.author.reviews.length;
          for (const authored of productReview.author.reviews) {
            // inventory's @requires: the estimate needs price and weight from products.
            const { priceCents, weightGrams, shippingEstimateCents } = authored.product;
            expect(shippingEstimateCents).toBe(priceCents >= 5_000 ? 0 : Math.round(weightGrams / 2));
          }
        }
      }
    }
    expect(leafProducts).toBe(USER_COUNT * REVIEWS_PER_USER ** 3);
    expect(body.data!.topProducts.map((product) => product.upc)).toEqual(['UPC-001', 'UPC-002', 'UPC-003', 'UPC-004', 'UPC-005']);
    expect(body.data!.topProducts[0]!.reviews.map((review) => review.author.username).every(Boolean)).toBe(true);
    // The answer is of the public benchmarks' size: tens of kilobytes over a handful of distinct entities.
    expect(text.length).toBeGreaterThan(50_000);
  });

  it('counts HTTP requests and entity representations on /metrics, as the bench reads them', async () => {
    const metricsUrl = (name: StaticSubgraphName) => subgraphs.get(name)!.url.replace(/\/graphql$/, '/metrics');
    const before = await readSubgraphCounters(metricsUrl('inventory'));
    await ask('{ topProducts(first: 3) { upc inStock } }');
    const after = await readSubgraphCounters(metricsUrl('inventory'));
    expect(after.httpRequests - before.httpRequests).toBe(1);
    expect(after.representations - before.representations).toBe(3);
    expect(after.sqlStatements).toBe(0);
  });
});
