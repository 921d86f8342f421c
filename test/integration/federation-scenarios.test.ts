import { startSpyFederation, type SpyFederation } from '../helpers/spy-subgraphs';
import { ask, startOurs, startReference, type Answer, type Ours, type Target } from '../helpers/gateways';
import { counterValue } from '../../lib/metrics';

/**
 * Federation shapes through our gateway, with every fetch mechanism on and off, against plain Apollo Gateway
 * over the same subgraphs as the reference: the answers (data, errors and their paths) must be identical,
 * while the spy subgraphs show how many requests and representations it took.
 */
const SCENARIOS: Record<string, string> = {
  'entities repeated across waves (deep)': `{ latestReviews { body author { username name reviews { body product { name price shippingEstimate } } }
    product { name shippingEstimate reviews { author { name } } } } }`,
  'an interface': `{ media { title ... on Book { pages reviewCount } ... on Movie { minutes reviewCount } } }`,
  'a union': `{ search(term: "e") { ... on Book { title reviewCount } ... on Movie { title reviewCount } } }`,
  '@requires from another subgraph': `{ topProducts(first: 6) { upc name shippingEstimate } }`,
  '@provides': `{ latestReviews { author { username } } }`,
  'a null entity and an erroring entity in one batch': `{ troubledReviews { id product { upc name price } } }`,
  'the same entity reached by two paths': `{ me { name reviews { product { name } } } users { name reviews { product { name price } } } }`,
  'one fetch of a merged request failing as a whole': `{ me { reviews { product { name } } } troubledReviews { product { name price } } }`,
};

/** The parts of an answer compared with the reference (ours adds development extensions). */
async function answer(url: string, query: string): Promise<Omit<Answer, 'extensions'>> {
  const { extensions: _extensions, ...rest } = await ask(url, query);
  return rest;
}

// The first three run plans with our executor (the default, `waves`); the others with Apollo Gateway's own
// executor over the same data source, batching on and off.
const CONFIGURATIONS: Record<string, Record<string, string>> = {
  'everything on': { BATCHING: 'true', DEDUP_INFLIGHT: 'true', ENTITY_CACHE: 'true', DEDUP_INBOUND: 'all' },
  'everything off': { BATCHING: 'false', DEDUP_INFLIGHT: 'false', ENTITY_CACHE: 'false', DEDUP_INBOUND: 'off' },
  'batching only': { BATCHING: 'true', DEDUP_INFLIGHT: 'false', ENTITY_CACHE: 'false', DEDUP_INBOUND: 'off' },
  'Apollo executor, everything on': {
    PLAN_EXECUTOR: 'apollo',
    BATCHING: 'true',
    DEDUP_INFLIGHT: 'true',
    ENTITY_CACHE: 'true',
    DEDUP_INBOUND: 'all',
  },
  'Apollo executor, everything off': {
    PLAN_EXECUTOR: 'apollo',
    BATCHING: 'false',
    DEDUP_INFLIGHT: 'false',
    ENTITY_CACHE: 'false',
    DEDUP_INBOUND: 'off',
  },
  'Apollo executor, batching only': {
    PLAN_EXECUTOR: 'apollo',
    BATCHING: 'true',
    DEDUP_INFLIGHT: 'false',
    ENTITY_CACHE: 'false',
    DEDUP_INBOUND: 'off',
  },
};
const executorOf = (configuration: string) =>
  (CONFIGURATIONS[configuration]!.PLAN_EXECUTOR ?? 'waves') as 'waves' | 'apollo';

