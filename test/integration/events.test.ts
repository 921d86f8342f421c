import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import {
  CHANGES_EXTENSION,
  createRedisChangePublisher,
  orderEventsStream,
  createRedisChangeSubscriber,
  type ChangePublisher,
  type ChangeSubscriber,
  type EntityChange,
} from '../../lib/events';
import { callerHeaders, type Caller } from '../../lib/identity';
import { silentLogger } from '../../lib/logger';
import { openDatabase } from '../../subgraphs/common/database';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/common/server';
import type { InventoryClient } from '../../subgraphs/orders/inventory-client';
import { createOrderService } from '../../subgraphs/orders/service';
import { createOrdersStore, ordersMigrations, type OrdersSchema } from '../../subgraphs/orders/store';
import { usersSubgraph } from '../../subgraphs/users/server';
import {
  adminToken,
  requireRedis,
  startSystem,
  TEST_REDIS_URL,
  TEST_SERVICE_SECRET,
  testConfig,
  token,
  type TestSystem,
} from '../helpers/system';

/**
 * Every committed write announces the entities it changed: on the Redis stream (each service its own), and in
 * the mutation's response (`extensions.entityChanges`, with what services called on its behalf changed too).
 */
const user = (id: string): EntityChange => ({ typename: 'User', key: { id } });
const order = (id: string): EntityChange => ({ typename: 'Order', key: { id } });
const product = (sku: string): EntityChange => ({ typename: 'Product', key: { sku } });
const MARKER = '__TestMarker';

const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { id } }`;
const CREATE_PRODUCT = `mutation($input: CreateProductInput!) { createProduct(input: $input) { sku } }`;
const RESTOCK = `mutation($sku: ID!, $quantity: Int!) { restock(sku: $sku, quantity: $quantity) { stock } }`;
const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id status } }`;
const CANCEL = `mutation($id: ID!) { cancelOrder(id: $id) { id status } }`;

const ADMIN: Caller = { kind: 'user', userId: '1', admin: true };

interface SubgraphResponse {
  data?: Record<string, { id?: string } | null> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

/** Calls a subgraph directly, as the gateway would, with a signed caller. */
async function callSubgraph(url: string, query: string, variables: Record<string, unknown>, caller: Caller): Promise<SubgraphResponse> {
  const body = JSON.stringify({ query, variables });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...callerHeaders(TEST_SERVICE_SECRET, caller, body) },
    body,
  });
  return (await response.json()) as SubgraphResponse;
}

