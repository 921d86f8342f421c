import crypto from 'node:crypto';
import { changeStreamKey } from '../../lib/config';
import { callerHeaders } from '../../lib/identity';
import { silentLogger } from '../../lib/logger';
import { createRedisConnection, type RedisConnection } from '../../lib/redis';
import {
  createRedisChangePublisher,
  createRedisChangeSubscriber,
  createRedisEventBroker,
  orderEventsStream,
  type EntityChange,
} from '../../lib/events';
import { createRedisCacheStore, decodeValue } from '../../gateway/cache/store';
import { createGatewayMetrics } from '../../gateway/metrics';
import { createRedisRateLimitStore, rateLimitKey, type RatePolicy } from '../../gateway/edge/rate-limit';
import { startRedisCluster, type TestRedisCluster } from '../helpers/redis-cluster';
import { adminToken, startSystem, TEST_SERVICE_SECRET, type GraphQLClient, type TestSystem } from '../helpers/system';

/**
 * Every Redis user on a real Redis Cluster (three masters, one replica each, started from the machine's
 * redis-server): the entity cache's reads, writes and evictions across slots, persisted queries, rate-limit
 * counters shared by two stores, the change stream and the event broker, and then the whole system through a
 * manual failover of the shards that hold the change stream and a cached entity.
 */
