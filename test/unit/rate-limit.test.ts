import type http from 'node:http';
import net from 'node:net';
import { parse } from 'graphql';
import { createClient } from 'redis';
import type { Caller } from '../../lib/identity';
import { silentLogger, type Logger } from '../../lib/logger';
import {
  clientKey,
  countMutationFields,
  createMemoryRateLimitStore,
  createRateLimit,
  createRateLimitStore,
  createRedisRateLimitStore,
  gcra,
  rateLimitKey,
  type RateCharge,
  type RateLimitDecision,
  type RateLimitOptions,
  type RateLimitStore,
} from '../../gateway/edge/rate-limit';
import { requireRedis, TEST_REDIS_URL } from '../helpers/system';

const ANONYMOUS: Caller = { kind: 'anonymous' };
const user = (userId: string): Caller => ({ kind: 'user', userId, admin: false });

/** Just what `clientKey` reads of a request: the socket's peer and the headers. */
function request(remoteAddress: string | undefined, forwardedFor?: string): http.IncomingMessage {
  const headers = forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor };
  return { socket: { remoteAddress }, headers } as unknown as http.IncomingMessage;
}

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000) {
  let time = start;
  return { now: () => time, advance: (ms: number) => void (time += ms) };
}

function memoryLimiter(options: RateLimitOptions, clock = manualClock()) {
  const store = createMemoryRateLimitStore({ now: clock.now });
  return { clock, store, limiter: createRateLimit({ ...options, store }) };
}

const ask = (
  limiter: ReturnType<typeof createRateLimit>,
  extra: { caller?: Caller; operationName?: string; mutationFields?: number } = {},
) => limiter.check({ req: request('203.0.113.9'), caller: extra.caller ?? user('1'), ...extra });

function spyLogger(): Logger & { warn: jest.Mock; info: jest.Mock } {
  return { ...silentLogger, warn: jest.fn(), info: jest.fn() };
}

describe('GCRA', () => {
  const policy = { perMinute: 60, burst: 2 }; // one unit a second, three at once

  it('allows burst + 1 units at once, then one per emission interval', () => {
    const now = 1_000_000;
    let tat: number | undefined;
    const allowed: boolean[] = [];
    for (let index = 0; index < 4; index++) {
      const outcome = gcra(now, tat, 1, policy);
      allowed.push(outcome.allowed);
      tat = outcome.tat;
    }
    expect(allowed).toEqual([true, true, true, false]);
    expect(gcra(now + 999, tat, 1, policy)).toMatchObject({ allowed: false, retryAfterMs: 1 });
    expect(gcra(now + 1000, tat, 1, policy)).toMatchObject({ allowed: true, remaining: 0, resetAfterMs: 3000 });
  });

  it('charges a cost of n as n units, and never allows a cost above the burst', () => {
    expect(gcra(0, undefined, 3, policy)).toMatchObject({ allowed: true, remaining: 0, resetAfterMs: 3000 });
    expect(gcra(0, undefined, 4, policy)).toMatchObject({ allowed: false, retryAfterMs: Infinity, remaining: 3 });
  });

  it('forgets a state whose time has passed: an idle client has its whole burst again', () => {
    expect(gcra(10_000, 5_000, 1, policy)).toMatchObject({ allowed: true, remaining: 2, tat: 11_000 });
  });
});

