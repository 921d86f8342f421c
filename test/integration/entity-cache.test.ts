import crypto from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { callerHeaders } from '../../lib/identity';
import { projectRoot } from '../../lib/paths';
import {
  adminToken,
  clientFor,
  requireRedis,
  startSystem,
  TEST_JWT_SECRET,
  TEST_REDIS_URL,
  TEST_SERVICE_SECRET,
  token,
  type GraphQLClient,
  type TestSystem,
} from '../helpers/system';
import { freePort } from '../../bench/processes';
import { counterValue } from '../../lib/metrics';
import { createRedisConnection, type RedisConnection } from '../../lib/redis';
import { redisBackends } from '../helpers/redis-cluster';

/**
 * The entity cache on real Redis: warm requests skip the subgraphs, private data never crosses callers, errors
 * are never cached, writes evict (through the writing gateway, and through the change stream for writes that
 * bypass it, across separate gateway processes), persisted queries are shared, and Redis dying mid-run costs
 * no client an error.
 */
const CROSS = `{ users(first: 5) { edges { node { name orders(first: 3) { edges { node { totalCents items {
  quantity product { name stock shippingEstimateCents } } } } } } } } }`;
const STOCK = `query($sku: ID!) { product(sku: $sku) { sku stock } }`;

interface Stats {
  fetches: number;
  subgraphRequests: number;
  entityCacheHits: number;
  entityCacheMisses: number;
}
const statsOf = (result: { extensions?: Record<string, unknown> }) => result.extensions!.gateway as Stats;

