import { ANONYMOUS, callerHeaders, type Caller } from '../../lib/identity';
import {
  adminToken,
  requireRedis,
  startSystem,
  TEST_REDIS_URL,
  TEST_SERVICE_SECRET,
  token,
  type Backend,
  type TestSystem,
} from '../helpers/system';

/**
 * The API contract through the gateway, over real HTTP, on both database backends: every query and mutation
 * of the contract, its authorization rules, and its error codes.
 */
const CROSS_SUBGRAPH = `{ users(first: 5) { edges { node { name orders(first: 3) { edges { node { totalCents items {
  quantity product { name stock shippingEstimateCents } } } } } } } } }`;

const PRODUCT = `query Product($sku: ID!) { product(sku: $sku) { sku name priceCents weightGrams stock inStock shippingEstimateCents } }`;
const PLACE = `mutation Place($input: PlaceOrderInput!) { placeOrder(input: $input) { id status totalCents user { id }
  items { quantity unitPriceCents product { sku stock } } } }`;
const CANCEL = `mutation Cancel($id: ID!) { cancelOrder(id: $id) { id status } }`;

/**
 * The same suite under each configuration of the gateway's fetch path: every mechanism off, the defaults
 * (in-process cache), and the entity cache on Redis. The assertions do not change: caching, batching and
 * deduplication must be invisible in results.
 */
const CONFIGURATIONS: [Backend, string, Record<string, string>][] = [
  ['sqlite', 'every fetch mechanism off', { BATCHING: 'false', DEDUP_INFLIGHT: 'false', DEDUP_INBOUND: 'off', ENTITY_CACHE: 'false' }],
  ['sqlite', 'the entity cache on Redis', { REDIS_URL: TEST_REDIS_URL }],
  ['postgres', 'the defaults (in-process cache)', {}],
];