describe('rate limit decision (in-process store, injected clock)', () => {
  it('allows the burst, then answers 429 with a Retry-After of one emission interval, then one more after it', async () => {
    // 6 a minute: one every 10 s, 3 at once.
    const { limiter, clock } = memoryLimiter({ perMinute: 6, burst: 2 });
    for (let index = 0; index < 3; index++) expect(await ask(limiter)).toMatchObject({ allowed: true });

    const limited = await ask(limiter);
    expect(limited).toMatchObject({ allowed: false, status: 429, retryAfterSeconds: 10, policies: ['request'] });
    expect(limited.headers['Retry-After']).toBe('10');
    expect(limited.allowed || limited.error).toEqual({
      message: 'Too many requests (request rate limit); retry in 10 s',
      extensions: { code: 'RATE_LIMITED', policies: ['request'], retryAfterSeconds: 10 },
    });

    clock.advance(9_999);
    expect(await ask(limiter)).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
    clock.advance(1);
    expect(await ask(limiter)).toMatchObject({ allowed: true });
    expect(await ask(limiter)).toMatchObject({ allowed: false, retryAfterSeconds: 10 });
  });

  it('keeps a separate budget per client', async () => {
    const { limiter } = memoryLimiter({ perMinute: 6, burst: 0 });
    expect(await ask(limiter, { caller: user('1') })).toMatchObject({ allowed: true });
    expect(await ask(limiter, { caller: user('1') })).toMatchObject({ allowed: false });
    expect(await ask(limiter, { caller: user('2') })).toMatchObject({ allowed: true });
  });

  it('sends RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-11 syntax)', async () => {
    const { limiter } = memoryLimiter({ perMinute: 600, burst: 60 });
    const first = await ask(limiter);
    expect(first.headers).toEqual({ 'RateLimit-Policy': '"request";q=600;w=60', RateLimit: '"request";r=60;t=1' });
    for (let index = 0; index < 60; index++) await ask(limiter);
    expect((await ask(limiter)).headers).toEqual({
      'RateLimit-Policy': '"request";q=600;w=60',
      RateLimit: '"request";r=0;t=7', // 6.1 s until the 61 units spent are back
      'Retry-After': '1',
    });
  });

  it('charges each aliased mutation root field, and a refused mutation spends none of the request budget', async () => {
    // Mutations: 6 a minute (one every 10 s); the burst window is 60 s, so 6 extra, 7 at once.
    const { limiter } = memoryLimiter({ perMinute: 600, burst: 600, mutationsPerMinute: 6 });
    const first = await ask(limiter, { mutationFields: 5 });
    expect(first).toMatchObject({ allowed: true });
    expect(first.headers).toEqual({
      'RateLimit-Policy': '"request";q=600;w=60, "mutation";q=6;w=60',
      RateLimit: '"request";r=600;t=1, "mutation";r=2;t=50',
    });

    const second = await ask(limiter, { mutationFields: 3 });
    expect(second).toMatchObject({ allowed: false, policies: ['mutation'], retryAfterSeconds: 10 });
    expect(second.headers.RateLimit).toBe('"request";r=600;t=1, "mutation";r=2;t=50');

    expect(await ask(limiter, { mutationFields: 2 })).toMatchObject({ allowed: true });
    expect(await ask(limiter)).toMatchObject({ allowed: true }); // queries are not mutations
  });

  it('refuses, with no Retry-After, a mutation with more root fields than the mutation burst allows at once', async () => {
    const { limiter } = memoryLimiter({ perMinute: 600, burst: 60, mutationsPerMinute: 60 });
    const decision = await ask(limiter, { mutationFields: 8 });
    expect(decision).toMatchObject({ allowed: false, status: 429, retryAfterSeconds: undefined });
    expect(decision.headers['Retry-After']).toBeUndefined();
    expect(decision.allowed || decision.error).toEqual({
      message: "This request costs 8 under the 'mutation' rate limit, which allows at most 7 at once",
      extensions: { code: 'RATE_LIMITED', policies: ['mutation'] },
    });
    expect(await ask(limiter, { mutationFields: 7 })).toMatchObject({ allowed: true });
  });

  it('gives an operation named in `operations` its own per-minute budget instead of the request limit', async () => {
    // Search: 30 a minute (one every 2 s) with the same 6 s burst window: 3 extra, 4 at once.
    const { limiter } = memoryLimiter({ perMinute: 600, burst: 60, operations: { Search: 30 } });
    for (let index = 0; index < 4; index++)
      expect(await ask(limiter, { operationName: 'Search' })).toMatchObject({ allowed: true });
    const limited = await ask(limiter, { operationName: 'Search' });
    expect(limited).toMatchObject({ allowed: false, policies: ['operation:Search'], retryAfterSeconds: 2 });
    expect(limited.headers['RateLimit-Policy']).toBe('"operation:Search";q=30;w=60');

    const other = await ask(limiter, { operationName: 'Profile' });
    expect(other).toMatchObject({ allowed: true });
    expect(other.headers.RateLimit).toBe('"request";r=60;t=1');
  });

  it('stays bounded under 100,000 distinct clients, forgetting the least recently seen', async () => {
    const charge: RateCharge[] = [{ policy: { name: 'request', perMinute: 1, burst: 0 }, cost: 1 }];
    const bounded = createMemoryRateLimitStore({ maxEntries: 10_000, now: manualClock().now });
    for (let index = 0; index < 100_000; index++) await bounded.consume(`ip:${index}`, charge);
    expect(bounded.size).toBe(10_000);
    expect(await bounded.consume('ip:99999', charge)).toMatchObject([{ allowed: false }]); // still remembered
    expect(await bounded.consume('ip:0', charge)).toMatchObject([{ allowed: true }]); // forgotten: a fresh budget

    const byDefault = createMemoryRateLimitStore({ now: manualClock().now });
    for (let index = 0; index <= 100_000; index++) await byDefault.consume(`ip:${index}`, charge);
    expect(byDefault.size).toBe(100_000);
  });

  it('when disabled, allows everything without asking the store and sends no headers', async () => {
    const store: RateLimitStore = { kind: 'memory', consume: jest.fn(), close: async () => undefined };
    const limiter = createRateLimit({ enabled: false, perMinute: 1, burst: 0, store });
    for (let index = 0; index < 3; index++)
      expect(await ask(limiter)).toEqual({ allowed: true, client: 'user:1', headers: {}, storeUnavailable: false });
    expect(store.consume).not.toHaveBeenCalled();
  });

  it('rejects options that cannot be a rate, naming the option', () => {
    const store = createMemoryRateLimitStore();
    expect(() => createRateLimit({ perMinute: 0, store })).toThrow(
      'RateLimitOptions.perMinute: expected a positive number, got 0',
    );
    expect(() => createRateLimit({ burst: 1.5, store })).toThrow('RateLimitOptions.burst');
    expect(() => createRateLimit({ operations: { Search: -1 }, store })).toThrow('RateLimitOptions.operations.Search');
    expect(() => createRateLimit({ trustedProxies: ['proxy.internal'], store })).toThrow(
      'RateLimitOptions.trustedProxies',
    );
  });
});

