import { createClient } from 'redis';
import { ask, startOurs, startReference, type Answer, type Ours, type Target } from '../helpers/gateways';
import { startMatrixFederation, type MatrixFederation } from '../helpers/matrix-subgraphs';
import { requireRedis, TEST_REDIS_URL } from '../helpers/system';
import { counterValue } from '../../lib/metrics';

/**
 * The scenario matrix: every shape a federation estate has, through plain Apollo Gateway (the reference) and
 * through ours in every configuration, over the same subgraphs (`matrix-subgraphs.ts`). Each answer must
 * equal Apollo's: the same data, and the same errors with the same messages, paths and codes. Each scenario
 * is asked twice (the second answer may come from caches and memos) and must not differ either.
 *
 * Where we deliberately answer differently, the scenario says so and why (`differs`), states what Apollo
 * answers, and what we answer instead, derived from Apollo's answer over a pricing subgraph that behaves.
 */

type Query = { query: string; variables?: Record<string, unknown> };

interface Difference {
  why: string;
  /** What Apollo Gateway answers, next to the answer with pricing behaving (asserted, so the reason stays true). */
  apollo(answer: Comparable, healthy: Comparable): void;
  /** Our answer, from Apollo's answer over the same subgraphs with pricing behaving. */
  ours(healthy: Comparable): Comparable;
}

interface Scenario extends Query {
  differs?: Difference;
}

type Comparable = Omit<Answer, 'extensions'>;

const MISSING_ENTITY = "Subgraph 'pricing' returned no entity for this representation";

/** Pricing left these products out of its answer: each has a null price and an error at its own path. */
function missingPrices(healthy: Comparable, root: string, skus: string[]): Comparable {
  const copy = structuredClone(healthy) as Comparable & { data: Record<string, { sku: string; price: unknown }[]> };
  const errors: Comparable['errors'] = [];
  copy.data[root]!.forEach((product, index) => {
    if (!skus.includes(product.sku)) return;
    product.price = null;
    errors.push({ message: MISSING_ENTITY, path: [root, index], code: 'SUBGRAPH_INVALID_RESPONSE' });
  });
  return { ...copy, errors: [...(healthy.errors ?? []), ...errors] };
}

/** The pricing fetch failed as a whole: every price null, one error without a path. */
function failedPrices(healthy: Comparable, root: string, message: string): Comparable {
  const copy = structuredClone(healthy) as Comparable & { data: Record<string, { price: unknown }[]> };
  for (const product of copy.data[root]!) product.price = null;
  return { ...copy, errors: [{ message, path: undefined, code: 'SUBGRAPH_INVALID_RESPONSE' }] };
}

const apolloFailsTheFetch = (count: number) => (answer: Comparable) => {
  expect(answer.errors?.at(-1)).toEqual({
    message: `Expected "data._entities" to contain ${count} elements`,
    path: undefined,
    code: 'INTERNAL_SERVER_ERROR',
  });
};

const SHORT: (skus: string[]) => Difference = (skus) => ({
  why:
    'a short _entities answer: Apollo fails every entity of the fetch; we match the answers by key, keep the ones ' +
    'that came back and fail only the missing ones, each at its own path',
  apollo: apolloFailsTheFetch(skus.length),
  ours: (healthy) =>
    missingPrices(
      healthy,
      'products',
      skus.filter((sku) => sku.startsWith('LOST')),
    ),
});

