import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GraphQLError } from 'graphql';
import { callerHeaders } from '../../lib/identity';
import { silentLogger } from '../../lib/logger';
import { openDatabase } from '../../subgraphs/common/database';
import { startSubgraph, type RunningSubgraph } from '../../subgraphs/common/server';
import { inventorySubgraph } from '../../subgraphs/inventory/server';
import { createInventoryClient, type InventoryClient } from '../../subgraphs/orders/inventory-client';
import { createOrderService } from '../../subgraphs/orders/service';
import { createOrdersStore, ordersMigrations, type OrdersDatabase, type OrdersSchema, type OrdersStore } from '../../subgraphs/orders/store';
import { TEST_SERVICE_SECRET, testConfig } from '../helpers/system';

/**
 * placeOrder and cancelOrder span two services. These tests run the orders service's saga against the real
 * inventory service over HTTP, and inject the failures that matter between the steps: an answer lost after
 * inventory committed, inventory down, the local write failing. After each, the stores must agree again.
 */
describe('the order saga when a step fails', () => {
  let dir: string;
  let inventory: RunningSubgraph<unknown>;
  let ordersDb: OrdersDatabase;
  let store: OrdersStore;
  let realClient: InventoryClient;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-saga-'));
    inventory = (await startSubgraph(inventorySubgraph, testConfig({ DATA_DIR: dir, SEED_DEMO_DATA: 'false' }), silentLogger)) as RunningSubgraph<unknown>;
    ordersDb = await openDatabase<OrdersSchema>({ kind: 'sqlite', file: path.join(dir, 'orders.sqlite') }, ordersMigrations);
    store = createOrdersStore(ordersDb);
    realClient = createInventoryClient({ url: inventory.url, serviceSecret: TEST_SERVICE_SECRET });
  }, 60_000);
  afterAll(async () => {
    await ordersDb?.close();
    await inventory?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  let skuCounter = 0;
  const inventoryGraphQL = async (query: string) => {
    const body = JSON.stringify({ query });
    const response = await fetch(inventory.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...callerHeaders(TEST_SERVICE_SECRET, { kind: 'user', userId: 'admin', admin: true }, body),
      },
      body,
    });
    return (await response.json()) as { data: Record<string, { stock: number } | null> };
  };
  const newProduct = async (stock: number) => {
    const sku = `SAGA-${++skuCounter}`;
    await inventoryGraphQL(`mutation { createProduct(input: { sku: "${sku}", name: "Saga", priceCents: 100, weightGrams: 10, stock: ${stock} }) { sku } }`);
    return sku;
  };
  const stockOf = async (sku: string) => (await inventoryGraphQL(`{ product(sku: "${sku}") { stock } }`)).data.product!.stock;
  const ordersOf = async (userId: string) => ordersDb.db.selectFrom('orders').selectAll().where('user_id', '=', userId).execute();
  /** An order's status and whether its stock is still owed back. */
  const statesOf = async (userId: string) => (await ordersOf(userId)).map((order) => [order.status, order.release_pending]);

  /** Wraps the real client: `loseAnswers` makes calls reach inventory but report "unavailable". */
  const faulty = (options: { loseReserveAnswer?: boolean; releaseDown?: boolean }): InventoryClient => ({
    async reserve(id, items) {
      const result = await realClient.reserve(id, items);
      return options.loseReserveAnswer ? { ok: false, kind: 'unavailable', reason: 'answer lost' } : result;
    },
    confirm: (id) => realClient.confirm(id),
    async release(id) {
      if (options.releaseDown) return { ok: false, kind: 'unavailable', reason: 'connection refused' };
      return realClient.release(id);
    },
  });

  it('releases the stock and leaves a FAILED, invisible order when the reservation answer is lost', async () => {
    const sku = await newProduct(10);
    const service = createOrderService({ store, inventory: faulty({ loseReserveAnswer: true }), logger: silentLogger });
    await expect(service.place('u-lost', [{ sku, quantity: 4 }])).rejects.toMatchObject({ extensions: { code: 'SERVICE_UNAVAILABLE' } });
    expect(await stockOf(sku)).toBe(10);
    expect(await statesOf('u-lost')).toEqual([['FAILED', 0]]);
    expect(await store.byIds((await ordersOf('u-lost')).map((order) => order.id))).toEqual([]);
  });

  it('repairs an order stuck half-way once inventory is back (recovery loop)', async () => {
    const sku = await newProduct(10);
    const broken = createOrderService({ store, inventory: faulty({ loseReserveAnswer: true, releaseDown: true }), logger: silentLogger });
    await expect(broken.place('u-stuck', [{ sku, quantity: 3 }])).rejects.toBeInstanceOf(GraphQLError);
    expect(await stockOf(sku)).toBe(7);
    expect(await statesOf('u-stuck')).toEqual([['FAILED', 1]]);

    const healthy = createOrderService({ store, inventory: realClient, logger: silentLogger });
    expect(await healthy.recover()).toBe(1);
    expect(await stockOf(sku)).toBe(10);
    expect(await statesOf('u-stuck')).toEqual([['FAILED', 0]]);
    expect(await healthy.recover()).toBe(0);
  });

  it('leaves a PENDING order alone while its lease runs, and abandons it once the lease ran out', async () => {
    const sku = await newProduct(10);
    const healthy = createOrderService({ store, inventory: realClient, logger: silentLogger });
    const inFlight = await store.createPending('u-lease', new Date(Date.now() + 60_000));
    const dead = await store.createPending('u-lease', new Date(Date.now() - 1));
    for (const id of [inFlight, dead]) expect((await realClient.reserve(`order:${id}`, [{ sku, quantity: 1 }])).ok).toBe(true);
    expect(await stockOf(sku)).toBe(8);

    expect(await healthy.recover()).toBe(1);
    expect(await stockOf(sku)).toBe(9);
    expect((await ordersOf('u-lease')).map((order) => [order.id, order.status])).toEqual([
      [inFlight, 'PENDING'],
      [dead, 'FAILED'],
    ]);
  });

  it('gives the stock back when writing the order fails after the reservation', async () => {
    const sku = await newProduct(10);
    const failingStore: OrdersStore = { ...store, place: async () => Promise.reject(new Error('disk full')) };
    const service = createOrderService({ store: failingStore, inventory: realClient, logger: silentLogger });
    await expect(service.place('u-disk', [{ sku, quantity: 2 }])).rejects.toThrow('disk full');
    expect(await stockOf(sku)).toBe(10);
    expect(await statesOf('u-disk')).toEqual([['FAILED', 0]]);
  });

  it('cancels at once and returns the stock later when inventory is down during cancelOrder', async () => {
    const sku = await newProduct(10);
    const healthy = createOrderService({ store, inventory: realClient, logger: silentLogger });
    const order = await healthy.place('u-cancel', [{ sku, quantity: 5 }]);
    expect(await stockOf(sku)).toBe(5);

    const broken = createOrderService({ store, inventory: faulty({ releaseDown: true }), logger: silentLogger });
    expect((await broken.cancel(order.id)).status).toBe('CANCELLED');
    expect(await stockOf(sku)).toBe(5);

    expect(await healthy.recover()).toBeGreaterThanOrEqual(1);
    expect(await stockOf(sku)).toBe(10);
    // Idempotent: another pass and another cancel change nothing.
    await healthy.recover();
    await healthy.cancel(order.id);
    expect(await stockOf(sku)).toBe(10);
  });
});
