import { generateKeyPair, SignJWT } from 'jose';
import { freePort } from '../../bench/processes';
import { ANONYMOUS, CALLER_HEADER, CALLER_SIGNATURE_HEADER, callerHeaders, type Caller } from '../../lib/identity';
import type { OrdersDatabase } from '../../subgraphs/orders/store';
import { adminToken, startSystem, TEST_SERVICE_SECRET, token, type TestSystem } from '../helpers/system';

/**
 * Subgraphs answer only requests signed for their exact body, recently (lib/identity.ts). Here the three
 * subgraphs run in this process with a 1-second window (SIGNATURE_MAX_AGE_MS=1000); old requests are crafted
 * with an old timestamp rather than waited for.
 */
const MAX_AGE_MS = 1000;
const ADMIN: Caller = { kind: 'user', userId: '1', admin: true };
const PRODUCT = JSON.stringify({ query: '{ product(sku: "SKU-0001") { sku stock } }' });

interface Answer {
  status: number;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
}

async function post(url: string, body: string, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

const refusal = (answer: Answer) => ({
  status: answer.status,
  code: answer.body.errors?.[0]?.extensions?.code,
  message: answer.body.errors?.[0]?.message,
});

describe('signed subgraph requests', () => {
  let system: TestSystem;
  const url = (name: 'users' | 'orders' | 'inventory') => system.subgraphs[name].url;
  beforeAll(async () => {
    system = await startSystem('sqlite', { SIGNATURE_MAX_AGE_MS: String(MAX_AGE_MS) });
  });
  afterAll(() => system?.close());

  it.each(['users', 'orders', 'inventory'] as const)(
    '%s answers 401 UNAUTHENTICATED to an unsigned request',
    async (name) => {
      const answer = await post(url(name), JSON.stringify({ query: '{ __typename }' }), {});
      expect(refusal(answer)).toEqual({
        status: 401,
        code: 'UNAUTHENTICATED',
        message: expect.stringMatching(/^Missing x-caller/),
      });
      expect(answer.body.data).toBeUndefined();
    },
  );

  it('answers a freshly signed request, and 401 to the same request replayed after the window', async () => {
    const fresh = await post(url('inventory'), PRODUCT, callerHeaders(TEST_SERVICE_SECRET, ADMIN, PRODUCT));
    expect(fresh.status).toBe(200);
    expect(fresh.body.data).toEqual({ product: { sku: 'SKU-0001', stock: expect.any(Number) } });

    const captured = callerHeaders(TEST_SERVICE_SECRET, ADMIN, PRODUCT, Date.now() - MAX_AGE_MS - 500);
    expect(refusal(await post(url('inventory'), PRODUCT, captured))).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(/^Expired x-caller-signature: signed \d+ ms ago, the limit is 1000 ms$/),
    });
  });

  it('answers 401 to a signature dated too far in the future', async () => {
    const ahead = callerHeaders(TEST_SERVICE_SECRET, ADMIN, PRODUCT, Date.now() + 60_000);
    expect(refusal(await post(url('inventory'), PRODUCT, ahead))).toMatchObject({
      status: 401,
      message: expect.stringMatching(/in the future/),
    });
  });

  it('answers 401 to a signed request whose body or caller was changed, or signed with another secret', async () => {
    const signed = callerHeaders(TEST_SERVICE_SECRET, { kind: 'user', userId: '2', admin: false }, PRODUCT);
    const restock = JSON.stringify({ query: 'mutation { restock(sku: "SKU-0001", quantity: 1000) { stock } }' });
    const bad = /^Bad x-caller-signature/;
    expect(refusal(await post(url('inventory'), restock, signed))).toMatchObject({
      status: 401,
      code: 'UNAUTHENTICATED',
      message: expect.stringMatching(bad),
    });
    expect(
      refusal(await post(url('inventory'), PRODUCT, { ...signed, [CALLER_HEADER]: 'user:2:admin' })),
    ).toMatchObject({ status: 401, message: expect.stringMatching(bad) });
    const foreign = callerHeaders('someone-else-secret-0123456789', ADMIN, PRODUCT);
    expect(refusal(await post(url('inventory'), PRODUCT, foreign))).toMatchObject({
      status: 401,
      message: expect.stringMatching(bad),
    });
    expect(
      refusal(await post(url('inventory'), PRODUCT, { ...signed, [CALLER_SIGNATURE_HEADER]: 'forged' })),
    ).toMatchObject({
      status: 401,
      message: expect.stringMatching(/^Malformed x-caller-signature/),
    });
  });

  it('refuses GraphQL over GET, whose operation the signature would not cover', async () => {
    const unsigned = await fetch(`${url('users')}?query=${encodeURIComponent('{ __typename }')}`);
    expect(unsigned.status).toBe(401);
    const signed = await fetch(`${url('users')}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: callerHeaders(TEST_SERVICE_SECRET, ADMIN, ''),
    });
    expect(signed.status).toBe(400);
  });

  it.each(['/healthz', '/readyz', '/metrics'])('leaves %s open', async (route) => {
    for (const name of ['users', 'orders', 'inventory'] as const) {
      expect((await fetch(url(name).replace(/\/graphql$/, route))).status).toBe(200);
    }
  });

  it("answers the gateway's own requests: anonymous, signed-in, across subgraphs, the readiness probe", async () => {
    const anonymous = await system.query(`{ product(sku: "SKU-0002") { name stock shippingEstimateCents } }`);
    expect(anonymous).toMatchObject({ status: 200, data: { product: { name: expect.any(String) } } });
    expect(anonymous.errors).toBeUndefined();
    const cross = await system.query(
      `{ me { name orders(first: 2) { edges { node { items { product { name stock } } } } } } }`,
      {},
      { token: adminToken() },
    );
    expect(cross.status).toBe(200);
    expect(cross.errors).toBeUndefined();
    const ready = await fetch(system.gatewayUrl.replace(/\/graphql$/, '/readyz'));
    expect(await ready.json()).toEqual({ status: 'ready', subgraphs: { users: 'up', orders: 'up', inventory: 'up' } });
  });

  it('places an order through the gateway: orders signs its reservation at inventory as the orders service', async () => {
    const placed = await system.query<{ placeOrder: { status: string } }>(
      `mutation { placeOrder(input: { items: [{ sku: "SKU-0003", quantity: 1 }] }) { status } }`,
      {},
      { token: token('5') },
    );
    expect(placed.errors).toBeUndefined();
    expect(placed.data).toEqual({ placeOrder: { status: 'PLACED' } });
  });

  describe('placeOrder for a caller that is not a user', () => {
    const PLACE = JSON.stringify({
      query: 'mutation { placeOrder(input: { items: [{ sku: "SKU-0004", quantity: 1 }] }) { id } }',
    });
    const orderCount = async () => {
      const { db } = system.subgraphs.orders.database as OrdersDatabase;
      return Number(
        (
          await db
            .selectFrom('orders')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    };
    const stock = async () => {
      const answer = await post(
        url('inventory'),
        PRODUCT.replace('SKU-0001', 'SKU-0004'),
        callerHeaders(TEST_SERVICE_SECRET, ADMIN, PRODUCT.replace('SKU-0001', 'SKU-0004')),
      );
      return (answer.body.data as { product: { stock: number } }).product.stock;
    };

    it.each<[string, string, Caller]>([
      ['the orders service itself', 'FORBIDDEN', { kind: 'service', service: 'orders' }],
      ['another service', 'FORBIDDEN', { kind: 'service', service: 'users' }],
      ['an anonymous caller', 'UNAUTHENTICATED', ANONYMOUS],
    ])('refuses %s with %s and writes nothing', async (_label, code, caller) => {
      const [ordersBefore, stockBefore] = [await orderCount(), await stock()];
      const answer = await post(url('orders'), PLACE, callerHeaders(TEST_SERVICE_SECRET, caller, PLACE));
      expect(answer.body.errors?.[0]?.extensions?.code).toBe(code);
      expect(answer.body.data).toBeNull();
      expect(await orderCount()).toBe(ordersBefore);
      expect(await stock()).toBe(stockBefore);
    });
  });

  it('answers 503 SERVICE_UNAVAILABLE through the gateway when the JWKS endpoint is down, 401 for a bad token', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const gateway = await system.startGateway({ JWT_JWKS_URL: `http://127.0.0.1:${await freePort()}/jwks.json` });
    try {
      const es256 = await new SignJWT({ sub: '1' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setExpirationTime('5m')
        .sign(privateKey);
      const down = await gateway.query('{ __typename }', {}, { token: es256 });
      expect({ status: down.status, code: down.errors?.[0]?.extensions?.code }).toEqual({
        status: 503,
        code: 'SERVICE_UNAVAILABLE',
      });
      const bad = await gateway.query('{ __typename }', {}, { token: 'not-a-jwt' });
      expect({ status: bad.status, code: bad.errors?.[0]?.extensions?.code }).toEqual({
        status: 401,
        code: 'UNAUTHENTICATED',
      });
    } finally {
      await gateway.close();
    }
  });
});