describe.each(redisBackends(TEST_REDIS_URL, requireRedis).map((backend) => [backend.name, backend] as const))('the entity cache on %s', (_name, backend) => {
  let system: TestSystem;
  let redisEnv: Record<string, string>;
  let redis: RedisConnection;
  beforeAll(async () => {
    const started = await backend.start();
    redisEnv = started.env;
    system = await startSystem('sqlite', { ...redisEnv, DEBUG_EXTENSIONS: 'true', DEDUP_INBOUND: 'off' });
    redis = createRedisConnection(started.target, { connectTimeoutMs: 3000, reconnectDelayMs: () => 100, onError: () => undefined });
    await redis.firstAttempt;
  }, 60_000);
  afterAll(async () => {
    redis?.destroy();
    await system?.close();
    await backend.stop();
  });

  const restockDirectly = async (sku: string, quantity: number) => {
    // Straight to inventory, bypassing every gateway: only the change stream can tell them.
    const body = JSON.stringify({ query: `mutation { restock(sku: "${sku}", quantity: ${quantity}) { stock } }` });
    const response = await fetch(system.subgraphs.inventory.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...callerHeaders(TEST_SERVICE_SECRET, { kind: 'user', userId: '1', admin: true }, body),
      },
      body,
    });
    return ((await response.json()) as { data: { restock: { stock: number } } }).data.restock.stock;
  };
  const stockVia = async (client: GraphQLClient, sku: string) => (await client.query<{ product: { stock: number } }>(STOCK, { sku })).data!.product.stock;

  it('answers a warm cross-subgraph query with no _entities call at all', async () => {
    const cold = await system.query(CROSS, {}, { token: adminToken() });
    expect(cold.errors).toBeUndefined();
    expect(statsOf(cold).entityCacheMisses).toBeGreaterThan(0);
    const warm = await system.query(CROSS, {}, { token: adminToken() });
    expect(warm.data).toEqual(cold.data);
    // Only the root list (users(first: 5)) is not an entity lookup; everything else came from the cache.
    expect(statsOf(warm)).toMatchObject({ subgraphRequests: 1, entityCacheMisses: 0 });
    expect(statsOf(warm).entityCacheHits).toBeGreaterThan(10);
  });

  it('looks up all of a fetch batch in one Redis round trip', async () => {
    await system.query(CROSS, {}, { token: adminToken() });
    const before = await counterValue(system.gateway.metrics.cacheRoundTrips);
    const warm = await system.query(CROSS, {}, { token: adminToken() });
    const roundTrips = (await counterValue(system.gateway.metrics.cacheRoundTrips)) - before;
    // One read per cacheable fetch of the plan (User.orders, the products, their shipping estimates), no writes.
    expect(roundTrips).toBe(statsOf(warm).fetches - 1);
  });

  it('never serves one caller private data cached for another', async () => {
    const query = `{ user(id: "3") { name email } }`;
    const own = await system.query<{ user: { email: string | null } }>(query, {}, { token: token('3') });
    expect(own.data!.user.email).toContain('@');
    for (const other of [token('4'), undefined, token('3', { admin: false }).replace(/.$/, '')]) {
      const result = await system.query<{ user: { email: string | null } }>(query, {}, other ? { token: other } : {});
      if (result.status === 401) continue;
      expect(result.data!.user.email).toBeNull();
    }
    // And the other way round: a cached null for user 4 does not hide user 3's email from user 3.
    expect((await system.query<{ user: { email: string | null } }>(query, {}, { token: token('3') })).data!.user.email).toContain('@');
  });

  it('never caches an entity whose answer carried an error', async () => {
    const query = `{ user(id: "6") { orders(first: 2) { totalCount } } }`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const forbidden = await system.query(query, {}, { token: token('7') });
      expect(forbidden.errors![0]!.extensions!.code).toBe('FORBIDDEN');
      expect(forbidden.data).toEqual({ user: { orders: null } });
    }
    const fields = await redis.client.hKeys(`${system.env.REDIS_KEY_PREFIX}ec:orders:User:${JSON.stringify(['6'])}`);
    expect(fields.filter((field) => field.includes('user:7'))).toEqual([]);
  });

  it('evicts on a write through the same gateway: the next read is fresh', async () => {
    const before = await stockVia(system, 'SKU-0010');
    expect(await stockVia(system, 'SKU-0010')).toBe(before);
    await system.query(`mutation { restock(sku: "SKU-0010", quantity: 3) { stock } }`, {}, { token: adminToken() });
    expect(await stockVia(system, 'SKU-0010')).toBe(before + 3);
  });

  it('evicts a user\'s cached orders when they place an order (orders forwards inventory\'s changes too)', async () => {
    const query = `{ me { orders(first: 1) { totalCount } } }`;
    const count = (await system.query<{ me: { orders: { totalCount: number } } }>(query, {}, { token: token('8') })).data!.me.orders.totalCount;
    const stock = await stockVia(system, 'SKU-0011');
    await system.query(`mutation { placeOrder(input: { items: [{ sku: "SKU-0011", quantity: 1 }] }) { id } }`, {}, { token: token('8') });
    expect((await system.query<{ me: { orders: { totalCount: number } } }>(query, {}, { token: token('8') })).data!.me.orders.totalCount).toBe(count + 1);
    expect(await stockVia(system, 'SKU-0011')).toBe(stock - 1);
  });

  it('evicts on a write that bypassed the gateway, through the change stream', async () => {
    const before = await stockVia(system, 'SKU-0012');
    expect(await stockVia(system, 'SKU-0012')).toBe(before);
    const after = await restockDirectly('SKU-0012', 4);
    expect(after).toBe(before + 4);
    await expect(waitFor(() => stockVia(system, 'SKU-0012'), (stock) => stock === after, 2_000)).resolves.toBe(after);
  });

  it('shares persisted queries between replicas', async () => {
    const replica = await system.startGateway(redisEnv);
    const query = `{ product(sku: "SKU-0001") { sku name } }`;
    const sha256Hash = crypto.createHash('sha256').update(query).digest('hex');
    const extensions = { persistedQuery: { version: 1, sha256Hash } };
    const unknown = await replica.post(JSON.stringify({ extensions }));
    expect(unknown.body.errors![0]!.extensions!.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect((await system.post(JSON.stringify({ query, extensions }))).body.data).toEqual({ product: { sku: 'SKU-0001', name: expect.any(String) } });
    expect((await replica.post(JSON.stringify({ extensions }))).body.data).toEqual({ product: { sku: 'SKU-0001', name: expect.any(String) } });
    await replica.close();
  });

  describe('two gateway processes sharing it', () => {
    let a: GatewayProcess;
    let b: GatewayProcess;
    beforeAll(async () => {
      [a, b] = await Promise.all([startGatewayProcess(system.env), startGatewayProcess(system.env)]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('makes a write through one visible through the other on the next read', async () => {
      const before = await stockVia(b.client, 'SKU-0020');
      expect(await stockVia(b.client, 'SKU-0020')).toBe(before);
      await a.client.query(`mutation { restock(sku: "SKU-0020", quantity: 2) { stock } }`, {}, { token: adminToken() });
      expect(await stockVia(b.client, 'SKU-0020')).toBe(before + 2);
    });

    it('makes a write that bypassed both visible through each, within a fraction of a second', async () => {
      const before = await stockVia(b.client, 'SKU-0021');
      await stockVia(a.client, 'SKU-0021');
      const after = await restockDirectly('SKU-0021', 5);
      expect(after).toBe(before + 5);
      await expect(waitFor(() => stockVia(b.client, 'SKU-0021'), (stock) => stock === after, 1_000)).resolves.toBe(after);
      await expect(waitFor(() => stockVia(a.client, 'SKU-0021'), (stock) => stock === after, 1_000)).resolves.toBe(after);
    });
  });
});

describe('when Redis dies mid-run', () => {
  let redisServer: ChildProcess | undefined;
  let port: number;
  let system: TestSystem;

  const startRedis = async () => {
    redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    await waitFor(
      () => new Promise<boolean>((resolve) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false))),
      (up) => up,
      5_000,
    );
  };

  beforeAll(async () => {
    port = await freePort();
    await startRedis();
    system = await startSystem('sqlite', { REDIS_URL: `redis://127.0.0.1:${port}`, DEBUG_EXTENSIONS: 'true', DEDUP_INBOUND: 'off' });
  }, 60_000);
  afterAll(async () => {
    await system?.close();
    redisServer?.kill('SIGKILL');
  });

  it('keeps answering from the subgraphs with no client error, counts it, and uses the cache again once Redis is back', async () => {
    const query = `{ product(sku: "SKU-0002") { name stock shippingEstimateCents } }`;
    await system.query(query);
    const results: { status: number; errors?: unknown }[] = [];
    let killed = false;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let index = 0; index < 40; index++) {
          if (!killed && results.length >= 60) {
            killed = true;
            redisServer!.kill('SIGKILL');
          }
          const result = await system.query(query);
          results.push({ status: result.status, errors: result.errors });
        }
      }),
    );
    expect(killed).toBe(true);
    expect(results.filter((result) => result.status !== 200 || result.errors)).toEqual([]);
    expect(await counterValue(system.gateway.metrics.cacheErrors)).toBeGreaterThan(0);

    await startRedis();
    const hit = await waitFor(
      async () => {
        await system.query(query);
        return statsOf(await system.query(query)).entityCacheHits;
      },
      (hits) => hits > 0,
      10_000,
    );
    expect(hit).toBeGreaterThan(0);
  }, 60_000);
});

interface GatewayProcess {
  client: GraphQLClient;
  stop(): Promise<void>;
}

/** A real gateway process (the same entry point `npm start` runs), on an ephemeral port. */
async function startGatewayProcess(env: Record<string, string>): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(projectRoot, 'gateway', 'index.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env,
      ...env,
      NODE_ENV: 'test',
      GATEWAY_PORT: '0',
      JWT_SECRET: TEST_JWT_SECRET,
      SERVICE_SECRET: TEST_SERVICE_SECRET,
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      DEDUP_INBOUND: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start:\n${output}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^\s"]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}:\n${output}`)));
  });
  return {
    client: clientFor(url),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