describe('on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let inspector: RedisConnection;
  const run = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1 });
    inspector = createRedisConnection(cluster.target, { connectTimeoutMs: 2000, reconnectDelayMs: () => 100, onError: () => undefined });
    await inspector.firstAttempt;
  }, 60_000);
  afterAll(async () => {
    inspector?.destroy();
    await cluster?.stop();
  });

  describe('the cache store', () => {
    const keyPrefix = `store-${run}:`;
    const open = () =>
      createRedisCacheStore({ redis: cluster.target, timeoutMs: 2000, keyPrefix, logger: silentLogger, metrics: createGatewayMetrics() });
    const untilReady = async (store: ReturnType<typeof open>) => {
      for (let attempt = 0; (await store.readFields([{ key: 'probe', field: 'f' }])) === undefined; attempt++) {
        if (attempt > 200) throw new Error('the cluster cache store never became ready');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    // Keys spread over every master, so one call's commands cross slots and nodes.
    const keys = Array.from({ length: 12 }, (_, index) => `ec:products:Product:["${index}"]`);

    it('reads, writes and evicts entities whose keys live on different masters, in one call each', async () => {
      const store = open();
      try {
        await untilReady(store);
        const masters = new Set(await Promise.all(keys.map(async (key) => (await cluster.shardOf(keyPrefix + key)).master)));
        expect(masters.size).toBe(3);
        await store.writeFields(keys.flatMap((key, index) => [
          { key, field: 'name', value: `product ${index}`, ttlSeconds: 60 },
          { key, field: 'price', value: String(index), ttlSeconds: 600 },
        ]));
        const read = await store.readFields(keys.map((key) => ({ key, field: 'name' })));
        expect(read!.map(decodeValue)).toEqual(keys.map((_, index) => `product ${index}`));
        // Each hash lives as long as its longest-lived field.
        expect(Number(await inspector.client.ttl(keyPrefix + keys[5]!))).toBeGreaterThan(500);

        await store.deleteKeys(keys.slice(0, 6));
        const after = await store.readFields(keys.map((key) => ({ key, field: 'price' })));
        expect(after!.map(decodeValue)).toEqual(keys.map((_, index) => (index < 6 ? null : String(index))));
      } finally {
        await store.close();
      }
    });

    it('keeps persisted queries (plain values) with their TTL', async () => {
      const store = open();
      try {
        await untilReady(store);
        await store.set('apq:a', 'query A', 30);
        await store.set('apq:b', 'query B');
        expect(await store.get('apq:a')).toBe('query A');
        expect(await store.get('apq:b')).toBe('query B');
        expect(await store.get('apq:none')).toBeUndefined();
        expect(Number(await inspector.client.ttl(`${keyPrefix}apq:a`))).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
    });
  });

  describe('rate limits', () => {
    it('share one budget between two stores (two replicas), the script running on the client’s slot', async () => {
      const keyPrefix = `rate-${run}:`;
      const stores = [0, 1].map(() =>
        createRedisRateLimitStore({ redis: cluster.target, timeoutMs: 2000, keyPrefix, logger: silentLogger }),
      );
      try {
        const request: RatePolicy = { name: 'request', perMinute: 6, burst: 3 };
        const mutation: RatePolicy = { name: 'mutation', perMinute: 6, burst: 1 };
        for (const store of stores)
          for (let attempt = 0; (await store.consume('probe', [{ policy: request, cost: 0 }])) === undefined; attempt++) {
            if (attempt > 200) throw new Error('the cluster rate-limit store never became ready');
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        const allowed: boolean[] = [];
        for (let index = 0; index < 10; index++) {
          const states = await stores[index % 2]!.consume('user:42', [
            { policy: request, cost: 1 },
            ...(index === 0 ? [{ policy: mutation, cost: 1 }] : []),
          ]);
          allowed.push(states!.every((state) => state.allowed));
        }
        // burst + 1 in total across both stores, not per store.
        expect(allowed.filter(Boolean)).toHaveLength(4);
        expect(allowed.slice(0, 4)).toEqual([true, true, true, true]);
        // Both policies' keys share the client's hash tag, so the one script touched one slot.
        const slots = await Promise.all(
          ['request', 'mutation'].map((policy) => cluster.command(cluster.ports[0]!, ['CLUSTER', 'KEYSLOT', rateLimitKey(keyPrefix, 'user:42', policy)])),
        );
        expect(slots[0]).toBe(slots[1]);
        expect(await inspector.client.exists(rateLimitKey(keyPrefix, 'user:42', 'mutation'))).toBe(1);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
    });
  });

  describe('the change stream and the event broker', () => {
    it('delivers published changes to a subscriber, and appends both topics of one batch in one script', async () => {
      const streamKey = changeStreamKey(`changes-${run}`, cluster.target);
      expect(streamKey).toBe(`{changes-${run}}`);
      const subscriber = createRedisChangeSubscriber({ redis: cluster.target, streamKey, logger: silentLogger, blockMs: 200 });
      const publisher = createRedisChangePublisher({ redis: cluster.target, streamKey, logger: silentLogger });
      const broker = createRedisEventBroker({ redis: cluster.target, streamKey, logger: silentLogger });
      try {
        const received: EntityChange[][] = [];
        let notify: () => void = () => undefined;
        await subscriber.subscribe((changes) => {
          received.push(changes);
          notify();
        });
        const next = () => new Promise<void>((resolve) => (notify = resolve));
        let arrived = next();
        await publisher.publish([{ typename: 'Product', key: { sku: 'SKU-1' } }]);
        await arrived;
        expect(received).toEqual([[{ typename: 'Product', key: { sku: 'SKU-1' } }]]);

        arrived = next();
        const sent = await broker.send([
          { id: 'orders:1', event: { topic: 'entity-changes', changes: [{ typename: 'Order', key: { id: '1' } }] } },
          {
            id: 'orders:2',
            event: {
              topic: 'order-events',
              event: { type: 'OrderPlaced', orderId: '1', userId: '2', totalCents: 300, items: [{ sku: 'SKU-1', quantity: 1 }], at: new Date(0).toISOString() },
            },
          },
        ]);
        expect(sent).toBe(true);
        await arrived;
        expect(received[1]).toEqual([{ typename: 'Order', key: { id: '1' } }]);
        const orderEvents = await inspector.client.xRange(orderEventsStream(streamKey), '-', '+');
        expect(orderEvents.map((entry) => entry.message.eventId)).toEqual(['orders:2']);
      } finally {
        await Promise.all([subscriber.close(), publisher.close(), broker.close()]);
        await inspector.client.del(streamKey);
        await inspector.client.del(orderEventsStream(streamKey));
      }
    });
  });

  describe('the whole system, through a failover', () => {
    let system: TestSystem;
    let replica: GraphQLClient & { close(): Promise<void> };
    const STOCK = `query($sku: ID!) { product(sku: $sku) { sku stock } }`;
    const stockVia = async (client: GraphQLClient, sku: string) => {
      const result = await client.query<{ product: { stock: number } }>(STOCK, { sku });
      return { stock: result.data!.product.stock, hits: (result.extensions!.gateway as { entityCacheHits: number }).entityCacheHits };
    };
    const restockDirectly = async (sku: string, quantity: number) => {
      // Straight to inventory, bypassing every gateway: only the change stream can tell them.
      const body = JSON.stringify({ query: `mutation { restock(sku: "${sku}", quantity: ${quantity}) { stock } }` });
      const response = await fetch(system.subgraphs.inventory.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...callerHeaders(TEST_SERVICE_SECRET, { kind: 'user', userId: '1', admin: true }, body) },
        body,
      });
      return ((await response.json()) as { data: { restock: { stock: number } } }).data.restock.stock;
    };
    /** Polls (bounded) until `read` satisfies `done`; failures in between count as not yet. */
    const eventually = async <T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await read().catch(() => undefined);
        if (value !== undefined && done(value)) return value;
        if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms; last: ${JSON.stringify(value)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    beforeAll(async () => {
      system = await startSystem('sqlite', { ...cluster.env, DEBUG_EXTENSIONS: 'true', DEDUP_INBOUND: 'off' });
      replica = await system.startGateway(cluster.env);
    }, 60_000);
    afterAll(async () => {
      await system?.close();
    });

    it('caches, evicts through the stream and shares persisted queries across replicas', async () => {
      const cold = await stockVia(system, 'SKU-0030');
      const warm = await stockVia(system, 'SKU-0030');
      expect(warm).toEqual({ stock: cold.stock, hits: 1 });
      const after = await restockDirectly('SKU-0030', 2);
      expect(after).toBe(cold.stock + 2);
      await eventually(() => stockVia(system, 'SKU-0030'), ({ stock }) => stock === after);

      const query = `{ product(sku: "SKU-0001") { sku name } }`;
      const extensions = { persistedQuery: { version: 1, sha256Hash: crypto.createHash('sha256').update(query).digest('hex') } };
      expect((await system.post(JSON.stringify({ query, extensions }))).body.data).toEqual({ product: { sku: 'SKU-0001', name: expect.any(String) } });
      expect((await replica.post(JSON.stringify({ extensions }))).body.data).toEqual({ product: { sku: 'SKU-0001', name: expect.any(String) } });
    });

    it('keeps caching and evicting through the stream after the shards of the stream and of an entity fail over', async () => {
      const sku = 'SKU-0031';
      const entityKey = `${system.env.REDIS_KEY_PREFIX}ec:inventory:Product:${JSON.stringify([sku])}`;
      expect(await stockVia(system, sku)).toMatchObject({ hits: 0 });
      expect(await stockVia(replica, sku)).toMatchObject({ hits: 1 });
      expect(await inspector.client.exists(entityKey)).toBe(1);

      const stream = changeStreamKey(system.env.CHANGE_STREAM!, cluster.target);
      const before = { stream: await cluster.shardOf(stream), entity: await cluster.shardOf(entityKey) };
      expect(await cluster.failover(stream)).toBe(before.stream.replica);
      if ((await cluster.shardOf(entityKey)).master === before.entity.master) await cluster.failover(entityKey);
      expect((await cluster.shardOf(entityKey)).master).not.toBe(before.entity.master);
      expect((await cluster.shardOf(stream)).master).not.toBe(before.stream.master);

      // The cluster clients learn the new masters from the first MOVED; a few calls may fail meanwhile (the
      // cache then answers from the subgraphs), so each read below is retried within a bound.
      const { stock } = await eventually(() => stockVia(system, sku), () => true);
      await eventually(() => stockVia(system, sku), ({ hits }) => hits === 1);
      const after = await restockDirectly(sku, 3);
      expect(after).toBe(stock + 3);
      // Both gateways hear of the write on the stream, now served by the promoted replica.
      await eventually(() => stockVia(system, sku), (read) => read.stock === after);
      await eventually(() => stockVia(replica, sku), (read) => read.stock === after);
      // And cache again.
      await eventually(() => stockVia(replica, sku), (read) => read.stock === after && read.hits === 1);
      const mutation = await system.query<{ restock: { stock: number } }>(
        `mutation { restock(sku: "${sku}", quantity: 1) { stock } }`,
        {},
        { token: adminToken() },
      );
      expect(mutation.data!.restock.stock).toBe(after + 1);
      await eventually(() => stockVia(replica, sku), (read) => read.stock === after + 1);
    });
  });
});
