/**
 * A bounded soak of the order saga under faults: 500 placeOrder/cancelOrder calls through a gateway over real
 * subgraph processes, while orders and inventory are killed (SIGKILL) and restarted at random, inventory calls
 * are delayed past orders' timeout at random, and the Redis the events go to is killed and restarted once (our
 * own redis-server on a free port, with an append-only file so acknowledged events survive; the machine's
 * Redis is never touched). Then it checks the books:
 *
 *   - units lost or oversold: initial stock - (on the shelf + in PLACED orders + held), per product (target 0);
 *   - how long after the last restart conservation was restored and nothing was held (target under 10 s);
 *   - order events: every PLACED or CANCELLED order's lifecycle events on the stream (at least once).
 *
 * Run: node -r @swc-node/register bench/soak.ts [--calls 500] [--seed 1]
 * It stops by itself (a hard deadline of 10 minutes), stops every process it started and prints Markdown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import SQLite from 'better-sqlite3';
import { createClient } from 'redis';
import { orderEventsStream, type OrderEvent } from '../lib/events';
import { signHs256 } from '../lib/jwt';
import { projectRoot } from '../lib/paths';
import { seededRandom } from '../subgraphs/common/demo-data';
import {
  readLedger,
  settled,
  startDelayingProxy,
  subgraphProcess,
  waitFor,
  type DelayingProxy,
  type InventoryCall,
  type StockLedger,
  type SubgraphProcess,
} from './chaos';
import {
  answersGet,
  freePort,
  killStartedProcesses,
  startProcess,
  waitUntilReady,
  type ManagedProcess,
} from './processes';

const JWT_SECRET = 'soak-jwt-secret-0123456789abcdefgh';
const SERVICE_SECRET = 'soak-service-secret-0123456789abcdefgh';
const PRODUCTS = 5;
const STOCK_EACH = 150;
const WORKERS = 8;
const HARD_DEADLINE_MS = 10 * 60_000;
const SETTLE_TIMEOUT_MS = 60_000;

function argument(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  const value = index === -1 ? undefined : Number(process.argv[index + 1]);
  return value !== undefined && Number.isFinite(value) ? value : fallback;
}

interface Outcomes {
  placed: number;
  cancelled: number;
  /** Refusals and failures by operation and code, e.g. `placeOrder SERVICE_UNAVAILABLE`. */
  failed: Map<string, number>;
}