describe('clientKey', () => {
  const PROXIES = ['10.0.0.1', '10.0.0.2'];

  it('is the verified user or service, wherever the request comes from', () => {
    expect(clientKey(request('203.0.113.9'), user('42'), [])).toBe('user:42');
    expect(clientKey(request('203.0.113.9'), { kind: 'service', service: 'orders' }, [])).toBe('service:orders');
  });

  it('is the socket peer for an anonymous caller, ignoring X-Forwarded-For from an untrusted peer', () => {
    expect(clientKey(request('203.0.113.9'), ANONYMOUS, [])).toBe('ip:203.0.113.9');
    expect(clientKey(request('203.0.113.9', '198.51.100.1'), ANONYMOUS, [])).toBe('ip:203.0.113.9');
    expect(clientKey(request('203.0.113.9', '198.51.100.1'), ANONYMOUS, PROXIES)).toBe('ip:203.0.113.9');
  });

  it('behind trusted proxies, is the right-most forwarded address that is not a trusted proxy', () => {
    expect(clientKey(request('10.0.0.1', '198.51.100.1'), ANONYMOUS, PROXIES)).toBe('ip:198.51.100.1');
    expect(clientKey(request('10.0.0.1', '198.51.100.1, 10.0.0.2'), ANONYMOUS, PROXIES)).toBe('ip:198.51.100.1');
    // A client that sends its own X-Forwarded-For gets it prepended to: the forged left part is never read.
    expect(clientKey(request('10.0.0.1', '1.1.1.1, 198.51.100.1, 10.0.0.2'), ANONYMOUS, PROXIES)).toBe(
      'ip:198.51.100.1',
    );
  });

  it('behind trusted proxies, falls back to the nearest trusted hop without a usable forwarded address', () => {
    expect(clientKey(request('10.0.0.1'), ANONYMOUS, PROXIES)).toBe('ip:10.0.0.1');
    expect(clientKey(request('10.0.0.1', '10.0.0.2'), ANONYMOUS, PROXIES)).toBe('ip:10.0.0.2');
    expect(clientKey(request('10.0.0.1', 'unknown, 10.0.0.2'), ANONYMOUS, PROXIES)).toBe('ip:10.0.0.2');
  });

  it('reads addresses in one spelling: IPv4-mapped IPv6 as IPv4, IPv6 compressed, ports dropped', () => {
    expect(clientKey(request('::ffff:203.0.113.9'), ANONYMOUS, [])).toBe('ip:203.0.113.9');
    expect(clientKey(request('::ffff:10.0.0.1', '::FFFF:198.51.100.1'), ANONYMOUS, PROXIES)).toBe('ip:198.51.100.1');
    expect(clientKey(request('10.0.0.1', '[2001:DB8:0:0::1]:443'), ANONYMOUS, PROXIES)).toBe('ip:2001:db8::1');
    expect(clientKey(request('10.0.0.1', '198.51.100.1:5555'), ANONYMOUS, PROXIES)).toBe('ip:198.51.100.1');
    expect(clientKey(request('203.0.113.9'), ANONYMOUS, ['::ffff:203.0.113.9'])).toBe('ip:203.0.113.9');
    expect(clientKey(request(undefined), ANONYMOUS, [])).toBe('ip:unknown');
  });
});

