/**
 * Subscriptions under load (`npm run -s bench:subscriptions`): the three subgraphs and one gateway as processes
 * of their own on a shared Redis; N graphql-ws subscribers to `stockChanged` (spread over K products); an admin
 * restocks one product after another at a steady rate. Reports delivery latency p50/p99 (from the writer's
 * mutation send, an upper bound on "from commit", and from the event's stream entry, written just after the
 * commit), the gateway's memory per subscriber (RSS with the subscribers, minus RSS idle, over N) and the
 * events lost (each restock's new stock value expected at every subscriber of that product; want 0).
 *
 *   npm run -s bench:subscriptions -- --subscribers 1000 --rate 20 --seconds 30 --products 10
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createClient, type Client } from 'graphql-ws';
import { createClient as createRedisClient } from 'redis';
import WebSocket from 'ws';
import { signHs256 } from '../lib/jwt';
import { readRssBytes } from './proc';
import { answersGet, freePort, killStartedProcesses, startProcess, waitUntilReady, type ManagedProcess } from './processes';
import { percentile } from './stats';

const ROOT = path.resolve(__dirname, '..');
const JWT_SECRET = 'bench-subscriptions-jwt-secret-0123456789';
const SERVICE_SECRET = 'bench-subscriptions-service-secret-0123456789';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const STOCK_UPDATES = 'subscription StockUpdates($skus: [ID!]!) { stockChanged(skus: $skus) { sku stock } }';
const RESTOCK = 'mutation($sku: ID!) { restock(sku: $sku, quantity: 1) { sku stock } }';

const { values: options } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '30' },
    products: { type: 'string', default: '10' },
  },
});
const subscribers = Number(options.subscribers);
const rate = Number(options.rate);
const seconds = Number(options.seconds);
const products = Number(options.products);
for (const [name, value] of Object.entries({ subscribers, rate, seconds, products }))
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got ${String(value)}`);

const skuOf = (index: number) => `SKU-${String((index % products) + 1).padStart(4, '0')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const progress = (message: string) => process.stderr.write(`[bench:subscriptions] ${message}\n`);

async function activeSubscriptions(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return [...text.matchAll(/^gateway_subscriptions_active\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
}

async function main(): Promise<void> {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-subscriptions-'));
  const ports = { users: await freePort(), orders: await freePort(), inventory: await freePort(), gateway: await freePort() };
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    JWT_SECRET,
    SERVICE_SECRET,
    DATA_DIR: dataDir,
    REDIS_URL,
    REDIS_KEY_PREFIX: `bench-${run}:`,
    CHANGE_STREAM: `bench-changes-${run}`,
    USERS_PORT: String(ports.users),
    ORDERS_PORT: String(ports.orders),
    INVENTORY_PORT: String(ports.inventory),
    GATEWAY_PORT: String(ports.gateway),
    SUBGRAPH_URL_USERS: `http://127.0.0.1:${ports.users}/graphql`,
    SUBGRAPH_URL_ORDERS: `http://127.0.0.1:${ports.orders}/graphql`,
    SUBGRAPH_URL_INVENTORY: `http://127.0.0.1:${ports.inventory}/graphql`,
    RATE_LIMIT: 'false',
    SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER: String(subscribers + 10),
  };
  const processes: ManagedProcess[] = [];
  const clients: Client[] = [];
  const start = async (name: string, entry: string, readyUrl: string, nodeOptions: string[] = []) => {
    const started = startProcess({
      name,
      entry: path.join(ROOT, entry),
      nodeOptions: ['-r', '@swc-node/register', ...nodeOptions],
      env,
    });
    processes.push(started);
    await waitUntilReady(started, () => answersGet(readyUrl), 120_000);
    return started;
  };
  try {
    await Promise.all(
      (['users', 'orders', 'inventory'] as const).map((name) =>
        start(name, `subgraphs/${name}/index.ts`, `http://127.0.0.1:${ports[name]}/readyz`),
      ),
    );
    const base = `http://127.0.0.1:${ports.gateway}`;
    const gateway = await start('gateway', 'gateway/index.ts', `${base}/readyz`, [
      '--expose-gc',
      '-r',
      path.join(ROOT, 'bench/gc-on-signal.ts'),
    ]);
    /** The gateway's RSS and V8 heap in use, read after a full collection. */
    const memory = async () => {
      process.kill(gateway.pid, 'SIGUSR2');
      await sleep(1_000);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? NaN);
      return { rss: readRssBytes(gateway.pid)!, heap };
    };
    const admin = signHs256({ sub: '1', scope: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 }, JWT_SECRET);
    const restock = async (sku: string) => {
      const response = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
        body: JSON.stringify({ query: RESTOCK, variables: { sku } }),
      });
      const body = (await response.json()) as { data?: { restock: { stock: number } }; errors?: unknown };
      if (!body.data) throw new Error(`restock failed: ${JSON.stringify(body.errors)}`);
      return body.data.restock.stock;
    };
    // Warm up the path (plans, connections) once per product, then let the process settle.
    for (let index = 0; index < products; index++) await restock(skuOf(index));
    const idle = await memory();
    progress(`gateway idle RSS ${(idle.rss / 2 ** 20).toFixed(1)} MiB; opening ${subscribers} graphql-ws subscribers`);

    /** Per product and stock value: when each subscriber received it. */
    const received = new Map<string, number[]>();
    const receivedFromPublish: number[] = [];
    const key = (sku: string, stock: number) => `${sku}:${stock}`;
    for (let index = 0; index < subscribers; index++) {
      const client = createClient({ url: `ws://127.0.0.1:${ports.gateway}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
      clients.push(client);
      client.subscribe<{ stockChanged: { sku: string; stock: number } }, { event?: { id?: string } }>(
        { query: STOCK_UPDATES, variables: { skus: [skuOf(index)] } },
        {
          next: (result) => {
            const now = Date.now();
            const changed = result.data?.stockChanged;
            if (!changed) return;
            const times = received.get(key(changed.sku, changed.stock)) ?? [];
            times.push(now);
            received.set(key(changed.sku, changed.stock), times);
            const streamId = result.extensions?.event?.id;
            if (streamId) receivedFromPublish.push(now - Number(streamId.split('-')[0]));
          },
          error: (error) => progress(`a subscriber failed: ${JSON.stringify(error).slice(0, 200)}`),
          complete: () => undefined,
        },
      );
      if (index % 100 === 99) await sleep(10);
    }
    while ((await activeSubscriptions(base)) < subscribers) await sleep(100);
    const loaded = await memory();
    progress(`${subscribers} subscribed; gateway RSS ${(loaded.rss / 2 ** 20).toFixed(1)} MiB; restocking at ${rate}/s for ${seconds} s`);
    receivedFromPublish.length = 0;

    const writes: { sku: string; sentAt: number; stock?: number }[] = [];
    const inFlight: Promise<void>[] = [];
    const started = Date.now();
    const total = rate * seconds;
    for (let index = 0; index < total; index++) {
      const due = started + (index * 1000) / rate;
      if (due > Date.now()) await sleep(due - Date.now());
      const write: { sku: string; sentAt: number; stock?: number } = { sku: skuOf(index), sentAt: Date.now() };
      writes.push(write);
      inFlight.push(restock(write.sku).then((stock) => void (write.stock = stock)));
    }
    await Promise.all(inFlight);
    const perProduct = Math.floor(subscribers / products);
    const expectedFor = (sku: string) => perProduct + (Number(sku.slice(4)) - 1 < subscribers % products ? 1 : 0);
    const expected = writes.reduce((sum, write) => sum + expectedFor(write.sku), 0);
    const deliveredCount = () => writes.reduce((sum, write) => sum + (received.get(key(write.sku, write.stock!))?.length ?? 0), 0);
    // Stragglers: up to 10 s for the last events to arrive.
    for (let waited = 0; waited < 10_000 && deliveredCount() < expected; waited += 100) await sleep(100);
    const fromWrite: number[] = [];
    for (const write of writes) for (const at of received.get(key(write.sku, write.stock!)) ?? []) fromWrite.push(at - write.sentAt);
    fromWrite.sort((a, b) => a - b);
    receivedFromPublish.sort((a, b) => a - b);
    const delivered = deliveredCount();
    const report = {
      subscribers,
      products,
      eventsPerSecond: rate,
      seconds,
      events: writes.length,
      deliveriesExpected: expected,
      deliveriesReceived: delivered,
      lost: expected - delivered,
      latencyFromWriteMs: { p50: percentile(fromWrite, 50), p99: percentile(fromWrite, 99), max: fromWrite.at(-1) },
      latencyFromStreamEntryMs: {
        p50: percentile(receivedFromPublish, 50),
        p99: percentile(receivedFromPublish, 99),
        max: receivedFromPublish.at(-1),
      },
      gatewayRssIdleMiB: Number((idle.rss / 2 ** 20).toFixed(1)),
      gatewayRssWithSubscribersMiB: Number((loaded.rss / 2 ** 20).toFixed(1)),
      gatewayRssKiBPerSubscriber: Number(((loaded.rss - idle.rss) / 1024 / subscribers).toFixed(1)),
      gatewayHeapKiBPerSubscriber: Number(((loaded.heap - idle.heap) / 1024 / subscribers).toFixed(1)),
    };
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    await Promise.all(processes.reverse().map((started) => started.stop()));
    killStartedProcesses();
    fs.rmSync(dataDir, { recursive: true, force: true });
    const redis = createRedisClient({ url: REDIS_URL });
    await redis.connect().then(
      async () => {
        await redis.del([`bench-changes-${run}`, `bench-changes-${run}:order-events`]);
        for await (const keys of redis.scanIterator({ MATCH: `bench-${run}:*`, COUNT: 500 })) if (keys.length) await redis.del(keys);
        redis.destroy();
      },
      () => undefined,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench:subscriptions] failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  killStartedProcesses();
  process.exit(1);
});