/** Our own Redis, with an append-only file fsynced on every write: what it acknowledged survives a SIGKILL. */
function redisServer(port: number, dir: string) {
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  return {
    url,
    async start() {
      child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--dir',
          dir,
        ],
        {
          stdio: 'ignore',
        },
      );
      await waitFor(
        'redis to answer',
        async () => {
          const probe = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
          probe.on('error', () => undefined);
          try {
            await probe.connect();
            return (await probe.ping()) === 'PONG';
          } finally {
            if (probe.isOpen) probe.destroy();
          }
        },
        Boolean,
        10_000,
        100,
      );
    },
    async kill() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const calls = argument('calls', 500);
  const random = seededRandom(argument('seed', 1));
  const startedAt = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-soak-'));
  const files = { inventory: path.join(dir, 'inventory.sqlite'), orders: path.join(dir, 'orders.sqlite') };
  const ports = {
    users: await freePort(),
    orders: await freePort(),
    inventory: await freePort(),
    gateway: await freePort(),
    redis: await freePort(),
  };
  const redis = redisServer(ports.redis, dir);
  const stream = 'soak-changes';
  const env = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    JWT_SECRET,
    SERVICE_SECRET,
    DATA_DIR: dir,
    SEED_DEMO_DATA: 'false',
    REDIS_URL: redis.url,
    CHANGE_STREAM: stream,
  };
  let proxy: DelayingProxy | undefined;
  let gateway: ManagedProcess | undefined;
  const services: SubgraphProcess[] = [];
  const stopEverything = async () => {
    await gateway?.stop().catch(() => undefined);
    await Promise.all(services.map((service) => service.stop().catch(() => undefined)));
    killStartedProcesses();
    await redis.kill();
    await proxy?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = setTimeout(() => {
    console.error(`soak: past the hard deadline of ${HARD_DEADLINE_MS / 60_000} minutes; stopping everything`);
    void stopEverything().finally(() => process.exit(2));
  }, HARD_DEADLINE_MS);
  deadline.unref();
  process.once('SIGINT', () => void stopEverything().finally(() => process.exit(130)));

  try {
    await redis.start();
    const users = subgraphProcess('users', ports.users, env);
    const inventory = subgraphProcess('inventory', ports.inventory, env);
    services.push(users, inventory);
    await Promise.all([users.start(), inventory.start()]);
    proxy = await startDelayingProxy(inventory.url);
    const orders = subgraphProcess('orders', ports.orders, { ...env, INVENTORY_URL: proxy.url });
    services.push(orders);
    await orders.start();
    gateway = startProcess({
      name: 'gateway',
      entry: path.join(projectRoot, 'gateway', 'index.ts'),
      nodeOptions: ['-r', '@swc-node/register'],
      env: {
        ...process.env,
        ...env,
        GATEWAY_PORT: String(ports.gateway),
        SUBGRAPH_URL_USERS: users.url,
        SUBGRAPH_URL_ORDERS: orders.url,
        SUBGRAPH_URL_INVENTORY: inventory.url,
        // The soak is about the saga, not the edge: no rate limits, no circuit breaker hiding calls.
        RATE_LIMIT: 'false',
        CIRCUIT_BREAKER_FAILURES: '0',
        SUBGRAPH_TIMEOUT_MS: '20000',
      },
    });
    const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
    await waitUntilReady(gateway, () => answersGet(`${gatewayUrl}/healthz`), 30_000);

    const graphql = async (query: string, variables: Record<string, unknown>, token: string) => {
      const response = await fetch(`${gatewayUrl}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
        signal: AbortSignal.timeout(30_000),
      });
      return (await response.json()) as {
        data?: Record<string, { id: string } | null> | null;
        errors?: { extensions?: { code?: string } }[];
      };
    };
    const tokenFor = (sub: string, admin = false) =>
      signHs256({ sub, exp: Math.floor(Date.now() / 1000) + 3600, ...(admin ? { scope: 'admin' } : {}) }, JWT_SECRET);

    const skus = Array.from({ length: PRODUCTS }, (_, index) => `SOAK-${index + 1}`);
    for (const sku of skus) {
      const created = await graphql(
        `
          mutation ($input: CreateProductInput!) {
            createProduct(input: $input) {
              sku
            }
          }
        `,
        { input: { sku, name: `Soak ${sku}`, priceCents: 100, weightGrams: 100, stock: STOCK_EACH } },
        tokenFor('1', true),
      );
      if (created.errors) throw new Error(`createProduct ${sku}: ${JSON.stringify(created.errors)}`);
    }
    const initial = PRODUCTS * STOCK_EACH;

    // Delays: one inventory call in ten is held 0.5 to 7 s, some past orders' 5 s timeout (late reservations).
    let delays = 0;
    for (const call of ['reserveStock', 'confirmReservation', 'releaseStock'] as InventoryCall[]) {
      proxy.rule(call, () => {
        if (random() >= 0.1) return undefined;
        delays++;
        const holdMs = 500 + Math.floor(random() * 6_500);
        return random() < 0.5 ? { beforeForward: () => sleep(holdMs) } : { beforeAnswer: () => sleep(holdMs) };
      });
    }

    // The workload: WORKERS users, each placing orders and cancelling some of its own.
    const outcomes: Outcomes = { placed: 0, cancelled: 0, failed: new Map() };
    let issued = 0;
    let finished = 0;
    const failed = (what: string) => outcomes.failed.set(what, (outcomes.failed.get(what) ?? 0) + 1);
    const worker = async (index: number) => {
      const token = tokenFor(String(100 + index));
      const mine: string[] = [];
      while (issued < calls) {
        issued++;
        const cancel = mine.length > 0 && random() < 0.35;
        let code: string | undefined;
        try {
          if (cancel) {
            const id = mine.splice(Math.floor(random() * mine.length), 1)[0]!;
            const answer = await graphql(
              `
                mutation ($id: ID!) {
                  cancelOrder(id: $id) {
                    id
                    status
                  }
                }
              `,
              { id },
              token,
            );
            code = answer.errors?.[0]?.extensions?.code ?? (answer.data?.cancelOrder ? undefined : 'no data');
            if (code === undefined) outcomes.cancelled++;
            else failed(`cancelOrder ${code}`);
          } else {
            const lines = skus
              .filter(() => random() < 0.3)
              .map((sku) => ({ sku, quantity: 1 + Math.floor(random() * 3) }));
            if (lines.length === 0) lines.push({ sku: skus[Math.floor(random() * skus.length)]!, quantity: 1 });
            const answer = await graphql(
              `
                mutation ($input: PlaceOrderInput!) {
                  placeOrder(input: $input) {
                    id
                    status
                  }
                }
              `,
              { input: { items: lines } },
              token,
            );
            code = answer.errors?.[0]?.extensions?.code ?? (answer.data?.placeOrder ? undefined : 'no data');
            if (code === undefined) {
              outcomes.placed++;
              mine.push(answer.data!.placeOrder!.id);
            } else failed(`placeOrder ${code}`);
          }
        } catch (error) {
          code = (error as Error).name;
          failed(`${cancel ? 'cancelOrder' : 'placeOrder'} ${code}`);
        }
        finished++;
        // A client backs off after a failure, as a real one would, rather than spending its calls on an outage.
        if (code !== undefined && code !== 'OUT_OF_STOCK') await sleep(500 + random() * 1_000);
      }
    };

    // Chaos while the workload runs: kill orders or inventory every 2-5 s and restart it 0.3-2 s later; kill
    // Redis once. The last action is a kill of both orders and inventory while calls are in flight.
    const kills = { orders: 0, inventory: 0, redis: 0 };
    let lastRestartReadyAt = 0;
    const chaos = async () => {
      let redisKilled = false;
      while (finished < calls * 0.9) {
        await sleep(2_000 + random() * 3_000);
        if (finished >= calls * 0.9) break;
        const roll = random();
        if (!redisKilled && finished > calls * 0.4) {
          redisKilled = true;
          kills.redis++;
          await redis.kill();
          await sleep(300 + random() * 1_700);
          await redis.start();
          continue;
        }
        const victim = roll < 0.5 ? orders : inventory;
        kills[victim.name as 'orders' | 'inventory']++;
        await victim.kill();
        await sleep(300 + random() * 1_700);
        lastRestartReadyAt = await victim.start();
      }
      kills.orders++;
      kills.inventory++;
      await Promise.all([orders.kill(), inventory.kill()]);
      await sleep(500);
      await Promise.all([inventory.start(), orders.start()]);
      lastRestartReadyAt = Date.now();
    };

    const workloadStarted = Date.now();
    await Promise.all([chaos(), ...Array.from({ length: WORKERS }, (_, index) => worker(index))]);
    const workloadMs = Date.now() - workloadStarted;
    for (const call of ['reserveStock', 'confirmReservation', 'releaseStock'] as InventoryCall[])
      proxy.rule(call, undefined);

    // Settling: conservation restored, nothing held, nothing pending, nothing owed, both books agree.
    let ledger: StockLedger;
    let settleError: string | undefined;
    try {
      ledger = await waitFor('the books to settle', () => readLedger(files, skus), settled, SETTLE_TIMEOUT_MS, 100);
    } catch (error) {
      settleError = (error as Error).message;
      ledger = readLedger(files, skus);
    }
    const settledAfterMs = Date.now() - lastRestartReadyAt;
    const perSku = skus.map((sku) => {
      const one = readLedger(files, [sku]);
      return { sku, ...one, drift: STOCK_EACH - (one.stock + one.placed + one.held) };
    });
    const lost = perSku.reduce((sum, row) => sum + Math.max(0, row.drift), 0);
    const oversold = perSku.reduce((sum, row) => sum + Math.max(0, -row.drift), 0);

    // Order events: wait for every outbox to drain, then compare the stream with the orders' books.
    const outboxPending = () =>
      ['users', 'orders', 'inventory'].reduce((sum, name) => {
        const database = new SQLite(path.join(dir, `${name}.sqlite`), { readonly: true });
        try {
          return (
            sum +
            (database.prepare('select count(*) as n from outbox where published_at is null').get() as { n: number }).n
          );
        } finally {
          database.close();
        }
      }, 0);
    const drained = await waitFor(
      'the outboxes to drain',
      outboxPending,
      (pending) => pending === 0,
      30_000,
      200,
    ).catch(() => outboxPending());
    const client = createClient({ url: redis.url });
    await client.connect();
    const entries = await client.xRange(orderEventsStream(stream), '-', '+');
    client.destroy();
    const events = entries.map((entry) => JSON.parse(entry.message.event!) as OrderEvent);
    const eventIds = entries.map((entry) => entry.message.eventId!);
    const ordersDb = new SQLite(files.orders, { readonly: true });
    const books = ordersDb.prepare(`select id, status from orders where status in ('PLACED', 'CANCELLED')`).all() as {
      id: number;
      status: string;
    }[];
    const statusCounts = ordersDb.prepare(`select status, count(*) as n from orders group by status`).all() as {
      status: string;
      n: number;
    }[];
    ordersDb.close();
    const placedEvents = new Set(events.filter((event) => event.type === 'OrderPlaced').map((event) => event.orderId));
    const cancelledEvents = new Set(
      events.filter((event) => event.type === 'OrderCancelled').map((event) => event.orderId),
    );
    const missing =
      books.filter((order) => !placedEvents.has(String(order.id))).length +
      books.filter((order) => order.status === 'CANCELLED' && !cancelledEvents.has(String(order.id))).length;
    const duplicates = eventIds.length - new Set(eventIds).size;

    const lines = [
      `## Soak: ${calls} placeOrder/cancelOrder calls under faults`,
      '',
      `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}; seed ${argument('seed', 1)}; ` +
        `${PRODUCTS} products x ${STOCK_EACH} units; ${WORKERS} concurrent users through one gateway; ` +
        `workload ${(workloadMs / 1000).toFixed(1)} s, whole run ${((Date.now() - startedAt) / 1000).toFixed(1)} s.`,
      '',
      '| measure | value | target |',
      '| --- | ---: | ---: |',
      `| units lost | ${lost} | 0 |`,
      `| units oversold | ${oversold} | 0 |`,
      `| conservation restored after the last restart | ${settleError ? 'not within 60 s' : `${(settledAfterMs / 1000).toFixed(1)} s`} | < 10 s |`,
      `| units held once settled | ${ledger.held} | 0 |`,
      `| initial = on the shelf + in PLACED orders + held | ${initial} = ${ledger.stock} + ${ledger.placed} + ${ledger.held} | equal |`,
      `| order events missing from the stream | ${missing} | 0 |`,
      `| order events delivered twice (at least once) | ${duplicates} | any |`,
      `| outbox rows unpublished at the end | ${drained} | 0 |`,
      '',
      `Faults: ${kills.orders} SIGKILLs of orders, ${kills.inventory} of inventory, ${kills.redis} of Redis; ` +
        `${delays} inventory calls held 0.5-7 s (orders gives up after 5 s).`,
      '',
      `Calls: ${outcomes.placed} orders placed, ${outcomes.cancelled} cancelled; failed: ` +
        `${
          [...outcomes.failed]
            .sort()
            .map(([what, n]) => `${n} ${what}`)
            .join(', ') || 'none'
        }. ` +
        'SERVICE_UNAVAILABLE: orders could not reach inventory (no order placed); SUBGRAPH_UNAVAILABLE: the gateway could not reach orders.',
      `Orders by status: ${statusCounts.map((row) => `${row.status} ${row.n}`).join(', ')}.`,
      '',
      '| product | on the shelf | in PLACED orders | held | drift |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...perSku.map((row) => `| ${row.sku} | ${row.stock} | ${row.placed} | ${row.held} | ${row.drift} |`),
      ...(settleError ? ['', `Did not settle: ${settleError}`] : []),
    ];
    console.log(lines.join('\n'));
    process.exitCode = lost === 0 && oversold === 0 && !settleError && settledAfterMs < 10_000 && missing === 0 ? 0 : 1;
  } finally {
    clearTimeout(deadline);
    await stopEverything();
  }
}

main().catch((error: unknown) => {
  console.error(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  killStartedProcesses();
  process.exit(1);
});
