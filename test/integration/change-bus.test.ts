import net from 'node:net';
import { createClient } from 'redis';
import {
  createLocalChangeBus,
  createRedisChangePublisher,
  createRedisChangeSubscriber,
  type ChangePublisher,
  type ChangeSubscriber,
  type EntityChange,
} from '../../lib/events';
import { silentLogger, type Logger } from '../../lib/logger';
import { RequestChanges } from '../../subgraphs/common/changes';
import { requireRedis, TEST_REDIS_URL } from '../helpers/system';

/**
 * The change bus against the real Redis: what a publish writes, what a subscriber reads and from where, and
 * what each side does when Redis goes away or stops answering.
 */
const RUN = `test-changes-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
let streamCounter = 0;
const newStream = () => `${RUN}-${++streamCounter}`;

const product = (sku: string): EntityChange => ({ typename: 'Product', key: { sku } });

/** A logger that records what it was told, to assert how often an outage is reported. */
function spyLogger() {
  const lines: { level: string; message: string }[] = [];
  const logger: Logger = {
    debug: (message) => lines.push({ level: 'debug', message }),
    info: (message) => lines.push({ level: 'info', message }),
    warn: (message) => lines.push({ level: 'warn', message }),
    error: (message) => lines.push({ level: 'error', message }),
    child: () => logger,
  };
  return { logger, lines, at: (level: string) => lines.filter((line) => line.level === level) };
}

/** Collects delivered batches; `waitFor(n)` resolves once n batches arrived. */
function collector() {
  const batches: EntityChange[][] = [];
  return {
    batches,
    handler: (changes: EntityChange[]) => void batches.push(changes),
    async waitFor(count: number, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (batches.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} batches within ${timeoutMs} ms, got ${JSON.stringify(batches)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return batches;
    },
  };
}

/** A TCP proxy in front of Redis that a test can cut (connections dropped, new ones refused) and restore. */
async function startProxy(target: URL) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const open = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server = net.createServer((downstream) => {
        const upstream = net.connect(Number(target.port), target.hostname);
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
        downstream.pipe(upstream).pipe(downstream);
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server!.address() as net.AddressInfo).port));
    });
  const port = await open(0);
  const cut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (server) server.close(() => resolve());
      else resolve();
      server = undefined;
    });
  return { url: `redis://127.0.0.1:${port}`, cut, restore: () => open(port), close: cut };
}