const SCENARIOS: Record<string, Scenario> = {
  // Entities, keys and plain joins
  'entities joined from two subgraphs': { query: '{ products { sku name price } }' },
  'a nullable root entity that does not exist': { query: '{ product(sku: "NOPE") { name price } }' },
  'one root entity with fields from four subgraphs': {
    query: '{ product(sku: "C") { name price inStock stockLevel shippingCost(zone: "EU") } }',
  },
  'aliases on root fields and entity fields': {
    query:
      '{ cheap: products(skus: ["A", "B"]) { n: name p: price sku } other: products(skus: ["C"]) { name p: price } }',
  },
  'the same field under two aliases with different arguments': {
    query: '{ products(skus: ["A", "D"]) { eur: priceIn(currency: "EUR") usd: priceIn(currency: "USD") } }',
  },
  'arguments from variables in an entity fetch': {
    query: 'query ($currency: String!) { products { sku priceIn(currency: $currency) } }',
    variables: { currency: 'USD' },
  },
  '__typename only': { query: '{ products { __typename } accounts { __typename } search(term: "e") { __typename } }' },
  '__typename beside entity fields': { query: '{ products(skus: ["A"]) { __typename sku price __typename } }' },
  // Several keys
  'an entity reachable only through its second key': { query: '{ reviews { id product { id name price } } }' },
  'a second key then a third subgraph by the first key': {
    query: '{ reviews { product { sku inStock shippingCost(zone: "EU") } } }',
  },
  'a type with two keys asked by either': {
    query: '{ user(id: "u2") { email name reviews { body } } accounts { ... on User { email name } } }',
  },
  // @external keys
  'an @external key field the answering subgraph cannot return': {
    query: '{ user(id: "u1") { id name points nickname } }',
  },
  '@external keys for a list, beside other subgraphs': {
    query: '{ accounts { id ... on User { email points nickname reviews { rating } } } }',
  },
  // @interfaceObject
  '@interfaceObject fields through the interface': { query: '{ accounts { id name tier } }' },
  '@interfaceObject fields through concrete fragments': {
    query: '{ accounts { ... on User { name tier email } ... on Admin { level tier } } }',
  },
  '@interfaceObject with @requires': { query: '{ accounts { id greeting } }' },
  '@interfaceObject entities at the root, concrete types resolved': {
    query: '{ topAccounts { id tier ... on User { email } ... on Admin { level } } }',
  },
  '@interfaceObject at the root, __typename asked': { query: '{ topAccounts { __typename id name } }' },
  '@interfaceObject at the root with @requires and keys': {
    query: '{ topAccounts { greeting ... on User { points } } }',
  },
  // @requires, @provides, @override, @shareable
  '@requires with field arguments': { query: '{ products { sku shippingCost(zone: "EU") } }' },
  '@requires with arguments from variables': {
    query: 'query ($zone: String!) { products(skus: ["A", "C"]) { shippingCost(zone: $zone) name } }',
    variables: { zone: 'US' },
  },
  '@provides: the providing subgraph answers': { query: '{ reviews { author { name } } }' },
  '@provides and a field it does not provide': { query: '{ reviews { author { name email } } }' },
  '@override without a label': { query: '{ products { sku inStock } }' },
  '@override with a progressive label': { query: '{ products { sku stockLevel } }' },
  '@shareable value types resolved by two subgraphs': {
    query: '{ products { listPrice { amount currency } price } reviews { category { name slug } } }',
  },
  // Abstract types
  'a union spanning subgraphs': {
    query: '{ search(term: "e") { ... on Product { name price } ... on Review { body author { name } } } }',
  },
  'fragments on abstract types, named and inline': {
    query: `query { accounts { ...AccountFields ... on User { ...UserFields } } search(term: "a") { ...Hit } }
      fragment AccountFields on Account { id name }
      fragment UserFields on User { email points }
      fragment Hit on SearchResult { __typename ... on Product { sku } ... on Review { rating } }`,
  },
  'one batch with two types sharing a key value': {
    query: '{ search(term: "e") { ... on Product { id reviews { id } } ... on Review { id body rating } } }',
  },
  // @skip and @include
  '@include false with a variable': {
    query: 'query ($withPrice: Boolean!) { products { sku price @include(if: $withPrice) name } }',
    variables: { withPrice: false },
  },
  '@include true and @skip false on entity fields': {
    query: 'query ($on: Boolean!, $off: Boolean!) { products { sku price @include(if: $on) inStock @skip(if: $off) } }',
    variables: { on: true, off: false },
  },
  '@skip on a fragment spanning subgraphs': {
    query: 'query ($skip: Boolean!) { reviews { id ... on Review @skip(if: $skip) { product { name price } } } }',
    variables: { skip: true },
  },
  // Nulls and errors
  'nested entity lists with a null and an erroring entity': { query: '{ reviews { id product { name } } }' },
  'nested entities with a null and an error, then a third subgraph': {
    query: '{ reviews { id product { name price inStock } } }',
  },
  'an error at a path inside nested lists': {
    query: '{ accounts { ... on User { reviews { product { sku price } } } } products(skus: ["ERR1", "A"]) { price } }',
  },
  'an error from a @requires field inside nested lists': {
    query: '{ reviews { product { name shippingCost(zone: "MARS") } } }',
  },
  'a deep query that revisits the same entities': {
    query: `{ accounts { ... on User { name reviews { product { name price reviews { author { name points } } } } } } }`,
  },
  // Subgraphs that misbehave
  'a short _entities answer, missing at the start': {
    query: '{ products(skus: ["LOST1", "A", "B"]) { sku name price } }',
    differs: SHORT(['LOST1', 'A', 'B']),
  },
  'a short _entities answer, missing in the middle': {
    query: '{ products(skus: ["A", "LOST1", "B"]) { sku name price } }',
    differs: SHORT(['A', 'LOST1', 'B']),
  },
  'a short _entities answer, missing at the end': {
    query: '{ products(skus: ["A", "B", "LOST1"]) { sku name price } }',
    differs: SHORT(['A', 'B', 'LOST1']),
  },
  'a short _entities answer, two missing': {
    query: '{ products(skus: ["LOST2", "C", "LOST1", "D"]) { sku name price } }',
    differs: SHORT(['LOST2', 'C', 'LOST1', 'D']),
  },
  'an _entities answer out of order': {
    query: '{ products(skus: ["REV1", "A", "B", "C"]) { sku name price } }',
    differs: {
      why: 'answers out of order: Apollo places them by position, so prices land on the wrong products; we match by key',
      apollo: (answer, healthy) => {
        expect(answer.errors).toBeUndefined();
        expect(answer.data).not.toEqual(healthy.data);
      },
      ours: (healthy) => healthy,
    },
  },
  'a short _entities answer beside an entity with an error': {
    query: '{ products(skus: ["ERR1", "LOST1", "A"]) { sku price } }',
    differs: SHORT(['ERR1', 'LOST1', 'A']),
  },
  'an _entities answer out of order and short': {
    query: '{ products(skus: ["A", "REV1", "LOST1", "B"]) { sku name price } }',
    differs: SHORT(['A', 'REV1', 'LOST1', 'B']),
  },
  'a long _entities answer': {
    query: '{ products(skus: ["A", "DUP1", "B"]) { sku name price } }',
    differs: {
      why:
        'a long _entities answer cannot be placed with certainty: the fetch fails as in Apollo, with the same ' +
        'message, but with the code SUBGRAPH_INVALID_RESPONSE instead of an internal error (masked in production)',
      apollo: apolloFailsTheFetch(3),
      ours: (healthy) => failedPrices(healthy, 'products', 'Expected "data._entities" to contain 3 elements'),
    },
  },
  'an _entities answer with another entity in the place of one asked for': {
    query: '{ products(skus: ["A", "SWAP1", "B"]) { sku name price } }',
    differs: {
      why:
        "an answer that is not the entity asked for: Apollo merges it (SWAP1 gets A's price, silently); we fail " +
        'the fetch rather than place an entity whose identity is wrong',
      apollo: (answer) => {
        const products = (answer.data as { products: { sku: string; price: number }[] }).products;
        expect(products[1]!.price).toBe(products[0]!.price);
        expect(answer.errors).toBeUndefined();
      },
      ours: (healthy) =>
        failedPrices(
          healthy,
          'products',
          "Subgraph 'pricing' returned entities that match none of the representations sent",
        ),
    },
  },
};

