import { spawn } from 'node:child_process';
import path from 'node:path';
import { createClient as createSseClient, type Client as SseClient } from 'graphql-sse';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { freePort } from '../../bench/processes';
import {
  requireRedis,
  startSystem,
  TEST_JWT_SECRET,
  TEST_REDIS_URL,
  TEST_SERVICE_SECRET,
  token,
  type TestGateway,
  type TestSystem,
} from '../helpers/system';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Subscriptions at the gateway, over real HTTP, WebSocket and Redis: the subgraphs' outboxes write the events,
 * every gateway reads them off the broker, and each event's selection runs through the normal query path.
 */
const ORDER_UPDATES = `subscription OrderUpdates($id: ID) {
  orderUpdated(id: $id) { id status items { quantity product { sku name stock } } user { name } }
}`;
const STOCK_UPDATES = `subscription StockUpdates($skus: [ID!]!) { stockChanged(skus: $skus) { sku name stock } }`;
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`;
const STOCK = `query($sku: ID!) { product(sku: $sku) { stock } }`;

interface Result {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}
interface OrderPayload {
  id: string;
  status: string;
  items: { quantity: number; product: { sku: string; name: string; stock: number } }[];
  user: { name: string };
}

/** What one subscription received, read in order; `ended` settles when the server completes or refuses it. */
interface Subscription {
  next(): Promise<Result>;
  ended: Promise<{ errors?: Result['errors'] }>;
  /** Takes results until one satisfies `accept`. */
  until(accept: (result: Result) => boolean): Promise<Result>;
}

function collector() {
  const results: Result[] = [];
  const waiters: ((result: Result) => void)[] = [];
  let end!: (outcome: { errors?: Result['errors'] }) => void;
  const ended = new Promise<{ errors?: Result['errors'] }>((resolve) => (end = resolve));
  const subscription: Subscription = {
    next: () => {
      const result = results.shift();
      return result ? Promise.resolve(result) : new Promise<Result>((resolve) => waiters.push(resolve));
    },
    ended,
    async until(accept) {
      for (;;) {
        const result = await subscription.next();
        if (accept(result)) return result;
      }
    },
  };
  const sink = {
    next: (result: Result) => {
      const waiter = waiters.shift();
      if (waiter) waiter(result);
      else results.push(result);
    },
    error: (error: unknown) => end({ errors: Array.isArray(error) ? (error as Result['errors']) : [{ message: String(error) }] }),
    complete: () => end({}),
  };
  return { subscription, sink };
}

const wsUrl = (httpUrl: string) => httpUrl.replace(/^http/, 'ws');

/** A graphql-ws client that never retries, with the close events it saw. */
function wsClient(url: string, bearer?: string): WsClient & { closes: Promise<number> } {
  let closed!: (code: number) => void;
  const closes = new Promise<number>((resolve) => (closed = resolve));
  const client = createWsClient({
    url: wsUrl(url),
    webSocketImpl: WebSocket,
    connectionParams: bearer ? { authorization: `Bearer ${bearer}` } : {},
    retryAttempts: 0,
    shouldRetry: () => false,
    lazy: true,
    on: { closed: (event) => closed((event as { code: number }).code) },
  });
  return Object.assign(client, { closes });
}

function sseClient(url: string, bearer?: string): SseClient {
  return createSseClient({
    url,
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    retryAttempts: 0,
  });
}

function subscribe(client: WsClient | SseClient, query: string, variables: Record<string, unknown>): Subscription & { stop(): void } {
  const { subscription, sink } = collector();
  const stop = (client.subscribe as (payload: unknown, sink: unknown) => () => void)({ query, variables }, sink);
  return Object.assign(subscription, { stop });
}

describe('subscriptions', () => {
  let system: TestSystem;
  let replicaB: TestGateway;
  const clients: { dispose(): unknown }[] = [];
  const track = <T extends { dispose(): unknown }>(client: T): T => (clients.push(client), client);
  const buyer = token('2');
  const other = token('3');

  beforeAll(async () => {
    await requireRedis();
    system = await startSystem('sqlite', { REDIS_URL: TEST_REDIS_URL });
    replicaB = await system.startGateway();
  }, 60_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await system?.close();
  });

  /** Places an order through gateway A (the system's own) and returns its id. */
  async function placeOrder(bearer: string, sku: string): Promise<string> {
    const answer = await system.query<{ placeOrder: { id: string } }>(PLACE, { input: { items: [{ sku, quantity: 1 }] } }, { token: bearer });
    expect(answer.errors).toBeUndefined();
    return answer.data!.placeOrder.id;
  }

  const stockOf = async (sku: string) =>
    (await system.query<{ product: { stock: number } }>(STOCK, { sku })).data!.product.stock;

  it.each([
    ['graphql-ws', (url: string, bearer?: string) => wsClient(url, bearer)],
    ['SSE', (url: string, bearer?: string) => sseClient(url, bearer)],
  ] as const)(
    'delivers placeOrder on replica A to %s subscribers on replica B, with user, product name and fresh stock joined',
    async (_transport, connect) => {
      const sku = _transport === 'SSE' ? 'SKU-0012' : 'SKU-0011';
      const buyerClient = track(connect(replicaB.url, buyer));
      const anonymous = track(connect(replicaB.url));
      const before = await activeSubscriptions(replicaB);
      const orders = subscribe(buyerClient, ORDER_UPDATES, {});
      const stock = subscribe(anonymous, STOCK_UPDATES, { skus: [sku] });
      await waitActive(replicaB, (active) => active >= before + 2);

      const orderId = await placeOrder(buyer, sku);
      const expectedStock = await stockOf(sku);

      const update = (await orders.until((result) => (result.data?.orderUpdated as OrderPayload | undefined)?.id === orderId))
        .data!.orderUpdated as OrderPayload;
      expect(update.status).toBe('PLACED');
      expect(update.user.name).toEqual(expect.any(String));
      expect(update.user.name.length).toBeGreaterThan(0);
      expect(update.items).toEqual([{ quantity: 1, product: { sku, name: expect.any(String), stock: expectedStock } }]);

      const changed = await stock.until((result) => (result.data?.stockChanged as { stock: number }).stock === expectedStock);
      expect(changed.data!.stockChanged).toEqual({ sku, name: expect.any(String), stock: expectedStock });
      orders.stop();
      stock.stop();
      await waitActive(replicaB, (active) => active === before);
    },
    30_000,
  );

  it("refuses a subscription to another user's order with FORBIDDEN, and shows an unfiltered one only the caller's orders", async () => {
    const orderId = await placeOrder(buyer, 'SKU-0013');

    const ws = subscribe(track(wsClient(replicaB.url, other)), ORDER_UPDATES, { id: orderId });
    expect((await ws.ended).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const sse = await fetch(replicaB.url, {
      method: 'POST',
      headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${other}` },
      body: JSON.stringify({ query: ORDER_UPDATES, variables: { id: orderId } }),
    });
    expect(sse.status).toBe(403);
    expect(((await sse.json()) as Result).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = subscribe(track(wsClient(replicaB.url)), ORDER_UPDATES, {});
    expect((await anonymous.ended).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    // The buyer's subscriber sees the buyer's next order; the other user's, placed after it, is the first the
    // other user's unfiltered subscription receives (events arrive in commit order).
    const before = await activeSubscriptions(replicaB);
    const mine = subscribe(track(wsClient(replicaB.url, other)), ORDER_UPDATES, {});
    const buyers = subscribe(track(wsClient(replicaB.url, buyer)), ORDER_UPDATES, {});
    await waitActive(replicaB, (active) => active >= before + 2);
    const buyersOrder = await placeOrder(buyer, 'SKU-0014');
    await buyers.until((result) => (result.data?.orderUpdated as OrderPayload).id === buyersOrder);
    const othersOrder = await placeOrder(other, 'SKU-0014');
    const first = (await mine.next()).data!.orderUpdated as OrderPayload;
    expect(first.id).toBe(othersOrder);
    mine.stop();
    buyers.stop();
  }, 30_000);

  it('keeps subscriptions running across a supergraph reload', async () => {
    const before = await activeSubscriptions(replicaB);
    const stock = subscribe(track(wsClient(replicaB.url)), STOCK_UPDATES, { skus: ['SKU-0015'] });
    await waitActive(replicaB, (active) => active >= before + 1);
    replicaB.gateway.reloadSupergraph('test');
    const orderId = await placeOrder(buyer, 'SKU-0015');
    expect(orderId).toEqual(expect.any(String));
    const expectedStock = await stockOf('SKU-0015');
    await stock.until((result) => (result.data?.stockChanged as { stock: number }).stock === expectedStock);
    stock.stop();
  }, 30_000);

  it('enforces the limits: subscriptions per connection, connections per caller', async () => {
    const limited = await system.startGateway({
      SUBSCRIPTIONS_MAX_PER_CONNECTION: '1',
      SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER: '1',
    });
    try {
      const client = wsClient(limited.url, buyer);
      const first = subscribe(client, STOCK_UPDATES, { skus: ['SKU-0001'] });
      const second = subscribe(client, STOCK_UPDATES, { skus: ['SKU-0002'] });
      expect((await second.ended).errors?.[0]?.extensions?.code).toBe('SUBSCRIPTION_LIMIT_EXCEEDED');

      const again = wsClient(limited.url, buyer);
      subscribe(again, STOCK_UPDATES, { skus: ['SKU-0001'] });
      expect(await again.closes).toBe(4029);
      const sse = await fetch(limited.url, {
        method: 'POST',
        headers: { accept: 'text/event-stream', 'content-type': 'application/json', authorization: `Bearer ${buyer}` },
        body: JSON.stringify({ query: STOCK_UPDATES, variables: { skus: ['SKU-0001'] } }),
      });
      expect(sse.status).toBe(429);
      expect(((await sse.json()) as Result).errors?.[0]?.extensions?.code).toBe('SUBSCRIPTION_LIMIT_EXCEEDED');
      first.stop();
      await client.dispose();
      await again.dispose();
    } finally {
      await limited.close();
    }
  }, 30_000);

  it('closes graphql-ws subscribers with 1001 Going away and ends SSE streams when the gateway stops', async () => {
    const leaving = await system.startGateway();
    const client = wsClient(leaving.url, buyer);
    subscribe(client, STOCK_UPDATES, { skus: ['SKU-0001'] });
    const stream = subscribe(sseClient(leaving.url), STOCK_UPDATES, { skus: ['SKU-0001'] });
    await waitActive(leaving, (active) => active === 2);
    await leaving.close();
    expect(await client.closes).toBe(1001);
    // Not `complete`: graphql-sse's client sees a dropped stream (and would retry), not a finished subscription.
    expect((await stream.ended).errors).toBeDefined();
    await client.dispose();
  }, 30_000);

  it('sends graphql-ws subscribers 1001 Going away when a gateway process gets SIGTERM, and exits 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(ROOT, 'gateway/index.ts')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ...system.env,
        NODE_ENV: 'test',
        LOG_LEVEL: 'error',
        JWT_SECRET: TEST_JWT_SECRET,
        SERVICE_SECRET: TEST_SERVICE_SECRET,
        GATEWAY_PORT: String(port),
        DRAIN_MS: '0',
        RATE_LIMIT: 'false',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = `http://127.0.0.1:${port}/graphql`;
      const client = wsClient(url, buyer);
      // Up once it answers (its start-up compiles TypeScript first).
      for (;;) {
        const up = await fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.ok, () => false);
        if (up) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      subscribe(client, STOCK_UPDATES, { skus: ['SKU-0001'] });
      await waitActive({ url } as TestGateway, (active) => active === 1);
      child.kill('SIGTERM');
      expect(await client.closes).toBe(1001);
      expect(await exited).toBe(0);
      await client.dispose();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    }
  }, 60_000);

  it('answers a subscription on a gateway without Redis with SERVICE_UNAVAILABLE', async () => {
    const noRedis = await system.startGateway({ REDIS_URL: '' });
    try {
      const client = wsClient(noRedis.url);
      const refused = subscribe(client, STOCK_UPDATES, { skus: ['SKU-0001'] });
      expect((await refused.ended).errors?.[0]?.extensions?.code).toBe('SERVICE_UNAVAILABLE');
      await client.dispose();
    } finally {
      await noRedis.close();
    }
  }, 30_000);

  it('keeps plain HTTP subscriptions a 400 SUBSCRIPTION_OVER_HTTP', async () => {
    const answer = await system.query(STOCK_UPDATES, { skus: ['SKU-0001'] });
    expect(answer.status).toBe(400);
    expect(answer.errors?.[0]?.extensions?.code).toBe('SUBSCRIPTION_OVER_HTTP');
  });
});

/** The gateway's `gateway_subscriptions_active`, summed over its labels, as /metrics shows it. */
async function activeSubscriptions(gateway: TestGateway): Promise<number> {
  const text = await (await fetch(gateway.url.replace(/\/graphql$/, '/metrics'))).text();
  return [...text.matchAll(/^gateway_subscriptions_active\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}

/** Polls the metric until `settled` holds: a subscription is active once the gateway has admitted it. */
async function waitActive(gateway: TestGateway, settled: (active: number) => boolean): Promise<void> {
  while (!settled(await activeSubscriptions(gateway))) await new Promise((resolve) => setTimeout(resolve, 20));
}