describe.each(CONFIGURATIONS)('the supergraph on %s with %s', (backend, _configuration, env) => {
  let system: TestSystem;
  beforeAll(async () => {
    if (env.REDIS_URL) await requireRedis();
    system = await startSystem(backend, env);
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  const stockOf = async (sku: string): Promise<number> => {
    const result = await system.query<{ product: { stock: number } }>(PRODUCT, { sku });
    return result.data!.product.stock;
  };
  const createProduct = async (sku: string, stock: number, priceCents = 1000) => {
    const result = await system.query(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { sku stock } }`,
      { input: { sku, name: `Test ${sku}`, priceCents, weightGrams: 250, stock } },
      { token: adminToken() },
    );
    expect(result.errors).toBeUndefined();
  };

  it('answers one query with data from all three subgraphs (admin)', async () => {
    const result = await system.query<{
      users: { edges: { node: { name: string; orders: { edges: { node: { totalCents: number; items: { quantity: number; product: { name: string; stock: number; shippingEstimateCents: number } }[] } }[] } } }[] };
    }>(CROSS_SUBGRAPH, {}, { token: adminToken() });
    expect(result.errors).toBeUndefined();
    const users = result.data!.users.edges;
    expect(users).toHaveLength(5);
    const orders = users.flatMap((user) => user.node.orders.edges);
    expect(orders.length).toBeGreaterThan(0);
    for (const { node: order } of orders) {
      expect(order.items.length).toBeGreaterThan(0);
      for (const item of order.items) {
        expect(item.product.name).toEqual(expect.any(String));
        expect(item.product.stock).toEqual(expect.any(Number));
        expect(item.product.shippingEstimateCents).toBeGreaterThanOrEqual(524);
      }
    }
  });

  it('computes shippingEstimateCents from inventory weight in orders (@requires)', async () => {
    const result = await system.query<{ product: { weightGrams: number; shippingEstimateCents: number } }>(PRODUCT, { sku: 'SKU-0001' });
    const { weightGrams, shippingEstimateCents } = result.data!.product;
    expect(shippingEstimateCents).toBe(499 + 25 * Math.ceil(weightGrams / 100));
  });

  it('pages users with opaque cursors and a total count', async () => {
    const first = await system.query<{ users: { edges: { cursor: string; node: { id: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string }; totalCount: number } }>(
      `{ users(first: 3) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount } }`,
    );
    const page = first.data!.users;
    expect(page.edges.map((edge) => edge.node.id)).toEqual(['1', '2', '3']);
    expect(page.pageInfo).toEqual({ hasNextPage: true, endCursor: page.edges[2]!.cursor });
    expect(page.totalCount).toBeGreaterThanOrEqual(200);
    const next = await system.query<{ users: { edges: { node: { id: string } }[] } }>(
      `query($after: String) { users(first: 2, after: $after) { edges { node { id } } } }`,
      { after: page.pageInfo.endCursor },
    );
    expect(next.data!.users.edges.map((edge) => edge.node.id)).toEqual(['4', '5']);
  });

  it('pages a user\'s orders newest first', async () => {
    const result = await system.query<{ user: { orders: { totalCount: number; edges: { node: { id: string } }[]; pageInfo: { endCursor: string; hasNextPage: boolean } } } }>(
      `{ user(id: "2") { orders(first: 2) { totalCount edges { node { id } } pageInfo { endCursor hasNextPage } } } }`,
      {},
      { token: token('2') },
    );
    const orders = result.data!.user.orders;
    const ids = orders.edges.map((edge) => Number(edge.node.id));
    expect(ids[0]).toBeGreaterThan(ids[1]!);
    const next = await system.query<{ user: { orders: { totalCount: number; edges: { node: { id: string } }[] } } }>(
      `query($after: String) { user(id: "2") { orders(first: 100, after: $after) { totalCount edges { node { id } } } } }`,
      { after: orders.pageInfo.endCursor },
      { token: token('2') },
    );
    expect(next.data!.user.orders.totalCount).toBe(orders.totalCount);
    expect(next.data!.user.orders.edges).toHaveLength(orders.totalCount - 2);
    expect(Number(next.data!.user.orders.edges[0]!.node.id)).toBeLessThan(ids[1]!);
  });

  describe('identity and authorization', () => {
    it('me is null when anonymous and the caller when signed in', async () => {
      expect((await system.query(`{ me { id } }`)).data).toEqual({ me: null });
      expect((await system.query(`{ me { id name } }`, {}, { token: token('7') })).data).toEqual({
        me: { id: '7', name: expect.any(String) },
      });
    });

    it('shows an email only to the user themself or an admin', async () => {
      const query = `{ user(id: "3") { email } }`;
      expect((await system.query(query)).data).toEqual({ user: { email: null } });
      expect((await system.query(query, {}, { token: token('4') })).data).toEqual({ user: { email: null } });
      expect((await system.query(query, {}, { token: token('3') })).data).toEqual({ user: { email: expect.stringContaining('@') } });
      expect((await system.query(query, {}, { token: token('4', { admin: true }) })).data).toEqual({
        user: { email: expect.stringContaining('@') },
      });
    });

    it("returns null + FORBIDDEN for someone else's orders", async () => {
      const result = await system.query(`{ user(id: "3") { name orders { totalCount } } }`, {}, { token: token('4') });
      expect(result.data).toEqual({ user: { name: expect.any(String), orders: null } });
      expect(result.errors).toHaveLength(1);
      expect(result.errors![0]!.extensions!.code).toBe('FORBIDDEN');
      expect(result.errors![0]!.path).toEqual(['user', 'orders']);
    });

    it('lets only the owner or an admin read an order', async () => {
      const mine = await system.query<{ user: { orders: { edges: { node: { id: string } }[] } } }>(
        `{ user(id: "5") { orders(first: 1) { edges { node { id } } } } }`,
        {},
        { token: token('5') },
      );
      const orderId = mine.data!.user.orders.edges[0]!.node.id;
      const query = `query($id: ID!) { order(id: $id) { id user { id } } }`;
      expect((await system.query(query, { id: orderId }, { token: token('5') })).data).toEqual({
        order: { id: orderId, user: { id: '5' } },
      });
      expect((await system.query(query, { id: orderId }, { token: adminToken() })).data?.order).toEqual({ id: orderId, user: { id: '5' } });
      const other = await system.query(query, { id: orderId }, { token: token('6') });
      expect(other.data).toEqual({ order: null });
      expect(other.errors![0]!.extensions!.code).toBe('FORBIDDEN');
      const anonymous = await system.query(query, { id: orderId });
      expect(anonymous.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
      expect((await system.query(query, { id: '999999' }, { token: adminToken() })).data).toEqual({ order: null });
    });

    it.each([
      ['a token signed with another secret', () => token('1').slice(0, -4) + 'AAAA'],
      ['an expired token', () => token('1', { expiresIn: -3600 })],
      [
        'an unsigned token (alg: none)',
        () =>
          `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(
            JSON.stringify({ sub: '1', scope: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 }),
          ).toString('base64url')}.`,
      ],
      ['garbage', () => 'not-a-jwt'],
    ])('rejects %s with 401 UNAUTHENTICATED, never as anonymous', async (_label, makeToken) => {
      const result = await system.query(`{ me { id } }`, {}, { token: makeToken() });
      expect(result.status).toBe(401);
      expect(result.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
      expect(result.data).toBeUndefined();
    });

    it('rejects forged identity headers sent straight to a subgraph', async () => {
      const response = await fetch(system.subgraphs.users.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-caller': 'user:3:admin', 'x-caller-signature': 'forged' },
        body: JSON.stringify({ query: '{ user(id: "3") { email } }' }),
      });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
      expect(body.errors[0]!.extensions.code).toBe('UNAUTHENTICATED');
    });

    it('hides the internal reservation mutations from the public graph', async () => {
      const result = await system.query(`mutation { releaseStock(reservationId: "order:1") { status } }`, {}, { token: adminToken() });
      expect(result.status).toBe(400);
      expect(result.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    });

    it.each<[string, Caller]>([
      ['an anonymous caller', ANONYMOUS],
      ['an admin', { kind: 'user', userId: '1', admin: true }],
      ['another service', { kind: 'service', service: 'users' }],
    ])('refuses reservations at inventory from %s: only the orders service may', async (_label, caller) => {
      const body = JSON.stringify({ query: 'mutation { releaseStock(reservationId: "order:1") { status } }' });
      const response = await fetch(system.subgraphs.inventory.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...callerHeaders(TEST_SERVICE_SECRET, caller, body) },
        body,
      });
      const answer = (await response.json()) as { errors: { extensions: { code: string } }[] };
      expect(answer.errors[0]!.extensions.code).toBe('FORBIDDEN');
    });
  });

  describe('mutations', () => {
    it('creates a user, and refuses a duplicate email with CONFLICT', async () => {
      const mutation = `mutation($input: CreateUserInput!) { createUser(input: $input) { id name email createdAt } }`;
      const email = `new.${backend}.${Object.keys(env).length}@example.com`;
      const created = await system.query<{ createUser: { id: string; name: string; createdAt: string } }>(mutation, {
        input: { name: 'New Person', email },
      });
      expect(created.errors).toBeUndefined();
      expect(created.data!.createUser).toMatchObject({ name: 'New Person' });
      expect(new Date(created.data!.createUser.createdAt).toISOString()).toBe(created.data!.createUser.createdAt);
      const duplicate = await system.query(mutation, { input: { name: 'Someone Else', email: email.toUpperCase() } });
      expect(duplicate.errors![0]!.extensions).toMatchObject({ code: 'CONFLICT', argumentName: 'input.email' });
      const invalid = await system.query(mutation, { input: { name: 'X', email: 'not-an-email' } });
      expect(invalid.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'input.email' });
    });

    it('lets only admins create products and restock, with CONFLICT on a duplicate sku', async () => {
      const mutation = `mutation($input: CreateProductInput!) { createProduct(input: $input) { sku inStock } }`;
      const input = { sku: `NEW-${backend}`, name: 'New thing', priceCents: 500, weightGrams: 100, stock: 0 };
      expect((await system.query(mutation, { input })).errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
      expect((await system.query(mutation, { input }, { token: token('9') })).errors![0]!.extensions!.code).toBe('FORBIDDEN');
      expect((await system.query(mutation, { input }, { token: adminToken() })).data).toEqual({
        createProduct: { sku: input.sku, inStock: false },
      });
      expect((await system.query(mutation, { input }, { token: adminToken() })).errors![0]!.extensions!.code).toBe('CONFLICT');
      const restock = `mutation($sku: ID!, $q: Int!) { restock(sku: $sku, quantity: $q) { stock inStock } }`;
      expect((await system.query(restock, { sku: input.sku, q: 7 }, { token: adminToken() })).data).toEqual({
        restock: { stock: 7, inStock: true },
      });
      const zero = await system.query(restock, { sku: input.sku, q: 0 }, { token: adminToken() });
      expect(zero.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'quantity' });
      const unknown = await system.query(restock, { sku: 'NOPE', q: 1 }, { token: adminToken() });
      expect(unknown.errors![0]!.extensions!.code).toBe('NOT_FOUND');
      expect(await stockOf(input.sku)).toBe(7);
    });

    it('places an order at current prices, takes the stock, and cancelling returns it once', async () => {
      const sku = `PLACE-${backend}`;
      await createProduct(sku, 10, 1234);
      const placed = await system.query<{
        placeOrder: { id: string; status: string; totalCents: number; user: { id: string }; items: { quantity: number; unitPriceCents: number; product: { sku: string; stock: number } }[] };
      }>(PLACE, { input: { items: [{ sku, quantity: 3 }] } }, { token: token('12') });
      expect(placed.errors).toBeUndefined();
      const order = placed.data!.placeOrder;
      expect(order).toMatchObject({ status: 'PLACED', totalCents: 3 * 1234, user: { id: '12' } });
      expect(order.items).toEqual([{ quantity: 3, unitPriceCents: 1234, product: { sku, stock: 7 } }]);

      // A later price change does not touch the order's price.
      expect(await stockOf(sku)).toBe(7);
      const cancel = await system.query<{ cancelOrder: { status: string } }>(CANCEL, { id: order.id }, { token: token('12') });
      expect(cancel.data).toEqual({ cancelOrder: { id: order.id, status: 'CANCELLED' } });
      expect(await stockOf(sku)).toBe(10);
      const again = await system.query(CANCEL, { id: order.id }, { token: token('12') });
      expect(again.data).toEqual({ cancelOrder: { id: order.id, status: 'CANCELLED' } });
      expect(await stockOf(sku)).toBe(10);
    });

    it("refuses to cancel someone else's order, and an unknown one", async () => {
      const sku = `OWN-${backend}`;
      await createProduct(sku, 5);
      const placed = await system.query<{ placeOrder: { id: string } }>(PLACE, { input: { items: [{ sku, quantity: 1 }] } }, { token: token('20') });
      const id = placed.data!.placeOrder.id;
      expect((await system.query(CANCEL, { id }, { token: token('21') })).errors![0]!.extensions!.code).toBe('FORBIDDEN');
      expect((await system.query(CANCEL, { id })).errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
      expect((await system.query(CANCEL, { id: '987654' }, { token: token('21') })).errors![0]!.extensions!.code).toBe('NOT_FOUND');
      expect((await system.query(CANCEL, { id }, { token: adminToken() })).data).toEqual({ cancelOrder: { id, status: 'CANCELLED' } });
      expect(await stockOf(sku)).toBe(5);
    });

    it('requires a signed-in caller to place an order', async () => {
      const result = await system.query(PLACE, { input: { items: [{ sku: 'SKU-0001', quantity: 1 }] } });
      expect(result.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    });
  });

  describe('bad input leaves every store unchanged', () => {
    const countOrders = async (userId: string) => {
      const result = await system.query<{ user: { orders: { totalCount: number } } }>(
        `query($id: ID!) { user(id: $id) { orders { totalCount } } }`,
        { id: userId },
        { token: adminToken() },
      );
      return result.data!.user.orders.totalCount;
    };

    it.each([
      ['a negative quantity', (sku: string) => [{ sku, quantity: -1 }], 'BAD_USER_INPUT', 'input.items[0].quantity'],
      ['a zero quantity', (sku: string) => [{ sku, quantity: 0 }], 'BAD_USER_INPUT', 'input.items[0].quantity'],
      ['no items', () => [], 'BAD_USER_INPUT', 'input.items'],
      ['an unknown sku after a good line', (sku: string) => [{ sku, quantity: 1 }, { sku: 'NO-SUCH-SKU', quantity: 1 }], 'NOT_FOUND', 'input.items[1].sku'],
      ['more than is in stock after a good line', (sku: string) => [{ sku, quantity: 1 }, { sku: 'SKU-0002', quantity: 9999 }], 'OUT_OF_STOCK', 'input.items[1].quantity'],
      ['the same sku twice', (sku: string) => [{ sku, quantity: 1 }, { sku, quantity: 1 }], 'BAD_USER_INPUT', 'input.items[1].sku'],
    ])('placeOrder with %s fails with %s and changes nothing', async (_label, items, code, argumentName) => {
      const sku = 'SKU-0003';
      const [stockBefore, otherBefore, ordersBefore] = await Promise.all([stockOf(sku), stockOf('SKU-0002'), countOrders('30')]);
      const result = await system.query(PLACE, { input: { items: items(sku) } }, { token: token('30') });
      expect(result.data).toBeNull();
      expect(result.errors![0]!.extensions).toMatchObject({ code, argumentName });
      expect(await stockOf(sku)).toBe(stockBefore);
      expect(await stockOf('SKU-0002')).toBe(otherBefore);
      expect(await countOrders('30')).toBe(ordersBefore);
    });

    it.each([0, 101, -5])('rejects first: %i with BAD_USER_INPUT naming the argument', async (first) => {
      for (const query of [`{ users(first: ${first}) { totalCount } }`, `{ products(first: ${first}) { totalCount } }`]) {
        const result = await system.query(query);
        expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'first' });
      }
    });

    it('rejects a cursor it did not issue', async () => {
      const result = await system.query(`{ users(after: "bogus") { totalCount } }`);
      expect(result.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'after' });
    });

    it('answers a malformed body, a missing query, an unknown field and a wrong variable type with 400', async () => {
      const malformed = await system.post('{"query": ');
      expect(malformed.status).toBe(400);
      expect(malformed.body.errors![0]!.extensions!.code).toBe('BAD_REQUEST');
      const missing = await system.post('{"variables": {}}');
      expect(missing.status).toBe(400);
      expect(missing.body.errors![0]!.extensions!.code).toBe('BAD_REQUEST');
      const unknown = await system.query(`{ users { edges { node { nope } } } }`);
      expect(unknown.status).toBe(400);
      expect(unknown.errors![0]!.extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
      const wrongType = await system.query(PRODUCT, { sku: { not: 'an id' } });
      expect(wrongType.status).toBe(400);
      expect(wrongType.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
      const parse = await system.query(`{ users {`);
      expect(parse.status).toBe(400);
      expect(parse.errors![0]!.extensions!.code).toBe('GRAPHQL_PARSE_FAILED');
    });

    it('serves queries over GET too', async () => {
      const url = `${system.gatewayUrl}?query=${encodeURIComponent('{ product(sku: "SKU-0001") { sku } }')}`;
      const response = await fetch(url, { headers: { 'apollo-require-preflight': 'true' } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: { product: { sku: 'SKU-0001' } } });
    });
  });
});
