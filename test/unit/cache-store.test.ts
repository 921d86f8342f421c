import net from 'node:net';
import { createClient } from 'redis';
import {
  createMemoryCacheStore,
  createRedisCacheStore,
  decodeValue,
  encodeValue,
  type CacheStore,
  type HashLookup,
} from '../../gateway/cache/store';
import { createGatewayMetrics, type GatewayMetrics } from '../../gateway/metrics';
import { silentLogger, type Logger } from '../../lib/logger';
import { requireRedis, TEST_REDIS_URL } from '../helpers/system';
import { counterValue } from '../../lib/metrics';

const T0 = 1_750_000_000_000;

/** Expiry is decided by Date.now(): the tests move the clock instead of waiting. */
function controlClock() {
  let now = T0;
  const spy = jest.spyOn(Date, 'now').mockImplementation(() => now);
  return {
    advance: (ms: number) => {
      now += ms;
    },
    restore: () => spy.mockRestore(),
  };
}

/** What readFields returns, decoded as the entity cache decodes it. */
async function readDecoded(store: CacheStore, lookups: HashLookup[]): Promise<(string | null)[] | undefined> {
  return (await store.readFields(lookups))?.map(decodeValue);
}

describe('encodeValue and decodeValue', () => {
  let clock: ReturnType<typeof controlClock>;
  beforeEach(() => (clock = controlClock()));
  afterEach(() => clock.restore());

  it('read a value back until its TTL has passed, then as a miss', () => {
    const stored = encodeValue('{"name":"Anvil"}', 30);
    expect(decodeValue(stored)).toBe('{"name":"Anvil"}');
    clock.advance(29_999);
    expect(decodeValue(stored)).toBe('{"name":"Anvil"}');
    clock.advance(1);
    expect(decodeValue(stored)).toBeNull();
  });

  it('keep a payload that itself contains the separator', () => {
    expect(decodeValue(encodeValue('a|b||c', 1))).toBe('a|b||c');
  });

  it('read nothing, an empty string or a value without an expiry as a miss', () => {
    expect([null, undefined, '', 'no-expiry'].map(decodeValue)).toEqual([null, null, null, null]);
  });

  // A value written by another version or tool under the same prefix must not live for ever, nor come back
  // cut at its first bar.
  it('read a value whose expiry is not a number as a miss', () => {
    expect(['soon|value', '{"a":"x|y"}'].map(decodeValue)).toEqual([null, null]);
  });
});