describe('the Redis change bus', () => {
  const redis = createClient({ url: TEST_REDIS_URL });
  const opened: (ChangePublisher | ChangeSubscriber)[] = [];
  const track = <T extends ChangePublisher | ChangeSubscriber>(value: T): T => {
    opened.push(value);
    return value;
  };
  const publisherFor = (streamKey: string, logger: Logger = silentLogger) =>
    track(createRedisChangePublisher({ redis: TEST_REDIS_URL, streamKey, logger }));
  const subscriberFor = (streamKey: string, logger: Logger = silentLogger, url = TEST_REDIS_URL) =>
    track(createRedisChangeSubscriber({ redis: url, streamKey, logger }));

  beforeAll(async () => {
    await requireRedis();
    await redis.connect();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((value) => value.close()));
  });
  afterAll(async () => {
    if (redis.isOpen) {
      const keys = await redis.keys(`${RUN}-*`);
      if (keys.length > 0) await redis.del(keys);
      redis.destroy();
    }
  });

  it('writes one stream entry per batch, its changes as JSON in the `changes` field', async () => {
    const stream = newStream();
    const publisher = publisherFor(stream);
    await publisher.publish([product('A'), { typename: 'User', key: { id: '7' } }]);
    await publisher.publish([product('B')]);
    await publisher.publish([]);
    const entries = await redis.xRange(stream, '-', '+');
    expect(entries.map((entry) => entry.message)).toEqual([
      { changes: JSON.stringify([product('A'), { typename: 'User', key: { id: '7' } }]) },
      { changes: JSON.stringify([product('B')]) },
    ]);
    expect(publisher.stats()).toEqual({ published: 2, failed: 0 });
  });

  it('keeps the stream trimmed to about its maximum length', async () => {
    const stream = newStream();
    const publisher = track(createRedisChangePublisher({ redis: TEST_REDIS_URL, streamKey: stream, logger: silentLogger, maxLength: 10 }));
    for (let index = 0; index < 400; index++) await publisher.publish([product(`T-${index}`)]);
    // `MAXLEN ~` trims whole radix-tree nodes (100 entries by default), so the length stays near, not at, 10.
    expect(await redis.xLen(stream)).toBeLessThanOrEqual(200);
  });

  it('delivers every batch published after subscribe() resolved, once and in order, but none from before', async () => {
    const stream = newStream();
    const publisher = publisherFor(stream);
    await publisher.publish([product('OLD')]);
    const received = collector();
    await subscriberFor(stream).subscribe(received.handler);
    for (let index = 0; index < 5; index++) await publisher.publish([product(`NEW-${index}`)]);
    await received.waitFor(5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received.batches).toEqual([0, 1, 2, 3, 4].map((index) => [product(`NEW-${index}`)]));
  });

  it('reads a stream that does not exist yet from its first entry', async () => {
    const stream = newStream();
    const received = collector();
    await subscriberFor(stream).subscribe(received.handler);
    await publisherFor(stream).publish([product('FIRST')]);
    expect(await received.waitFor(1)).toEqual([[product('FIRST')]]);
  });

  it('keeps delivering to the other handlers and later batches when a handler throws', async () => {
    const stream = newStream();
    const spy = spyLogger();
    const subscriber = subscriberFor(stream, spy.logger);
    const received = collector();
    await subscriber.subscribe(() => {
      throw new Error('handler bug');
    });
    await subscriber.subscribe(received.handler);
    const publisher = publisherFor(stream);
    await publisher.publish([product('X')]);
    await publisher.publish([product('Y')]);
    expect(await received.waitFor(2)).toEqual([[product('X')], [product('Y')]]);
    expect(spy.at('error')).toHaveLength(2);
  });

  it('skips an entry that is not a list of changes, and goes on', async () => {
    const stream = newStream();
    const received = collector();
    await subscriberFor(stream).subscribe(received.handler);
    await redis.xAdd(stream, '*', { changes: '{"not":"a list"}' });
    await publisherFor(stream).publish([product('AFTER')]);
    expect(await received.waitFor(1)).toEqual([[product('AFTER')]]);
  });

  it('resumes from its last id after its connection is killed (CLIENT KILL) and misses nothing published meanwhile', async () => {
    const stream = newStream();
    const spy = spyLogger();
    const received = collector();
    await subscriberFor(stream, spy.logger).subscribe(received.handler);
    const publisher = publisherFor(stream);
    await publisher.publish([product('BEFORE')]);
    await received.waitFor(1);

    const clients = await redis.clientList();
    const subscriberConnection = clients.find((client) => client.name === `${stream}:subscriber`);
    expect(subscriberConnection).toBeDefined();
    await redis.sendCommand(['CLIENT', 'KILL', 'ID', String(subscriberConnection!.id)]);
    await publisher.publish([product('DURING-1')]);
    await publisher.publish([product('DURING-2')]);

    expect(await received.waitFor(3)).toEqual([[product('BEFORE')], [product('DURING-1')], [product('DURING-2')]]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received.batches).toHaveLength(3);
  });

  it('catches up after Redis was unreachable for a while, logging the outage once and the recovery once', async () => {
    const stream = newStream();
    const proxy = await startProxy(new URL(TEST_REDIS_URL));
    try {
      const spy = spyLogger();
      const received = collector();
      await subscriberFor(stream, spy.logger, proxy.url).subscribe(received.handler);
      const publisher = publisherFor(stream);
      await publisher.publish([product('BEFORE')]);
      await received.waitFor(1);

      await proxy.cut();
      await new Promise((resolve) => setTimeout(resolve, 800));
      for (let index = 0; index < 3; index++) await publisher.publish([product(`MISSED-${index}`)]);
      await proxy.restore();

      const batches = await received.waitFor(4, 8000);
      expect(batches).toEqual([[product('BEFORE')], ...[0, 1, 2].map((index) => [product(`MISSED-${index}`)])]);
      expect(spy.at('warn')).toHaveLength(1);
      expect(spy.at('info')).toHaveLength(1);
      expect(spy.at('info')[0]!.message).toMatch(/works again/);
    } finally {
      await Promise.all(opened.splice(0).map((value) => value.close()));
      await proxy.close();
    }
  });

  it('stops a subscriber blocked in XREAD promptly on close()', async () => {
    const subscriber = subscriberFor(newStream());
    await subscriber.subscribe(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = performance.now();
    await subscriber.close();
    expect(performance.now() - started).toBeLessThan(200);
    await expect(subscriber.subscribe(() => undefined)).rejects.toThrow(/closed/);
  });

  it('neither throws nor waits when Redis refuses connections, and counts the lost batch', async () => {
    const spy = spyLogger();
    const publisher = track(createRedisChangePublisher({ redis: 'redis://127.0.0.1:1', streamKey: newStream(), logger: spy.logger }));
    const started = performance.now();
    await expect(publisher.publish([product('LOST')])).resolves.toBeUndefined();
    await expect(publisher.publish([product('LOST-AGAIN')])).resolves.toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(publisher.stats()).toEqual({ published: 0, failed: 2 });
    // Reconnect attempts keep failing in the background; the outage is still reported once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(spy.at('warn')).toHaveLength(1);
  });

  it('gives up on a publish after its deadline when Redis accepts connections but never answers, and fails the next ones at once', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const url = `redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
      const publisher = track(createRedisChangePublisher({ redis: url, streamKey: newStream(), logger: silentLogger, publishTimeoutMs: 300 }));
      const started = performance.now();
      await expect(publisher.publish([product('HUNG')])).resolves.toBeUndefined();
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(290);
      expect(elapsed).toBeLessThan(1000);
      // The connection was replaced; until the new one is ready, publishing fails fast instead of queueing.
      const next = performance.now();
      await publisher.publish([product('HUNG-AGAIN')]);
      expect(performance.now() - next).toBeLessThan(50);
      expect(publisher.stats()).toEqual({ published: 0, failed: 2 });
      const closing = performance.now();
      await publisher.close();
      expect(performance.now() - closing).toBeLessThan(200);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('a change subscriber facing a Redis that accepts connections but never answers', () => {
  it('lets start-up go on after its read deadline, reports the outage once, and closes promptly', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const spy = spyLogger();
    const url = `redis://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    const subscriber = createRedisChangeSubscriber({ redis: url, streamKey: newStream(), logger: spy.logger, blockMs: 100 });
    try {
      const started = performance.now();
      await subscriber.subscribe(() => undefined);
      expect(performance.now() - started).toBeLessThan(2000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(spy.at('warn')).toHaveLength(1);
      expect(sockets.size).toBeGreaterThanOrEqual(2); // the dead connection was replaced, not waited on forever
      const closing = performance.now();
      await subscriber.close();
      expect(performance.now() - closing).toBeLessThan(200);
    } finally {
      await subscriber.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});

describe('the in-process change bus', () => {
  it('calls every handler synchronously, before publish() resolves', async () => {
    const bus = createLocalChangeBus();
    const first: EntityChange[][] = [];
    const second: EntityChange[][] = [];
    await bus.subscriber.subscribe((changes) => void first.push(changes));
    await bus.subscriber.subscribe((changes) => void second.push(changes));
    void bus.publisher.publish([product('SYNC')]);
    expect(first).toEqual([[product('SYNC')]]);
    expect(second).toEqual([[product('SYNC')]]);
    await bus.publisher.publish([]);
    expect(first).toHaveLength(1);
  });

  it('never lets a failing handler reach the publisher', async () => {
    const bus = createLocalChangeBus();
    const received: EntityChange[][] = [];
    await bus.subscriber.subscribe(() => {
      throw new Error('handler bug');
    });
    await bus.subscriber.subscribe((changes) => void received.push(changes));
    await expect(bus.publisher.publish([product('SAFE')])).resolves.toBeUndefined();
    expect(received).toEqual([[product('SAFE')]]);
  });

  it('stops delivering once the subscriber is closed', async () => {
    const bus = createLocalChangeBus();
    const received: EntityChange[][] = [];
    await bus.subscriber.subscribe((changes) => void received.push(changes));
    await bus.subscriber.close();
    await bus.publisher.publish([product('AFTER-CLOSE')]);
    expect(received).toEqual([]);
  });
});

describe("a request's change collector", () => {
  it('announces each entity once, and publishes only what this service changed itself', () => {
    const changes = new RequestChanges();
    changes.forward([product('A'), product('B')]);
    changes.record({ typename: 'Order', key: { id: '1' } }, { typename: 'User', key: { id: '2' } });
    changes.forward([product('A')]);
    changes.record({ typename: 'Order', key: { id: '1' } });
    expect(changes.announced).toEqual([
      product('A'),
      product('B'),
      { typename: 'Order', key: { id: '1' } },
      { typename: 'User', key: { id: '2' } },
    ]);
    expect(changes.own).toEqual([
      { typename: 'Order', key: { id: '1' } },
      { typename: 'User', key: { id: '2' } },
    ]);
  });
});
