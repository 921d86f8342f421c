import {
  adminToken,
  requireRedis,
  startSystem,
  TEST_REDIS_URL,
  token,
  type GraphQLClient,
  type TestGateway,
  type TestSystem,
} from '../helpers/system';
import { counterValue } from '../../lib/metrics';

/**
 * Batching, deduplication and the entity cache must be invisible in results: the same queries, sent by the
 * same callers through gateways configured every way over the same subgraphs, get identical answers (data,
 * errors, error paths and codes), cold and warm.
 */
const DEEP = `{
  products(first: 10) { edges { node { sku name stock shippingEstimateCents } } }
  users(first: 15) { edges { node { id name email orders(first: 4) { totalCount edges { node { id status totalCents
    user { id name } items { quantity unitPriceCents product { sku name priceCents stock inStock shippingEstimateCents } } } } } } } }
  a: product(sku: "SKU-0001") { name stock shippingEstimateCents }
  b: product(sku: "SKU-0001") { name priceCents }
  c: user(id: "2") { name orders(first: 2) { edges { node { items { product { name } } } } } }
}`;

const CASES: [string, string, string | undefined][] = [
  [
    'the cross-subgraph page as an admin',
    `{ users(first: 5) { edges { node { name orders(first: 3) { edges { node { totalCents items { quantity product { name stock shippingEstimateCents } } } } } } } } }`,
    adminToken(),
  ],
  ['a deep query that revisits the same entities, as an admin', DEEP, adminToken()],
  ['the same deep query as a user (emails and orders of others denied)', DEEP, token('2')],
  ['the same deep query, anonymous', DEEP, undefined],
  [
    'me with my orders',
    `{ me { id name email orders(first: 5) { totalCount edges { node { id status items { product { sku stock } } } } } } }`,
    token('3'),
  ],
  ['an order of someone else', `{ order(id: "5") { id totalCents user { name } } }`, token('4')],
  [
    'an order as an admin',
    `{ order(id: "5") { id totalCents status user { name email } items { product { name } } } }`,
    adminToken(),
  ],
  ['bad input', `{ users(first: 0) { totalCount } products(first: 500) { totalCount } }`, undefined],
  ['a missing entity', `{ product(sku: "NOPE") { name } user(id: "99999") { name } }`, undefined],
];

describe('results are the same whatever the fetch mechanisms', () => {
  let system: TestSystem;
  const gateways: Record<string, GraphQLClient> = {};
  beforeAll(async () => {
    await requireRedis();
    system = await startSystem('sqlite');
    gateways['everything off'] = await system.startGateway({
      BATCHING: 'false',
      DEDUP_INFLIGHT: 'false',
      DEDUP_INBOUND: 'off',
      ENTITY_CACHE: 'false',
    });
    gateways['defaults (in-process cache)'] = system;
    gateways['entity cache on Redis'] = await system.startGateway({ REDIS_URL: TEST_REDIS_URL });
    gateways['batching only'] = await system.startGateway({
      DEDUP_INFLIGHT: 'false',
      DEDUP_INBOUND: 'off',
      ENTITY_CACHE: 'false',
    });
    // The same set under Apollo Gateway's own executor: ours (waves, compiled shaping, request memo) must not
    // be visible in results either. Everything off is the plain Apollo executor over our data source.
    gateways['Apollo executor, everything off'] = await system.startGateway({
      PLAN_EXECUTOR: 'apollo',
      BATCHING: 'false',
      DEDUP_INFLIGHT: 'false',
      DEDUP_INBOUND: 'off',
      ENTITY_CACHE: 'false',
    });
    gateways['Apollo executor, defaults'] = await system.startGateway({ PLAN_EXECUTOR: 'apollo' });
  }, 60_000);
  afterAll(async () => system?.close());

  const answer = async (client: GraphQLClient, query: string, bearer: string | undefined) => {
    const result = await client.query(query, {}, bearer ? { token: bearer } : {});
    return {
      status: result.status,
      data: result.data,
      errors: result.errors?.map((error) => ({
        message: error.message,
        path: error.path,
        code: error.extensions?.code,
      })),
    };
  };

  it.each(CASES)('%s', async (_name, query, bearer) => {
    const expected = await answer(gateways['everything off']!, query, bearer);
    for (const [name, client] of Object.entries(gateways)) {
      for (const round of ['cold', 'warm']) {
        expect({ gateway: name, round, ...(await answer(client, query, bearer)) }).toEqual({
          gateway: name,
          round,
          ...expected,
        });
      }
    }
  });

  it('runs the set under both executors', async () => {
    const waves = (name: string) =>
      counterValue((gateways[name] as TestGateway).gateway.metrics.planExecutions, { executor: 'waves' });
    const names = ['everything off', 'batching only', 'Apollo executor, everything off', 'Apollo executor, defaults'];
    const before = Object.fromEntries(await Promise.all(names.map(async (name) => [name, await waves(name)] as const)));
    const query = CASES[0]![1];
    for (const name of names) await answer(gateways[name]!, query, adminToken());
    expect((await waves('everything off')) - before['everything off']!).toBe(1);
    expect((await waves('batching only')) - before['batching only']!).toBe(1);
    expect(await waves('Apollo executor, everything off')).toBe(0);
    expect(await waves('Apollo executor, defaults')).toBe(0);
  });

  it('answers concurrent identical requests identically (inbound and in-flight sharing)', async () => {
    const expected = await answer(gateways['everything off']!, DEEP, token('2'));
    const shared = () => counterValue(system.gateway.metrics.deduplicated, { kind: 'inbound' });
    const before = await shared();
    const caller = token('2');
    const concurrent = await Promise.all(Array.from({ length: 12 }, () => answer(system, DEEP, caller)));
    for (const result of concurrent) expect(result).toEqual(expected);
    expect(await shared()).toBeGreaterThan(before);
    const anonymous = await answer(gateways['everything off']!, DEEP, undefined);
    const mixed = await Promise.all([
      answer(system, DEEP, token('2')),
      answer(system, DEEP, undefined),
      answer(system, DEEP, adminToken()),
    ]);
    expect(mixed[0]).toEqual(expected);
    expect(mixed[1]).toEqual(anonymous);
    expect(mixed[2]).not.toEqual(anonymous);
  });
});