describe('createMemoryCacheStore', () => {
  let clock: ReturnType<typeof controlClock>;
  beforeEach(() => (clock = controlClock()));
  afterEach(() => clock.restore());

  it('reads and writes hash fields of several keys in one call, null for what is not there', async () => {
    const store = createMemoryCacheStore(100);
    await store.writeFields([
      { key: 'ec:products:Product:["A"]', field: 'name', value: 'Anvil', ttlSeconds: 60 },
      { key: 'ec:products:Product:["A"]', field: 'price', value: '500', ttlSeconds: 60 },
      { key: 'ec:products:Product:["B"]', field: 'name', value: 'Bucket', ttlSeconds: 60 },
    ]);
    expect(
      await readDecoded(store, [
        { key: 'ec:products:Product:["B"]', field: 'name' },
        { key: 'ec:products:Product:["A"]', field: 'price' },
        { key: 'ec:products:Product:["A"]', field: 'weight' },
        { key: 'ec:products:Product:["C"]', field: 'name' },
        { key: 'ec:products:Product:["A"]', field: 'name' },
      ]),
    ).toEqual(['Bucket', '500', null, null, 'Anvil']);
  });

  it('replaces a field written again, with its new expiry', async () => {
    const store = createMemoryCacheStore(100);
    await store.writeFields([{ key: 'k', field: 'f', value: 'old', ttlSeconds: 10 }]);
    clock.advance(5_000);
    await store.writeFields([{ key: 'k', field: 'f', value: 'new', ttlSeconds: 10 }]);
    clock.advance(9_000);
    expect(await readDecoded(store, [{ key: 'k', field: 'f' }])).toEqual(['new']);
    clock.advance(1_000);
    expect(await readDecoded(store, [{ key: 'k', field: 'f' }])).toEqual([null]);
  });

  it('keeps each field’s own expiry in one hash', async () => {
    const store = createMemoryCacheStore(100);
    await store.writeFields([
      { key: 'k', field: 'short', value: 's', ttlSeconds: 5 },
      { key: 'k', field: 'long', value: 'l', ttlSeconds: 60 },
    ]);
    clock.advance(5_000);
    expect(
      await readDecoded(store, [
        { key: 'k', field: 'short' },
        { key: 'k', field: 'long' },
      ]),
    ).toEqual([null, 'l']);
  });

  it('deletes whole hashes, every field of them, and plain keys', async () => {
    const store = createMemoryCacheStore(100);
    await store.writeFields([
      { key: 'a', field: 'f1', value: '1', ttlSeconds: 60 },
      { key: 'a', field: 'f2', value: '2', ttlSeconds: 60 },
      { key: 'b', field: 'f1', value: '3', ttlSeconds: 60 },
    ]);
    await store.set('apq:x', 'query');
    await store.deleteKeys(['a', 'apq:x', 'never-written']);
    expect(
      await readDecoded(store, [
        { key: 'a', field: 'f1' },
        { key: 'a', field: 'f2' },
        { key: 'b', field: 'f1' },
      ]),
    ).toEqual([null, null, '3']);
    expect(await store.get('apq:x')).toBeUndefined();
  });

  it('evicts the least recently used hashes when the fields stored exceed maxEntries, a read counting as a use', async () => {
    const store = createMemoryCacheStore(4);
    await store.writeFields([
      { key: 'a', field: 'f1', value: 'a1', ttlSeconds: 60 },
      { key: 'a', field: 'f2', value: 'a2', ttlSeconds: 60 },
      { key: 'b', field: 'f1', value: 'b1', ttlSeconds: 60 },
      { key: 'c', field: 'f1', value: 'c1', ttlSeconds: 60 },
    ]);
    await store.readFields([{ key: 'a', field: 'f1' }]);
    // Five fields: b, now the least recently used, goes; a (two fields) stays.
    await store.writeFields([{ key: 'd', field: 'f1', value: 'd1', ttlSeconds: 60 }]);
    const all = ['a', 'b', 'c', 'd'].map((key) => ({ key, field: 'f1' }));
    expect(await readDecoded(store, all)).toEqual(['a1', null, 'c1', 'd1']);
    // That read used a, c and d in that order. Two more fields: a, with two fields, is enough to make room.
    await store.writeFields([
      { key: 'e', field: 'f1', value: 'e1', ttlSeconds: 60 },
      { key: 'e', field: 'f2', value: 'e2', ttlSeconds: 60 },
    ]);
    expect(await readDecoded(store, [...all, { key: 'e', field: 'f2' }])).toEqual([null, null, 'c1', 'd1', 'e2']);
  });

  it('counts a field written again once', async () => {
    const store = createMemoryCacheStore(2);
    await store.writeFields([
      { key: 'a', field: 'f', value: '1', ttlSeconds: 60 },
      { key: 'b', field: 'f', value: '1', ttlSeconds: 60 },
    ]);
    await store.writeFields([{ key: 'b', field: 'f', value: '2', ttlSeconds: 60 }]);
    expect(
      await readDecoded(store, [
        { key: 'a', field: 'f' },
        { key: 'b', field: 'f' },
      ]),
    ).toEqual(['1', '2']);
  });

  it('stores nothing with maxEntries 0', async () => {
    const store = createMemoryCacheStore(0);
    await store.writeFields([{ key: 'a', field: 'f', value: '1', ttlSeconds: 60 }]);
    await store.set('p', 'v');
    expect(await store.readFields([{ key: 'a', field: 'f' }])).toEqual([null]);
    expect(await store.get('p')).toBeUndefined();
  });

  it('keeps plain values until their TTL, or for good without one', async () => {
    const store = createMemoryCacheStore(10);
    await store.set('apq:a', 'query A', 10);
    await store.set('apq:b', 'query B');
    clock.advance(9_999);
    expect(await store.get('apq:a')).toBe('query A');
    clock.advance(1);
    expect(await store.get('apq:a')).toBeUndefined();
    clock.advance(365 * 24 * 3600 * 1000);
    expect(await store.get('apq:b')).toBe('query B');
  });

  it('keeps at most maxEntries plain values, dropping the oldest', async () => {
    const store = createMemoryCacheStore(2);
    await store.set('a', '1');
    await store.set('b', '2');
    await store.set('c', '3');
    expect([await store.get('a'), await store.get('b'), await store.get('c')]).toEqual([undefined, '2', '3']);
  });
});

/**
 * A TCP proxy in front of the test Redis that can refuse connections, forward, or swallow commands (a Redis
 * that accepts but never answers), to take the store through outages deterministically.
 */