describe('federation scenarios', () => {
  let spies: SpyFederation;
  let reference: Target;
  const ours: Record<string, Ours> = {};

  beforeAll(async () => {
    spies = await startSpyFederation();
    reference = await startReference(spies.supergraphPath);
    for (const [name, env] of Object.entries(CONFIGURATIONS)) ours[name] = await startOurs(spies.supergraphPath, env);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([reference?.close(), ...Object.values(ours).map((target) => target.close())]);
    await spies?.close();
  });
  beforeEach(() => spies.reset());

  describe.each(Object.keys(CONFIGURATIONS))('with %s', (configuration) => {
    it.each(Object.entries(SCENARIOS))('answers %s exactly as Apollo Gateway does', async (_name, query) => {
      const expected = await answer(reference.url, query);
      // Twice: the second answer may come from caches and shared work, and must not differ either.
      expect(await answer(ours[configuration]!.url, query)).toEqual(expected);
      expect(await answer(ours[configuration]!.url, query)).toEqual(expected);
    });

    it(`ran those plans with the ${executorOf(configuration)} executor`, async () => {
      // Not vacuous: a query this configuration has not seen yet goes through the executor it names.
      const planExecutions = ours[configuration]!.gateway.metrics.planExecutions;
      const before = await counterValue(planExecutions, { executor: 'waves' });
      const query = `{ topProducts(first: 2) { upc name } }`;
      expect(await answer(ours[configuration]!.url, query)).toEqual(await answer(reference.url, query));
      if (executorOf(configuration) === 'waves') {
        expect(await counterValue(planExecutions, { executor: 'waves' })).toBe(before + 1);
      } else {
        expect(await counterValue(planExecutions, { executor: 'waves' })).toBe(0);
        expect(before).toBe(0);
      }
    });
  });

  it('lets the other fetches of a merged request resolve when one fetch fails as a whole', async () => {
    // In one wave, products gets a fetch for me's review products (p1) and one for the troubled reviews'
    // (p1, p7, p8, p2): p8's reference resolver throws, which nulls that whole `_entities` list.
    const result = (await answer(
      ours['everything on']!.url,
      SCENARIOS['one fetch of a merged request failing as a whole']!,
    )) as {
      data: { me: { reviews: { product: { name: string } | null }[] }; troubledReviews: { product: unknown }[] };
      errors: { code: string }[];
    };
    expect(result.data.me.reviews.map((review) => review.product)).toEqual(Array(4).fill({ name: 'Product 1' }));
    expect(result.data.troubledReviews.map((review) => review.product)).toEqual([null, null, null, null]);
    expect(result.errors.map((error) => error.code)).toEqual(['CORRUPTED']);
  });

  it('sends each wave to each subgraph once, with each distinct entity once', async () => {
    const query = SCENARIOS['entities repeated across waves (deep)']!;
    await answer(reference.url, query);
    const apollo = { ...countRequests(spies) };
    spies.reset();
    await answer(ours['batching only']!.url, query);
    const batchedOnly = countRequests(spies);
    expect(batchedOnly.requests).toBeLessThanOrEqual(apollo.requests);
    expect(batchedOnly.representations).toBeLessThan(apollo.representations);
    // Every representation in one HTTP request to a subgraph is distinct.
    for (const request of Object.values(spies.requests).flat()) {
      for (const [name, value] of Object.entries(request.variables)) {
        if (!Array.isArray(value) || !name.endsWith('representations')) continue;
        expect(new Set(value.map((item) => JSON.stringify(item))).size).toBe(value.length);
      }
    }
  });

  it('coalesces two fetches to one subgraph in the same wave into one HTTP request', async () => {
    const query = SCENARIOS['the same entity reached by two paths']!;
    const expected = await answer(reference.url, query);
    const apollo = countRequests(spies).requests;
    spies.reset();
    expect(await answer(ours['batching only']!.url, query)).toEqual(expected);
    expect(countRequests(spies).requests).toBeLessThan(apollo);
    expect(spies.requests.products!.some((request) => request.query.includes('BatchedFetches'))).toBe(true);
  });

  it('puts entities back in order when a subgraph answers them out of order', async () => {
    const query = `{ latestReviews { id product { name } } }`;
    const expected = await answer(reference.url, query);
    spies.faults.reverseEntities = true;
    expect(await answer(ours['everything off']!.url, query)).toEqual(expected);
  });

  it.each(['everything on', 'batching only', 'Apollo executor, batching only'])(
    'with %s, fails only the missing entity when a subgraph drops the last one, and caches nothing wrong',
    async (configuration) => {
      // Better than the reference on purpose: Apollo Gateway fails every product of the fetch ("Expected
      // data._entities to contain 3 elements"); the answers carry their keys, so the two that came back are
      // certain and are kept. The fetch carries p1, p2, p3 once each; p3 is dropped, wherever it appears.
      const query = `{ latestReviews { id product { upc name } } }`;
      const healthy = (await answer(reference.url, query)) as {
        data: { latestReviews: { product: { upc: string } | null }[] };
      };
      spies.faults.dropLastEntity = true;
      const expected = structuredClone(healthy);
      const errors: unknown[] = [];
      expected.data.latestReviews.forEach((review, index) => {
        if (review.product?.upc !== 'p3') return;
        review.product = null;
        errors.push({
          message: "Subgraph 'products' returned no entity for this representation",
          path: ['latestReviews', index, 'product'],
          code: 'SUBGRAPH_INVALID_RESPONSE',
        });
      });
      expect(errors).toHaveLength(4);
      expect(await answer(ours[configuration]!.url, query)).toEqual({ ...expected, errors });
      // Again, warm: what was cached or remembered is right, and the missing one is still reported.
      expect(await answer(ours[configuration]!.url, query)).toEqual({ ...expected, errors });
      spies.faults.dropLastEntity = false;
      expect(await answer(ours[configuration]!.url, query)).toEqual(healthy);
    },
  );
});

function countRequests(spies: SpyFederation) {
  const all = Object.values(spies.requests).flat();
  const representations = all.reduce(
    (sum, request) =>
      sum +
      Object.entries(request.variables).reduce(
        (inner, [name, value]) => inner + (name.endsWith('representations') && Array.isArray(value) ? value.length : 0),
        0,
      ),
    0,
  );
  return { requests: all.length, representations };
}