describe('entity changes announced by the subgraphs', () => {
  const streamKey = `test-changes-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const batches: EntityChange[][] = [];
  let system: TestSystem;
  let subscriber: ChangeSubscriber;
  let markerPublisher: ChangePublisher;
  let markers = 0;

  beforeAll(async () => {
    await requireRedis();
    system = await startSystem('sqlite', { REDIS_URL: TEST_REDIS_URL, CHANGE_STREAM: streamKey });
    subscriber = createRedisChangeSubscriber({ redis: TEST_REDIS_URL, streamKey, logger: silentLogger });
    await subscriber.subscribe((changes) => void batches.push(changes));
    markerPublisher = createRedisChangePublisher({ redis: TEST_REDIS_URL, streamKey, logger: silentLogger });
  }, 120_000);
  afterAll(async () => {
    await subscriber?.close();
    await markerPublisher?.close();
    await system?.close();
    const redis = createClient({ url: TEST_REDIS_URL });
    await redis.connect();
    await redis.del([streamKey, orderEventsStream(streamKey)]);
    redis.destroy();
  });

  /**
   * The batches published because of `action`. Events leave through each service's outbox: normally before
   * the service answers (it waits up to 500 ms for its relay), but on a busy machine a little after. So the
   * expected number of batches is awaited first (bounded); then a marker published after them shows that
   * nothing else of the action's is on its way.
   */
  async function announcedBy(action: () => Promise<unknown>, expected: number): Promise<EntityChange[][]> {
    batches.length = 0;
    await action();
    const announced = () => batches.filter((batch) => batch[0]?.typename !== MARKER);
    const deadline = Date.now() + 5000;
    while (announced().length < expected) {
      if (Date.now() > deadline) throw new Error(`expected ${expected} batches; got ${JSON.stringify(batches)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const marker = ++markers;
    await markerPublisher.publish([{ typename: MARKER, key: { marker } }]);
    while (!batches.some((batch) => batch[0]?.typename === MARKER && batch[0].key.marker === marker)) {
      if (Date.now() > deadline + 5000) throw new Error(`marker ${marker} not delivered; got ${JSON.stringify(batches)}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return announced();
  }

  /** Batches from different services, in a fixed order: each service's relay runs on its own. */
  const unordered = (announced: EntityChange[][]) =>
    [...announced].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

  let skuCounter = 0;
  async function newProduct(stock: number): Promise<string> {
    const sku = `EVT-${++skuCounter}`;
    const created = await system.query(CREATE_PRODUCT, { input: { sku, name: `Event ${sku}`, priceCents: 250, weightGrams: 100, stock } }, { token: adminToken() });
    expect(created.errors).toBeUndefined();
    return sku;
  }

  async function newUser(): Promise<string> {
    const created = await system.query<{ createUser: { id: string } }>(CREATE_USER, {
      input: { name: 'Eve Event', email: `eve-${Math.random().toString(36).slice(2)}@example.com` },
    });
    expect(created.errors).toBeUndefined();
    return created.data!.createUser.id;
  }

  describe('on the stream, through the gateway', () => {
    it('announces User{id} for createUser', async () => {
      let id = '';
      const announced = await announcedBy(async () => (id = await newUser()), 1);
      expect(announced).toEqual([[user(id)]]);
    });

    it('announces Product{sku} for createProduct and restock', async () => {
      let sku = '';
      expect(await announcedBy(async () => (sku = await newProduct(3)), 1)).toEqual([[product(sku)]]);
      const announced = await announcedBy(async () => {
        const restocked = await system.query(RESTOCK, { sku, quantity: 4 }, { token: adminToken() });
        expect(restocked.errors).toBeUndefined();
      }, 1);
      expect(announced).toEqual([[product(sku)]]);
    });

    it('announces the order, its owner and every product whose stock moved, for placeOrder and cancelOrder', async () => {
      const [first, second] = [await newProduct(10), await newProduct(10)];
      const owner = await newUser();
      let id = '';
      const placed = await announcedBy(async () => {
        const result = await system.query<{ placeOrder: { id: string } }>(
          PLACE,
          { input: { items: [{ sku: first, quantity: 2 }, { sku: second, quantity: 1 }] } },
          { token: token(owner) },
        );
        expect(result.errors).toBeUndefined();
        id = result.data!.placeOrder.id;
      }, 2);
      // Inventory publishes its stock changes itself; orders publishes its own.
      expect(unordered(placed)).toEqual(unordered([[product(first), product(second)], [order(id), user(owner)]]));

      const cancelled = await announcedBy(async () => {
        const result = await system.query(CANCEL, { id }, { token: token(owner) });
        expect(result.errors).toBeUndefined();
      }, 2);
      expect(unordered(cancelled)).toEqual(unordered([[product(first), product(second)], [order(id), user(owner)]]));

      const again = await announcedBy(() => system.query(CANCEL, { id }, { token: token(owner) }), 0);
      expect(again).toEqual([]);
    });

    it('announces nothing for an order refused with OUT_OF_STOCK', async () => {
      const sku = await newProduct(1);
      const owner = await newUser();
      const announced = await announcedBy(async () => {
        const result = await system.query(PLACE, { input: { items: [{ sku, quantity: 2 }] } }, { token: token(owner) });
        expect(result.errors?.[0]?.extensions?.code).toBe('OUT_OF_STOCK');
      }, 0);
      expect(announced).toEqual([]);
    });
  });

  describe('in the response of a direct subgraph call', () => {
    it("carries a mutation's changes in extensions.entityChanges", async () => {
      const sku = await newProduct(1);
      const restocked = await callSubgraph(system.subgraphs.inventory.url, RESTOCK, { sku, quantity: 1 }, ADMIN);
      expect(restocked.errors).toBeUndefined();
      expect(restocked.extensions?.[CHANGES_EXTENSION]).toEqual([product(sku)]);
    });

    it("forwards inventory's stock changes in orders' own response, after publishing only its own", async () => {
      const sku = await newProduct(5);
      const owner = await newUser();
      let response: SubgraphResponse = {};
      const announced = await announcedBy(async () => {
        response = await callSubgraph(system.subgraphs.orders.url, PLACE, { input: { items: [{ sku, quantity: 1 }] } }, {
          kind: 'user',
          userId: owner,
          admin: false,
        });
      }, 2);
      expect(response.errors).toBeUndefined();
      const id = response.data!.placeOrder!.id!;
      expect(response.extensions?.[CHANGES_EXTENSION]).toEqual([product(sku), order(id), user(owner)]);
      expect(unordered(announced)).toEqual(unordered([[product(sku)], [order(id), user(owner)]]));
    });

    it('carries an empty list for a mutation that changed nothing, and nothing for a query', async () => {
      const sku = await newProduct(0);
      const owner = await newUser();
      const refused = await callSubgraph(system.subgraphs.orders.url, PLACE, { input: { items: [{ sku, quantity: 1 }] } }, {
        kind: 'user',
        userId: owner,
        admin: false,
      });
      expect(refused.errors?.[0]?.extensions?.code).toBe('OUT_OF_STOCK');
      expect(refused.extensions?.[CHANGES_EXTENSION]).toEqual([]);

      const read = await callSubgraph(system.subgraphs.inventory.url, `{ product(sku: "${sku}") { stock } }`, {}, ADMIN);
      expect(read.extensions?.[CHANGES_EXTENSION]).toBeUndefined();
    });
  });
});

describe('a subgraph whose Redis is unreachable', () => {
  let dir: string;
  let users: RunningSubgraph<unknown>;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-events-'));
    const config = testConfig({ DATA_DIR: dir, SEED_DEMO_DATA: 'false', REDIS_URL: 'redis://127.0.0.1:1', CHANGE_STREAM: 'unused' });
    users = (await startSubgraph(usersSubgraph, config, silentLogger)) as RunningSubgraph<unknown>;
  });
  afterAll(async () => {
    await users?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('still commits and answers a mutation at once, announcing the change in the response', async () => {
    const started = performance.now();
    const created = await callSubgraph(users.url, CREATE_USER, { input: { name: 'Offline', email: 'offline@example.com' } }, ADMIN);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(created.errors).toBeUndefined();
    expect(created.extensions?.[CHANGES_EXTENSION]).toEqual([user(created.data!.createUser!.id!)]);
    const metrics = await (await fetch(users.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(metrics).toContain('subgraph_entity_change_batches_total{subgraph="users",result="failed"} 1');
  });
});

describe("the orders recovery loop's announcements", () => {
  it('writes no events: an abandoned order was never visible, and released stock is announced by inventory', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-recovery-'));
    const database = await openDatabase<OrdersSchema>({ kind: 'sqlite', file: path.join(dir, 'orders.sqlite') }, ordersMigrations);
    try {
      const store = createOrdersStore(database);
      const released = { ok: true as const, value: [], changes: [product('ELSEWHERE')] };
      const inventory: InventoryClient = {
        reserve: async () => ({ ok: false, kind: 'unavailable', reason: 'not used' }),
        confirm: async () => ({ ok: false, kind: 'unavailable', reason: 'not used' }),
        release: async () => released,
      };
      const service = createOrderService({ store, inventory, logger: silentLogger });
      const outboxRows = async () => (await database.db.selectFrom('outbox').select('payload').orderBy('id').execute()).map((row) => row.payload);

      await store.createPending('u-stale', new Date(Date.now() - 1));
      const placed = await store.createPending('u-owed', new Date());
      await store.place(placed, [{ sku: 'ELSEWHERE', quantity: 1, unit_price_cents: 100 }]);
      await store.markCancelled(placed, new Date(Date.now() - 1));
      const before = await outboxRows();
      // Placing and cancelling each committed the order's changes and its lifecycle event.
      expect(before).toHaveLength(4);
      expect(JSON.parse(before[0]!)).toEqual([order(String(placed)), user('u-owed')]);

      expect(await service.recover()).toBe(2);
      expect(await outboxRows()).toEqual(before);
    } finally {
      await database.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
