import type { Logger } from '../../lib/logger';
import type { GatewayMetrics } from '../metrics';
import type { RedisTarget } from '../../lib/config';
import { createOutageLog, createRedisConnection, reconnectDelayMs, withDeadline } from '../../lib/redis';

/**
 * Where the gateway keeps cached entities and persisted queries: Redis, shared by every replica, or an
 * in-process LRU with the same semantics when no Redis is configured (one replica, `npm start` on a laptop).
 *
 * Entities live in hashes: one hash per entity (`ec:<subgraph>:<Type>:<key>`), one field per variant (the
 * fetch's selection, the full representation, the caller scope), so evicting an entity is one DEL whatever
 * variants were cached. Each value carries its own expiry time; the hash's TTL only bounds memory.
 *
 * Every call is bounded by a timeout and never throws: a cache that is down, slow or restarting answers
 * "nothing cached" (reads) or drops the write, counts the error, logs once per outage, and the request is
 * served by the subgraphs instead.
 */
export interface HashLookup {
  key: string;
  field: string;
}
export interface HashWrite extends HashLookup {
  value: string;
  ttlSeconds: number;
  /** How long the value is kept past its TTL (served only when its subgraph fails: stale-if-error). */
  staleSeconds?: number;
}

export interface CacheStore {
  readonly kind: 'redis' | 'memory';
  /** All lookups in one round trip; `undefined` when the cache is unavailable. */
  readFields(lookups: HashLookup[]): Promise<(string | null)[] | undefined>;
  writeFields(writes: HashWrite[]): Promise<void>;
  deleteKeys(keys: string[]): Promise<void>;
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** For tests and health: drop everything under our key prefixes. */
  close(): Promise<void>;
}

const now = () => Date.now();

/** Values are stored as `<expiresAtMs>|<payload>`; expired values read as misses. */
export function encodeValue(value: string, ttlSeconds: number): string {
  return `${now() + ttlSeconds * 1000}|${value}`;
}
export function decodeValue(stored: string | null | undefined): string | null {
  const decoded = decodeStored(stored);
  return decoded && decoded.expiresAt > now() ? decoded.value : null;
}
/** A stored value with its expiry time, expired or not (for stale-if-error). */
export function decodeStored(stored: string | null | undefined): { value: string; expiresAt: number } | null {
  if (!stored) return null;
  const bar = stored.indexOf('|');
  if (bar === -1) return null;
  const expiresAt = Number(stored.slice(0, bar));
  return Number.isFinite(expiresAt) ? { value: stored.slice(bar + 1), expiresAt } : null;
}

export function createMemoryCacheStore(maxEntries: number): CacheStore {
  const hashes = new Map<string, Map<string, string>>();
  const plain = new Map<string, { value: string; expiresAt: number }>();
  let entries = 0;
  const touch = (key: string, hash: Map<string, string>) => {
    hashes.delete(key);
    hashes.set(key, hash);
  };
  const evictOldest = () => {
    while (entries > maxEntries && hashes.size > 0) {
      const [oldestKey, oldest] = hashes.entries().next().value as [string, Map<string, string>];
      entries -= oldest.size;
      hashes.delete(oldestKey);
    }
  };
  return {
    kind: 'memory',
    async readFields(lookups) {
      return lookups.map(({ key, field }) => {
        const hash = hashes.get(key);
        if (!hash) return null;
        touch(key, hash);
        return hash.get(field) ?? null;
      });
    },
    async writeFields(writes) {
      if (maxEntries === 0) return;
      for (const { key, field, value, ttlSeconds } of writes) {
        let hash = hashes.get(key);
        if (!hash) hash = new Map();
        if (!hash.has(field)) entries++;
        hash.set(field, encodeValue(value, ttlSeconds));
        touch(key, hash);
      }
      evictOldest();
    },
    async deleteKeys(keys) {
      for (const key of keys) {
        const hash = hashes.get(key);
        if (hash) {
          entries -= hash.size;
          hashes.delete(key);
        }
        plain.delete(key);
      }
    },
    async get(key) {
      const entry = plain.get(key);
      if (!entry) return undefined;
      if (entry.expiresAt <= now()) {
        plain.delete(key);
        return undefined;
      }
      return entry.value;
    },
    async set(key, value, ttlSeconds) {
      plain.set(key, { value, expiresAt: ttlSeconds ? now() + ttlSeconds * 1000 : Number.POSITIVE_INFINITY });
      if (plain.size > maxEntries) plain.delete(plain.keys().next().value!);
    },
    async close() {
      hashes.clear();
      plain.clear();
    },
  };
}