async function startRedisProxy() {
  const target = new URL(TEST_REDIS_URL);
  let mode: 'refuse' | 'forward' | 'swallow' = 'forward';
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    if (mode === 'refuse') {
      downstream.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port || 6379), target.hostname);
    const drop = () => {
      downstream.destroy();
      upstream.destroy();
      sockets.delete(downstream);
      sockets.delete(upstream);
    };
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('error', drop).on('close', drop);
    }
    downstream.on('data', (chunk) => {
      if (mode === 'forward') upstream.write(chunk);
    });
    upstream.on('data', (chunk) => downstream.write(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    set(next: typeof mode) {
      mode = next;
    },
    /** Drops every open connection: the client sees Redis restart. */
    cut() {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A logger that records warnings and infos, and can wait for the next one. */
function recordingLogger() {
  const lines: [string, string][] = [];
  const waiters: (() => void)[] = [];
  const record = (level: string) => (message: string) => {
    lines.push([level, message]);
    for (const wake of waiters.splice(0)) wake();
  };
  const logger: Logger = { ...silentLogger, warn: record('warn'), info: record('info'), child: () => logger };
  return {
    logger,
    lines,
    next: () => new Promise<void>((resolve) => waiters.push(resolve)),
  };
}

const PROBE: HashLookup = { key: 'probe', field: 'probe' };

/** The store connects in the background; until it is ready it answers "unavailable" without a round trip. */
async function untilAnswering(store: CacheStore): Promise<void> {
  const deadline = performance.now() + 10_000;
  while ((await store.readFields([PROBE])) === undefined) {
    if (performance.now() > deadline) throw new Error('the Redis cache store never became ready');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('createRedisCacheStore', () => {
  // One namespace per run, so runs side by side share the machine's Redis without seeing each other's keys.
  const keyPrefix = `test-store-${process.pid}-${Math.random().toString(36).slice(2, 8)}:`;
  const redis = createClient({ url: TEST_REDIS_URL });
  redis.on('error', () => undefined);
  const opened: CacheStore[] = [];
  let metrics: GatewayMetrics;

  const open = async (options: { url?: string; timeoutMs?: number; logger?: Logger } = {}): Promise<CacheStore> => {
    const store = createRedisCacheStore({
      redis: options.url ?? TEST_REDIS_URL,
      timeoutMs: options.timeoutMs ?? 2000,
      keyPrefix,
      logger: options.logger ?? silentLogger,
      metrics,
    });
    opened.push(store);
    return store;
  };
  const roundTrips = () => counterValue(metrics.cacheRoundTrips);

  beforeAll(async () => {
    await requireRedis();
    await redis.connect();
  });
  beforeEach(() => (metrics = createGatewayMetrics()));
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
  });
  afterAll(async () => {
    if (redis.isOpen) {
      const keys: string[] = [];
      for await (const batch of redis.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 500 })) keys.push(...batch);
      if (keys.length > 0) await redis.del(keys);
      redis.destroy();
    }
  });

  it('reads every lookup in one round trip, and writes every field in one', async () => {
    const store = await open();
    await untilAnswering(store);
    const before = await roundTrips();
    await store.writeFields([
      { key: 'ec:products:Product:["A"]', field: 'name', value: 'Anvil', ttlSeconds: 60 },
      { key: 'ec:products:Product:["A"]', field: 'price', value: '500', ttlSeconds: 60 },
      { key: 'ec:products:Product:["B"]', field: 'name', value: 'Bucket', ttlSeconds: 60 },
    ]);
    expect((await roundTrips()) - before).toBe(1);
    const values = await readDecoded(store, [
      { key: 'ec:products:Product:["B"]', field: 'name' },
      { key: 'ec:products:Product:["A"]', field: 'price' },
      { key: 'ec:products:Product:["A"]', field: 'weight' },
      { key: 'ec:products:Product:["C"]', field: 'name' },
      { key: 'ec:products:Product:["A"]', field: 'name' },
    ]);
    expect(values).toEqual(['Bucket', '500', null, null, 'Anvil']);
    expect((await roundTrips()) - before).toBe(2);
    // Nothing to read or write costs no round trip.
    expect(await store.readFields([])).toEqual([]);
    await store.writeFields([]);
    await store.deleteKeys([]);
    expect((await roundTrips()) - before).toBe(2);
  });

  it('keeps every key under its prefix, each hash living as long as its longest-lived value, never shortened', async () => {
    const store = await open();
    await untilAnswering(store);
    await store.writeFields([
      { key: 'ttl', field: 'short', value: 's', ttlSeconds: 100 },
      { key: 'ttl', field: 'long', value: 'l', ttlSeconds: 1000 },
    ]);
    expect(await redis.exists('ttl')).toBe(0);
    expect(decodeValue(await redis.hGet(`${keyPrefix}ttl`, 'long'))).toBe('l');
    const ttl = await redis.ttl(`${keyPrefix}ttl`);
    expect(ttl).toBeGreaterThan(900);
    expect(ttl).toBeLessThanOrEqual(1000);
    await store.writeFields([{ key: 'ttl', field: 'short', value: 's', ttlSeconds: 10 }]);
    expect(await redis.ttl(`${keyPrefix}ttl`)).toBeGreaterThan(900);
    await store.writeFields([{ key: 'ttl', field: 'longer', value: 'L', ttlSeconds: 5000 }]);
    expect(await redis.ttl(`${keyPrefix}ttl`)).toBeGreaterThan(4000);
  });

  it('deletes whole hashes, every field of them, in one round trip', async () => {
    const store = await open();
    await untilAnswering(store);
    await store.writeFields([
      { key: 'del:a', field: 'f1', value: '1', ttlSeconds: 60 },
      { key: 'del:a', field: 'f2', value: '2', ttlSeconds: 60 },
      { key: 'del:b', field: 'f1', value: '3', ttlSeconds: 60 },
      { key: 'del:c', field: 'f1', value: '4', ttlSeconds: 60 },
    ]);
    const before = await roundTrips();
    await store.deleteKeys(['del:a', 'del:b']);
    expect((await roundTrips()) - before).toBe(1);
    expect(
      await readDecoded(store, [
        { key: 'del:a', field: 'f1' },
        { key: 'del:a', field: 'f2' },
        { key: 'del:b', field: 'f1' },
        { key: 'del:c', field: 'f1' },
      ]),
    ).toEqual([null, null, null, '4']);
  });

  it('keeps plain values, with a TTL when given one', async () => {
    const store = await open();
    await untilAnswering(store);
    await store.set('apq:a', 'query A', 30);
    await store.set('apq:b', 'query B');
    expect(await store.get('apq:a')).toBe('query A');
    expect(await store.get('apq:b')).toBe('query B');
    expect(await store.get('apq:none')).toBeUndefined();
    expect(await redis.ttl(`${keyPrefix}apq:a`)).toBeGreaterThan(0);
    expect(await redis.ttl(`${keyPrefix}apq:b`)).toBe(-1);
  });

  it('answers "nothing cached" while Redis is down, without a round trip, logs it once, and serves again when it is back', async () => {
    const proxy = await startRedisProxy();
    try {
      proxy.set('refuse');
      const log = recordingLogger();
      const warned = log.next();
      const store = await open({ url: proxy.url, logger: log.logger });
      await warned;
      await store.writeFields([{ key: 'outage', field: 'f', value: 'lost', ttlSeconds: 60 }]);
      expect(await store.readFields([{ key: 'outage', field: 'f' }])).toBeUndefined();
      expect(await store.get('outage')).toBeUndefined();
      expect(await roundTrips()).toBe(0);
      expect(await counterValue(metrics.cacheErrors)).toBeGreaterThan(0);

      proxy.set('forward');
      await untilAnswering(store);
      await store.writeFields([{ key: 'outage', field: 'f', value: 'kept', ttlSeconds: 60 }]);
      expect(await readDecoded(store, [{ key: 'outage', field: 'f' }])).toEqual(['kept']);
      expect(log.lines).toEqual([
        ['warn', 'cache unavailable; serving from subgraphs until it is back'],
        ['info', 'cache available again'],
      ]);
    } finally {
      await Promise.all(opened.splice(0).map((store) => store.close()));
      await proxy.close();
    }
  });

  it('reads as a miss, and counts an error, when Redis does not answer within the timeout', async () => {
    const proxy = await startRedisProxy();
    try {
      const store = await open({ url: proxy.url, timeoutMs: 100 });
      await untilAnswering(store);
      proxy.set('swallow');
      expect(await store.readFields([{ key: 'slow', field: 'f' }])).toBeUndefined();
      expect(await counterValue(metrics.cacheErrors)).toBe(1);
      // Redis "restarts": the store reconnects and answers again.
      proxy.set('forward');
      proxy.cut();
      await untilAnswering(store);
      expect(await store.readFields([{ key: 'slow', field: 'f' }])).toEqual([null]);
    } finally {
      await Promise.all(opened.splice(0).map((store) => store.close()));
      await proxy.close();
    }
  });

  // GatewayServer.stop() awaits close(): with Redis unreachable, node-redis retries for ever, and a close() that
  // waited for the connection would keep the gateway from shutting down.
  it('closes while Redis is unreachable', async () => {
    const proxy = await startRedisProxy();
    proxy.set('refuse');
    const log = recordingLogger();
    const warned = log.next();
    const store = createRedisCacheStore({
      redis: proxy.url,
      timeoutMs: 100,
      keyPrefix,
      logger: log.logger,
      metrics,
    });
    await warned;
    const closing = store.close();
    let timer: NodeJS.Timeout | undefined;
    try {
      // Generous: closing a client that is not connected takes no I/O at all.
      const outcome = await Promise.race([
        closing.then(() => 'closed'),
        new Promise((resolve) => (timer = setTimeout(resolve, 3000, 'still waiting for Redis'))),
      ]);
      expect(outcome).toBe('closed');
    } finally {
      clearTimeout(timer);
      // Let it connect, so that close() can finish and nothing is left reconnecting.
      proxy.set('forward');
      await closing;
      await proxy.close();
    }
  });
});