describe('countMutationFields', () => {
  it('counts every aliased root field of the mutation, through fragments, once per response key', () => {
    const document = parse(`
      mutation Pay { a: pay(id: 1) { id } b: pay(id: 2) { id } ...More ... on Mutation { d: pay(id: 4) { id } } __typename }
      fragment More on Mutation { c: pay(id: 3) { id } a: pay(id: 1) { id } }
    `);
    expect(countMutationFields(document, 'Pay')).toBe(4);
    expect(countMutationFields(document)).toBe(4);
  });

  it('is 0 for a query or subscription, and for an operation not in the document', () => {
    const document = parse('query Q { me { id } } mutation M { pay(id: 1) { id } }');
    expect(countMutationFields(document, 'Q')).toBe(0);
    expect(countMutationFields(document, 'M')).toBe(1);
    expect(countMutationFields(document, 'Missing')).toBe(0);
    expect(countMutationFields(document)).toBe(0); // ambiguous without a name
    expect(countMutationFields(parse('subscription { changed { id } }'))).toBe(0);
  });
});

describe('Redis store (real Redis)', () => {
  const prefix = `test-rl-${process.pid}-${Math.random().toString(36).slice(2, 8)}:`;
  const stores: RateLimitStore[] = [];
  const redisStore = (options: { now?: () => number; timeoutMs?: number } = {}) => {
    const store = createRedisRateLimitStore({
      redis: TEST_REDIS_URL,
      timeoutMs: options.timeoutMs ?? 5_000,
      keyPrefix: prefix,
      logger: silentLogger,
      now: options.now,
    });
    stores.push(store);
    return store;
  };
  /** Waits for the background connection: until then a store answers "unavailable". */
  const WARM_UP: RateCharge[] = [{ policy: { name: 'warm-up', perMinute: 60_000, burst: 1_000 }, cost: 1 }];
  const connected = async (store: RateLimitStore) => {
    while ((await store.consume('warm-up', WARM_UP)) === undefined)
      await new Promise((resolve) => setTimeout(resolve, 5));
    return store;
  };
  const inspector = createClient({ url: TEST_REDIS_URL });

  beforeAll(async () => {
    await requireRedis();
    await inspector.connect();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
  });
  afterAll(async () => {
    if (inspector.isOpen) {
      const keys: string[] = [];
      for await (const batch of inspector.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) keys.push(...batch);
      if (keys.length > 0) await inspector.del(keys);
      inspector.destroy();
    }
  });

  it('is chosen by the factory when a Redis URL is configured, else the in-process store', async () => {
    const options = { timeoutMs: 5_000, keyPrefix: prefix, logger: silentLogger };
    const store = createRateLimitStore({ ...options, redis: TEST_REDIS_URL });
    stores.push(store);
    expect(store.kind).toBe('redis');
    expect(createRateLimitStore({ ...options, redis: undefined }).kind).toBe('memory');
  });

  it('decides exactly as the in-process store does (the Lua script transcribes gcra)', async () => {
    const clock = manualClock();
    const redis = await connected(redisStore({ now: clock.now }));
    const memory = createMemoryRateLimitStore({ now: clock.now });
    const requestPolicy = { name: 'request', perMinute: 60, burst: 3 }; // one a second, 4 at once
    const mutationPolicy = { name: 'mutation', perMinute: 6, burst: 2 }; // one every 10 s, 3 at once
    // [ms to advance, mutation cost]: bursts, refusals, a cost above the burst, partial refills, idling.
    const steps: [number, number][] = [
      [0, 0],
      [0, 1],
      [0, 2],
      [0, 1],
      [0, 0],
      [0, 0],
      [0, 0],
      [500, 0],
      [500, 0],
      [0, 4],
      [1_500, 1],
      [10_000, 2],
      [2_500, 0],
      [60_000, 3],
      [0, 0],
      [5_000, 1],
      [4_500, 1],
    ];
    for (const [advance, mutationCost] of steps) {
      clock.advance(advance);
      const charges: RateCharge[] = [{ policy: requestPolicy, cost: 1 }];
      if (mutationCost > 0) charges.push({ policy: mutationPolicy, cost: mutationCost });
      const expected = await memory.consume('user:equal', charges);
      expect(await redis.consume('user:equal', charges)).toEqual(expected);
    }
  });

  it("keeps one key per (policy, client) under the prefix, the client as hash tag, expiring when the client's bucket is full", async () => {
    const store = await connected(redisStore());
    const limiter = createRateLimit({ perMinute: 60, burst: 3, mutationsPerMinute: 60, store });
    expect(await ask(limiter, { caller: user('7'), mutationFields: 2 })).toMatchObject({ allowed: true });
    const keys: string[] = [];
    for await (const batch of inspector.scanIterator({ MATCH: `${prefix}ratelimit:{user:7}*`, COUNT: 500 }))
      keys.push(...batch);
    expect(keys.sort()).toEqual([`${prefix}ratelimit:{user:7}:mutation`, `${prefix}ratelimit:{user:7}:request`]);
    expect(rateLimitKey(prefix, 'user:7', 'request')).toBe(`${prefix}ratelimit:{user:7}:request`);
    const requestTtl = await inspector.pTTL(`${prefix}ratelimit:{user:7}:request`);
    const mutationTtl = await inspector.pTTL(`${prefix}ratelimit:{user:7}:mutation`);
    expect(requestTtl).toBeGreaterThan(0);
    expect(requestTtl).toBeLessThanOrEqual(1_000); // one unit of one a second
    expect(mutationTtl).toBeGreaterThan(1_000);
    expect(mutationTtl).toBeLessThanOrEqual(2_000); // two units
  });

  it('shares one budget between two replicas (two Redis clients): N allowed in total, not 2N', async () => {
    const replicas = [
      createRateLimit({ perMinute: 1, burst: 4, store: await connected(redisStore()) }),
      createRateLimit({ perMinute: 1, burst: 4, store: await connected(redisStore()) }),
    ];
    const decisions: RateLimitDecision[] = [];
    for (let index = 0; index < 10; index++)
      decisions.push(await ask(replicas[index % 2]!, { caller: user('shared') }));
    expect(decisions.map((decision) => decision.allowed)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(decisions.slice(0, 5).map((decision) => decision.headers.RateLimit)).toEqual(
      [4, 3, 2, 1, 0].map((remaining) => `"request";r=${remaining};t=${60 * (5 - remaining)}`),
    );
  });

  it('never allows more than the limit to 50 concurrent requests from two replicas (one atomic script)', async () => {
    const replicas = [
      createRateLimit({ perMinute: 1, burst: 9, store: await connected(redisStore()) }),
      createRateLimit({ perMinute: 1, burst: 9, store: await connected(redisStore()) }),
    ];
    const decisions = await Promise.all(
      Array.from({ length: 50 }, (_, index) => ask(replicas[index % 2]!, { caller: user('concurrent') })),
    );
    expect(decisions.filter((decision) => decision.allowed === true && !decision.storeUnavailable)).toHaveLength(10);
    expect(decisions.filter((decision) => !decision.allowed)).toHaveLength(40);
  });

  /** A real store that counts the decisions it was asked for: what a replica costs Redis. */
  const counted = (store: RateLimitStore) => {
    let calls = 0;
    return {
      store: {
        kind: store.kind,
        consume: (client: string, charges: RateCharge[]) => {
          calls++;
          return store.consume(client, charges);
        },
        close: () => store.close(),
      } satisfies RateLimitStore,
      calls: () => calls,
    };
  };

  it('leases units to a hot client, so a replica asks Redis far less than once a request, and never allows more than Redis granted', async () => {
    // 640 units at once (burst 639), no refill within the test: a lease is at most 640 / 32 = 20 units.
    const clock = manualClock(); // frozen: every lease is spent "at once", so leases grow to their cap
    const replicas = [counted(await connected(redisStore())), counted(await connected(redisStore()))];
    const limiters = replicas.map(({ store }) => createRateLimit({ perMinute: 1, burst: 639, store, now: clock.now }));
    const decisions: RateLimitDecision[] = [];
    for (let index = 0; index < 1_000; index++)
      decisions.push(await ask(limiters[index % 2]!, { caller: user('hot') }));
    const allowed = decisions.filter((decision) => decision.allowed).length;
    // Never more than the budget; at most one unspent lease (19 units) per replica lost to the client.
    expect(allowed).toBeLessThanOrEqual(640);
    expect(allowed).toBeGreaterThanOrEqual(640 - 2 * 19);
    // Allowed requests: leases of 1, 2, 4, 8, 16, then 20; refusals: remembered until Redis's retry time.
    const calls = replicas[0]!.calls() + replicas[1]!.calls();
    expect(calls).toBeLessThan(100);
    expect(decisions.every((decision) => decision.allowed || decision.status === 429)).toBe(true);
    const refusal = decisions.find((decision) => !decision.allowed)!;
    expect(refusal.headers['Retry-After']).toBe('60');
    expect(decisions[0]!.headers.RateLimit).toBe('"request";r=639;t=60');
  });

  it('leases nothing for a burst under 63 (the default is 60): every decision is made in Redis', async () => {
    const { store, calls } = counted(await connected(redisStore()));
    const limiter = createRateLimit({ perMinute: 1, burst: 60, store, now: manualClock().now });
    const decisions: RateLimitDecision[] = [];
    for (let index = 0; index < 61; index++) decisions.push(await ask(limiter, { caller: user('ordinary') }));
    expect(decisions.every((decision) => decision.allowed)).toBe(true);
    expect(calls()).toBe(61);
    expect(decisions.map((decision) => decision.headers.RateLimit).slice(-2)).toEqual([
      '"request";r=1;t=3600',
      '"request";r=0;t=3660',
    ]);
    // Over the limit: Redis refuses once, and this replica refuses locally until Redis's retry time.
    const refused = [
      await ask(limiter, { caller: user('ordinary') }),
      await ask(limiter, { caller: user('ordinary') }),
    ];
    expect(refused.map((decision) => decision.allowed)).toEqual([false, false]);
    expect(calls()).toBe(62);
    expect(refused[1]).toMatchObject({ status: 429, headers: { 'Retry-After': '60' } });
  });

  it('does not lease to a client at an ordinary pace, and drops a lease left unspent for a second', async () => {
    const clock = manualClock();
    const { store, calls } = counted(await connected(redisStore()));
    const limiter = createRateLimit({ perMinute: 60_000, burst: 6_399, store, now: clock.now });
    for (let index = 0; index < 5; index++) {
      expect(await ask(limiter, { caller: user('slow') })).toMatchObject({ allowed: true });
      clock.advance(100); // ten a second: slower than one lease window apart
    }
    expect(calls()).toBe(5);
    // Hot now: leases of 2, 4, 8 ...
    for (let index = 0; index < 15; index++) await ask(limiter, { caller: user('slow') });
    expect(calls()).toBeLessThan(5 + 6);
    const before = calls();
    clock.advance(1_000);
    await ask(limiter, { caller: user('slow') });
    expect(calls()).toBe(before + 1);
  });
});

describe('fail open', () => {
  const deadline = (ms: number) =>
    new Promise<'deadline'>((resolve) => setTimeout(() => resolve('deadline'), ms).unref());

  it('allows requests, flags them and logs once when nothing listens on the Redis port', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as net.AddressInfo;
    await new Promise((resolve) => probe.close(resolve));

    const logger = spyLogger();
    const store = createRedisRateLimitStore({
      redis: `redis://127.0.0.1:${port}`,
      timeoutMs: 50,
      keyPrefix: 'unused:',
      logger,
    });
    try {
      const limiter = createRateLimit({ perMinute: 1, burst: 0, store });
      for (let index = 0; index < 3; index++) {
        const decision = await Promise.race([ask(limiter), deadline(50)]);
        expect(decision).toEqual({ allowed: true, client: 'user:1', headers: {}, storeUnavailable: true });
      }
      expect(logger.warn).toHaveBeenCalledTimes(1);
      expect(logger.warn.mock.calls[0]![0]).toMatch(/rate limit store unavailable/);
    } finally {
      await store.close();
    }
  });

  it('allows requests when Redis accepts commands but does not answer the script within the timeout', async () => {
    // A Redis that says OK to the connection handshake and then never answers EVALSHA or EVAL.
    let scripts = 0;
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('data', (chunk) => {
        for (const command of chunk.toString('latin1').split(/(?=\*\d+\r\n\$)/)) {
          if (/^\*\d+\r\n\$\d+\r\nEVAL/i.test(command)) scripts++;
          else if (command.startsWith('*')) socket.write('+OK\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const logger = spyLogger();
    const timeoutMs = 50;
    const store = createRedisRateLimitStore({
      redis: `redis://127.0.0.1:${port}`,
      timeoutMs,
      keyPrefix: 'unused:',
      logger,
    });
    try {
      const limiter = createRateLimit({ perMinute: 1, burst: 0, store });
      // Until the handshake is done the store answers "unavailable" at once; wait until a script was sent.
      while (scripts === 0) {
        await ask(limiter);
        await new Promise(setImmediate);
      }
      expect(logger.warn.mock.lastCall![1]).toEqual({
        error: `rate limit store did not answer within ${timeoutMs} ms`,
      });
      const [scriptsBefore, warningsBefore] = [scripts, logger.warn.mock.calls.length];
      for (let index = 0; index < 2; index++) {
        const decision = await Promise.race([ask(limiter), deadline(timeoutMs * 10)]);
        expect(decision).toEqual({ allowed: true, client: 'user:1', headers: {}, storeUnavailable: true });
      }
      expect(scripts).toBe(scriptsBefore + 2); // each was sent, and given up on
      expect(logger.warn).toHaveBeenCalledTimes(warningsBefore); // still the same outage: logged once
    } finally {
      await store.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });
});
