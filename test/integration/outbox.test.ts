import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import { createClient } from 'redis';
import { callSubgraph, readLedger, settled, subgraphProcess, waitFor } from '../../bench/chaos';
import { freePort, killStartedProcesses } from '../../bench/processes';
import { createLocalEventBroker, orderEventsStream, type BrokerMessage, type EventBroker } from '../../lib/events';
import type { Caller } from '../../lib/identity';
import { silentLogger } from '../../lib/logger';
import { openDatabase, type Database } from '../../subgraphs/common/database';
import { appendToOutbox, createOutboxRelay, entityChanges, type OutboxSchema } from '../../subgraphs/common/outbox';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/common/server';
import { inventorySubgraph } from '../../subgraphs/inventory/server';
import type { InventorySchema } from '../../subgraphs/inventory/store';
import { createOrdersSubgraph } from '../../subgraphs/orders/server';
import { ordersMigrations, type OrdersSchema } from '../../subgraphs/orders/store';
import { usersMigrations } from '../../subgraphs/users/store';
import {
  dropSchemas,
  requirePostgres,
  requireRedis,
  TEST_DATABASE_URL,
  TEST_JWT_SECRET,
  TEST_REDIS_URL,
  TEST_SERVICE_SECRET,
  testConfig,
} from '../helpers/system';

/**
 * The transactional outbox: an event commits with its write or not at all, reaches the broker at least once
 * even when the process dies between its commit and the publish, and is published once by one of several
 * replicas relaying the same table.
 */