const CONFIGURATIONS: Record<string, Record<string, string>> = {
  'everything off': {
    PLAN_EXECUTOR: 'apollo',
    BATCHING: 'false',
    DEDUP_INFLIGHT: 'false',
    ENTITY_CACHE: 'false',
    DEDUP_INBOUND: 'off',
  },
  'batching only': {
    PLAN_EXECUTOR: 'apollo',
    BATCHING: 'true',
    DEDUP_INFLIGHT: 'false',
    ENTITY_CACHE: 'false',
    DEDUP_INBOUND: 'off',
  },
  'our executor': { PLAN_EXECUTOR: 'waves', BATCHING: 'true', ENTITY_CACHE: 'false' },
  'shipped defaults': {},
  'entity cache on Redis, TTL on every type': {},
};

async function answer(url: string, { query, variables }: Query): Promise<Comparable> {
  const { extensions: _extensions, ...rest } = await ask(url, query, variables);
  return rest;
}

describe('federation scenario matrix against Apollo Gateway', () => {
  let federation: MatrixFederation;
  let reference: Target;
  let healthyReference: Target;
  const ours: Record<string, Ours> = {};
  const keyPrefix = `matrix-${process.pid}-${Date.now()}:`;

  beforeAll(async () => {
    await requireRedis();
    federation = await startMatrixFederation();
    reference = await startReference(federation.supergraphPath);
    healthyReference = await startReference(federation.healthySupergraphPath);
    CONFIGURATIONS['entity cache on Redis, TTL on every type'] = {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: keyPrefix,
      ENTITY_CACHE_TTL: federation.objectTypes.map((type) => `${type}=60`).join(','),
    };
    for (const [name, env] of Object.entries(CONFIGURATIONS))
      ours[name] = await startOurs(federation.supergraphPath, env);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([
      reference?.close(),
      healthyReference?.close(),
      ...Object.values(ours).map((target) => target.close()),
    ]);
    await federation?.close();
    const redis = createClient({ url: TEST_REDIS_URL });
    await redis.connect();
    for await (const keys of redis.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 500 }))
      if (keys.length > 0) await redis.del(keys);
    redis.destroy();
  });

  it('has at least 40 scenarios', () => {
    expect(Object.keys(SCENARIOS).length).toBeGreaterThanOrEqual(40);
  });

  describe.each(Object.keys(CONFIGURATIONS))('with %s', (configuration) => {
    it.each(Object.entries(SCENARIOS))('%s', async (_name, scenario) => {
      const apollo = await answer(reference.url, scenario);
      let expected = apollo;
      if (scenario.differs) {
        const healthy = await answer(healthyReference.url, scenario);
        scenario.differs.apollo(apollo, healthy);
        expected = scenario.differs.ours(healthy);
      }
      expect(await answer(ours[configuration]!.url, scenario)).toEqual(expected);
      expect(await answer(ours[configuration]!.url, scenario)).toEqual(expected);
    });
  });

  it('ran the matrix through both executors and the cache, so no configuration passed vacuously', async () => {
    const executions = (name: string, executor: string) =>
      counterValue(ours[name]!.gateway.metrics.planExecutions, { executor });
    expect(await executions('everything off', 'waves')).toBe(0);
    expect(await executions('our executor', 'waves')).toBeGreaterThan(20);
    expect(await executions('shipped defaults', 'waves')).toBeGreaterThan(20);
    const hits = (name: string) => counterValue(ours[name]!.gateway.metrics.entityCacheLookups, { result: 'hit' });
    expect(await hits('entity cache on Redis, TTL on every type')).toBeGreaterThan(50);
    expect(await hits('our executor')).toBe(0);
  });

  it('never asks a subgraph for a key field it declares @external, and asks the others for their keys', () => {
    const loyalty = federation.requests.loyalty!;
    expect(loyalty.length).toBeGreaterThan(0);
    for (const { query } of loyalty) expect(query).not.toMatch(/\bemail\b/);
    expect(federation.requests.pricing!.some(({ query }) => /_fgw_key_sku: sku/.test(query))).toBe(true);
  });
});