export function createRedisCacheStore(options: {
  /** One server (its URL) or a cluster. */
  redis: RedisTarget | string;
  timeoutMs: number;
  /** Namespaces every key, so several gateways (or tenants, or test runs) can share one Redis. */
  keyPrefix: string;
  logger: Logger;
  metrics: GatewayMetrics;
}): CacheStore {
  const { logger, metrics, keyPrefix } = options;
  const outage = createOutageLog(logger, {
    down: 'cache unavailable; serving from subgraphs until it is back',
    back: 'cache available again',
  });
  const failed = (error: unknown) => {
    metrics.cacheErrors.inc();
    outage.failed(error);
  };
  // Connects in the background: the gateway starts (and serves) whether or not Redis is up yet.
  const connection = createRedisConnection(options.redis, {
    connectTimeoutMs: 2000,
    reconnectDelayMs,
    onError: failed,
  });
  if (connection.kind === 'single') connection.client.on('ready', () => outage.recovered());
  const inFlight = new Set<Promise<unknown>>();

  /** Runs `operation` unless the cache is known down, bounded by the timeout. */
  async function guarded<T>(operation: () => Promise<T>): Promise<T | undefined> {
    if (!connection.ready) return undefined;
    const running = withDeadline(operation(), options.timeoutMs, `cache did not answer within ${options.timeoutMs} ms`);
    inFlight.add(running);
    try {
      metrics.cacheRoundTrips.inc();
      const result = await running;
      // A cluster has no "ready again" event for a node that came back: the first answer says it.
      if (connection.kind === 'cluster') outage.recovered();
      return result;
    } catch (error) {
      failed(error);
      return undefined;
    } finally {
      inFlight.delete(running);
    }
  }

  /*
   * One server: each call is one pipeline, one round trip. A cluster: the same commands sent one by one, all at
   * once (node-redis writes what is queued for a node together), because a pipeline goes to one node and the
   * entities of one call live in many slots; one round trip per node, in parallel.
   */
  return {
    kind: 'redis',
    async readFields(lookups) {
      if (lookups.length === 0) return [];
      return guarded(async () => {
        if (connection.kind === 'cluster')
          return Promise.all(lookups.map(({ key, field }) => connection.client.hGet(keyPrefix + key, field)));
        const pipeline = connection.client.multi();
        for (const { key, field } of lookups) pipeline.addCommand(['HGET', keyPrefix + key, field]);
        return (await pipeline.execAsPipeline()) as unknown as (string | null)[];
      });
    },
    async writeFields(writes) {
      if (writes.length === 0) return;
      await guarded(async () => {
        const commands: [key: string, args: string[]][] = [];
        const longest = new Map<string, number>();
        for (const { key, field, value, ttlSeconds, staleSeconds } of writes) {
          commands.push([keyPrefix + key, ['HSET', keyPrefix + key, field, encodeValue(value, ttlSeconds)]]);
          const keep = ttlSeconds + (staleSeconds ?? 0);
          longest.set(keyPrefix + key, Math.max(longest.get(keyPrefix + key) ?? 0, keep));
        }
        for (const [key, ttl] of longest) {
          commands.push([key, ['EXPIRE', key, String(ttl), 'NX']]);
          commands.push([key, ['EXPIRE', key, String(ttl), 'GT']]);
        }
        if (connection.kind === 'cluster') {
          await Promise.all(commands.map(([key, args]) => connection.client.sendCommand(key, false, args)));
          return;
        }
        const pipeline = connection.client.multi();
        for (const [, args] of commands) pipeline.addCommand(args);
        await pipeline.execAsPipeline();
      });
    },
    async deleteKeys(keys) {
      if (keys.length === 0) return;
      const prefixed = keys.map((key) => keyPrefix + key);
      await guarded(async () => {
        // One DEL of keys in several slots is refused on a cluster (CROSSSLOT): one DEL per key there.
        if (connection.kind === 'cluster') await Promise.all(prefixed.map((key) => connection.client.del(key)));
        else await connection.client.del(prefixed);
      });
    },
    async get(key) {
      const value = await guarded(() => connection.client.get(keyPrefix + key));
      return value ?? undefined;
    },
    async set(key, value, ttlSeconds) {
      await guarded(() =>
        ttlSeconds
          ? connection.client.set(keyPrefix + key, value, { EX: ttlSeconds })
          : connection.client.set(keyPrefix + key, value),
      );
    },
    async close() {
      // Bounded (one second in all) whatever Redis does. A first connection still being opened may finish, so
      // that it is closed rather than left behind; once an attempt has failed there is no point waiting, and with
      // Redis unreachable node-redis retries for ever. A connected client gets to finish the writes it sent: on
      // one server Redis answers in order, so a PING's reply means every earlier command was answered; a cluster
      // has one connection per node, so there the calls in flight are awaited instead (each within its
      // deadline). Not `close()` or `quit()`: they mark the client closed first, and against a server that
      // stopped answering they wait for ever, after which `destroy()` refuses to run.
      let timer: NodeJS.Timeout | undefined;
      const budget = new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)));
      if (!connection.ready && !outage.down) await Promise.race([connection.firstAttempt, budget]);
      if (connection.ready) {
        const finished =
          connection.kind === 'single'
            ? connection.client.ping().catch(() => undefined)
            : Promise.allSettled([...inFlight]);
        await Promise.race([finished, budget]);
      }
      clearTimeout(timer);
      connection.destroy();
    },
  };
}