const ADMIN: Caller = { kind: 'user', userId: '1', admin: true };
const BUYER: Caller = { kind: 'user', userId: '42', admin: false };
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { sku } }`;
const RESTOCK = `mutation($sku: ID!, $quantity: Int!) { restock(sku: $sku, quantity: $quantity) { stock } }`;

/** The rows no relay has published yet, in any subgraph's database. */
const unpublished = async (database: { db: unknown }) =>
  (database.db as Kysely<OutboxSchema>)
    .selectFrom('outbox')
    .select(['id', 'topic', 'payload'])
    .where('published_at', 'is', null)
    .orderBy('id')
    .execute();

/** A broker that records what it was handed, and can be told to refuse (broker down) or to be slow. */
function recordingBroker(options: { delayMs?: number } = {}) {
  const received: BrokerMessage[] = [];
  let down = false;
  const broker: EventBroker = {
    async send(messages) {
      if (options.delayMs) await sleep(options.delayMs);
      if (down) return false;
      received.push(...messages);
      return true;
    },
    close: async () => undefined,
  };
  return { broker, received, setDown: (value: boolean) => (down = value) };
}

describe('the outbox in one process (SQLite)', () => {
  let dir: string;
  let inventory: RunningSubgraph<InventorySchema>;
  let orders: RunningSubgraph<OrdersSchema>;
  const delivered: BrokerMessage[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-outbox-'));
    const env = { DATA_DIR: dir, SEED_DEMO_DATA: 'false' };
    const broker = createLocalEventBroker();
    broker.subscribe((message) => void delivered.push(message));
    inventory = await startSubgraph(inventorySubgraph, testConfig(env), silentLogger, { broker });
    orders = await startSubgraph(
      createOrdersSubgraph(),
      testConfig({ ...env, INVENTORY_URL: inventory.url }),
      silentLogger,
      {
        broker: createLocalEventBroker(),
      },
    );
  }, 60_000);
  afterAll(async () => {
    await orders?.close();
    await inventory?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('publishes a write’s changes through the in-process bus when there is no Redis, each with its row id', async () => {
    delivered.length = 0;
    const sku = `OBX-${process.pid}-1`;
    await callSubgraph(inventory.url, TEST_SERVICE_SECRET, ADMIN, CREATE_PRODUCT, {
      input: { sku, name: 'Boxed', priceCents: 1, weightGrams: 1, stock: 3 },
    });
    const restocked = await callSubgraph(inventory.url, TEST_SERVICE_SECRET, ADMIN, RESTOCK, { sku, quantity: 2 });
    expect(restocked.errors).toBeUndefined();
    // Published before the response left (the relay is flushed after each write), so nothing to wait for.
    expect(delivered.map((message) => message.event)).toEqual([
      { topic: 'entity-changes', changes: [{ typename: 'Product', key: { sku } }] },
      { topic: 'entity-changes', changes: [{ typename: 'Product', key: { sku } }] },
    ]);
    expect(delivered.map((message) => message.id)).toEqual([
      expect.stringMatching(/^inventory:\d+$/),
      expect.stringMatching(/^inventory:\d+$/),
    ]);
    expect(await unpublished(inventory.database)).toEqual([]);
  });

  it('writes no event for a write that did not commit (a reservation refused OUT_OF_STOCK)', async () => {
    const sku = `OBX-${process.pid}-2`;
    await callSubgraph(inventory.url, TEST_SERVICE_SECRET, ADMIN, CREATE_PRODUCT, {
      input: { sku, name: 'Scarce', priceCents: 1, weightGrams: 1, stock: 1 },
    });
    const before = await inventory.database.db
      .selectFrom('outbox')
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    const refused = await callSubgraph(orders.url, TEST_SERVICE_SECRET, BUYER, PLACE, {
      input: { items: [{ sku, quantity: 2 }] },
    });
    expect(refused.errors?.[0]?.extensions?.code).toBe('OUT_OF_STOCK');
    const after = await inventory.database.db
      .selectFrom('outbox')
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
  });

  it('does not place an order whose events cannot be written: the order, its lines and its events commit together', async () => {
    const sku = `OBX-${process.pid}-3`;
    await callSubgraph(inventory.url, TEST_SERVICE_SECRET, ADMIN, CREATE_PRODUCT, {
      input: { sku, name: 'Atomic', priceCents: 1, weightGrams: 1, stock: 10 },
    });
    await sql`alter table outbox rename to outbox_unwritable`.execute(orders.database.db);
    try {
      const failed = await callSubgraph(orders.url, TEST_SERVICE_SECRET, BUYER, PLACE, {
        input: { items: [{ sku, quantity: 4 }] },
      });
      expect(failed.errors).toHaveLength(1);
    } finally {
      await sql`alter table outbox_unwritable rename to outbox`.execute(orders.database.db);
    }
    const files = { inventory: path.join(dir, 'inventory.sqlite'), orders: path.join(dir, 'orders.sqlite') };
    const ledger = await waitFor('settled', () => readLedger(files, [sku]), settled, 5_000);
    expect(ledger).toMatchObject({ stock: 10, placed: 0, held: 0 });
    const items = await orders.database.db
      .selectFrom('order_items')
      .select('order_id')
      .where('sku', '=', sku)
      .execute();
    expect(items).toEqual([]);
  });
});

describe('the outbox relay', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-relay-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function appendRows(database: Database<OutboxSchema>, count: number, prefix: string): Promise<void> {
    for (let start = 0; start < count; start += 50) {
      await database.db.transaction().execute((trx) =>
        appendToOutbox(
          trx,
          Array.from({ length: Math.min(50, count - start) }, (_, index) =>
            entityChanges([{ typename: 'Product', key: { sku: `${prefix}-${start + index}` } }]),
          ),
        ),
      );
    }
  }

  it('keeps rows until the broker takes them, then publishes each of them, in order', async () => {
    const database = (await openDatabase(
      { kind: 'sqlite', file: path.join(dir, 'retry.sqlite') },
      usersMigrations,
    )) as unknown as Database<OutboxSchema>;
    const { broker, received, setDown } = recordingBroker();
    const relay = createOutboxRelay({ database, broker, service: 'users', intervalMs: 50, logger: silentLogger });
    try {
      setDown(true);
      await appendRows(database, 3, 'DOWN');
      await relay.flush();
      expect(received).toEqual([]);
      expect(await unpublished(database)).toHaveLength(3);
      expect(relay.stats().failed).toBeGreaterThanOrEqual(3);

      setDown(false);
      await waitFor(
        'the relay to catch up',
        () => unpublished(database),
        (rows) => rows.length === 0,
        10_000,
      );
      expect(
        received.map((message) => (message.event.topic === 'entity-changes' ? message.event.changes[0]!.key.sku : '')),
      ).toEqual(['DOWN-0', 'DOWN-1', 'DOWN-2']);
    } finally {
      await relay.stop();
      await database.close();
    }
  });

  it('never runs two passes at once in one process: 20 concurrent flushes publish 500 rows once each', async () => {
    const database = (await openDatabase(
      { kind: 'sqlite', file: path.join(dir, 'once.sqlite') },
      usersMigrations,
    )) as unknown as Database<OutboxSchema>;
    const { broker, received } = recordingBroker({ delayMs: 2 });
    const relay = createOutboxRelay({ database, broker, service: 'users', intervalMs: 60_000, logger: silentLogger });
    try {
      await appendRows(database, 500, 'ONCE');
      await Promise.all(Array.from({ length: 20 }, () => relay.flush()));
      expect(received).toHaveLength(500);
      expect(new Set(received.map((message) => message.id)).size).toBe(500);
    } finally {
      await relay.stop();
      await database.close();
    }
  });

  it('shares one PostgreSQL outbox between two replicas without publishing a row twice (FOR UPDATE SKIP LOCKED)', async () => {
    await requirePostgres();
    const prefix = `t${process.pid}_obx_`;
    const config = { kind: 'postgres' as const, url: TEST_DATABASE_URL, schema: `${prefix}users`, poolSize: 3 };
    const [first, second] = [
      (await openDatabase(config, usersMigrations)) as unknown as Database<OutboxSchema>,
      (await openDatabase(config, usersMigrations)) as unknown as Database<OutboxSchema>,
    ];
    const { broker, received } = recordingBroker({ delayMs: 5 });
    const relays = [first, second].map((database) =>
      createOutboxRelay({ database, broker, service: 'users', intervalMs: 60_000, logger: silentLogger }),
    );
    try {
      await appendRows(first, 600, 'PG');
      // Both replicas relay the same table at once, again and again, until it is empty.
      await waitFor(
        'both relays to drain the outbox',
        async () => {
          await Promise.all(relays.map((relay) => relay.flush()));
          return unpublished(first);
        },
        (rows) => rows.length === 0,
        30_000,
        1,
      );
      expect(received).toHaveLength(600);
      expect(new Set(received.map((message) => message.id)).size).toBe(600);
      // Each replica took a share: they did run side by side.
      expect(relays.every((relay) => relay.stats().published > 0)).toBe(true);
    } finally {
      await Promise.all(relays.map((relay) => relay.stop()));
      await first.close();
      await second.close();
      await dropSchemas(prefix);
    }
  });
});

describe('an event whose process died between its commit and its publish (child process, SIGKILL)', () => {
  const stream = `test-outbox-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const redis = createClient({ url: TEST_REDIS_URL });
  let dir: string;
  let inventory: RunningSubgraph<InventorySchema>;

  beforeAll(async () => {
    await requireRedis();
    await redis.connect();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-outbox-kill-'));
    inventory = await startSubgraph(
      inventorySubgraph,
      testConfig({ DATA_DIR: dir, SEED_DEMO_DATA: 'false', REDIS_URL: TEST_REDIS_URL, CHANGE_STREAM: stream }),
      silentLogger,
    );
  }, 60_000);
  afterAll(async () => {
    killStartedProcesses();
    await inventory?.close();
    if (redis.isOpen) {
      await redis.del([stream, orderEventsStream(stream)]);
      redis.destroy();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('is published by the next process’s relay: the order’s changes and its OrderPlaced event reach the streams', async () => {
    const sku = `OBX-KILL-${process.pid}`;
    await callSubgraph(inventory.url, TEST_SERVICE_SECRET, ADMIN, CREATE_PRODUCT, {
      input: { sku, name: 'Crash', priceCents: 250, weightGrams: 1, stock: 5 },
    });
    const port = await freePort();
    const env = {
      NODE_ENV: 'test',
      LOG_LEVEL: 'error',
      JWT_SECRET: TEST_JWT_SECRET,
      SERVICE_SECRET: TEST_SERVICE_SECRET,
      DATA_DIR: dir,
      SEED_DEMO_DATA: 'false',
      INVENTORY_URL: inventory.url,
      CHANGE_STREAM: stream,
    };
    const orders = subgraphProcess('orders', port, env);
    // The broker is unreachable for this process, so its relay cannot publish what it commits.
    await orders.start({ REDIS_URL: 'redis://127.0.0.1:1' });
    const placed = await callSubgraph<{ placeOrder: { id: string } }>(orders.url, TEST_SERVICE_SECRET, BUYER, PLACE, {
      input: { items: [{ sku, quantity: 2 }] },
    });
    expect(placed.errors).toBeUndefined();
    const orderId = placed.data!.placeOrder.id;
    await orders.kill();

    const ordersDb = await openDatabase<OrdersSchema>(
      { kind: 'sqlite', file: path.join(dir, 'orders.sqlite') },
      ordersMigrations,
    );
    try {
      const pending = await unpublished(ordersDb);
      expect(pending.map((row) => row.topic)).toEqual(['entity-changes', 'order-events']);
    } finally {
      await ordersDb.close();
    }
    expect(await redis.xLen(orderEventsStream(stream))).toBe(0);

    await orders.start({ REDIS_URL: TEST_REDIS_URL });
    try {
      const events = await waitFor(
        'the OrderPlaced event',
        () => redis.xRange(orderEventsStream(stream), '-', '+'),
        (entries) => entries.length > 0,
        10_000,
      );
      expect(events).toHaveLength(1);
      expect(JSON.parse(events[0]!.message.event!)).toMatchObject({
        type: 'OrderPlaced',
        orderId,
        userId: '42',
        totalCents: 500,
        items: [{ sku, quantity: 2 }],
      });
      expect(events[0]!.message.eventId).toMatch(/^orders:\d+$/);
      const changes = await waitFor(
        'the order’s entity changes',
        () => redis.xRange(stream, '-', '+'),
        (entries) => entries.some((entry) => entry.message.eventId?.startsWith('orders:')),
        10_000,
      );
      const fromOrders = changes.filter((entry) => entry.message.eventId?.startsWith('orders:'));
      expect(fromOrders.map((entry) => JSON.parse(entry.message.changes!))).toEqual([
        [
          { typename: 'Order', key: { id: orderId } },
          { typename: 'User', key: { id: '42' } },
        ],
      ]);
    } finally {
      await orders.stop();
    }
  }, 60_000);
});
