import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { silentLogger, type Logger } from './logger';

/**
 * Entity change events: after every committed write, the subgraph that owns the data announces which entities
 * changed (typename and key fields), so every gateway replica can evict what it cached about them.
 */
export interface EntityChange {
  typename: string;
  /** The entity's @key fields and their values, e.g. { sku: 'SKU-0001' }. */
  key: Record<string, string | number>;
}

/** Where changes are announced. Publishing never throws: a lost event costs freshness up to a TTL, not a write. */
export interface ChangePublisher {
  publish(changes: EntityChange[]): Promise<void>;
  close(): Promise<void>;
}

/** Where gateways hear about changes. */
export interface ChangeSubscriber {
  /** Calls `handler` for every batch of changes published after this call (and any missed during a reconnect). */
  subscribe(handler: (changes: EntityChange[]) => void): Promise<void>;
  close(): Promise<void>;
}

/** The response extension that carries a write's changes back to the gateway that sent it. */
export const CHANGES_EXTENSION = 'entityChanges';

export interface ChangeBus {
  publisher: ChangePublisher;
  subscriber: ChangeSubscriber;
}

/** Batches a publisher handed on, and batches it lost (Redis down or too slow); exported on /metrics. */
export interface ChangePublisherStats {
  published: number;
  failed: number;
}

/** The publishers made here count what they send; anyone else's publisher has no stats. */
export function publisherStats(publisher: ChangePublisher): ChangePublisherStats | undefined {
  const stats = (publisher as { stats?: unknown }).stats;
  return typeof stats === 'function' ? (stats as () => ChangePublisherStats).call(publisher) : undefined;
}

/** True for a well-formed change; anything read off the wire or another service's response is checked with it. */
export function isEntityChange(value: unknown): value is EntityChange {
  if (typeof value !== 'object' || value === null) return false;
  const { typename, key } = value as Record<string, unknown>;
  if (typeof typename !== 'string' || typename === '' || typeof key !== 'object' || key === null || Array.isArray(key)) return false;
  return Object.values(key).every((field) => typeof field === 'string' || typeof field === 'number');
}

/** For when no REDIS_URL is set: changes still reach the sending gateway through the response extension. */
export function createNoopChangePublisher(): ChangePublisher & { stats(): ChangePublisherStats } {
  return {
    publish: async () => undefined,
    close: async () => undefined,
    stats: () => ({ published: 0, failed: 0 }),
  };
}

/**
 * Publisher and subscriber in one process: `publish` calls every handler synchronously, before its promise
 * resolves, so a test (or a single-process deployment) sees the eviction as soon as the write returns.
 */
export function createLocalChangeBus(logger: Logger = silentLogger): ChangeBus & { publisher: { stats(): ChangePublisherStats } } {
  const handlers = new Set<(changes: EntityChange[]) => void>();
  let published = 0;
  return {
    publisher: {
      async publish(changes) {
        if (changes.length === 0) return;
        published++;
        for (const handler of [...handlers]) {
          try {
            handler(changes);
          } catch (error) {
            logger.error('an entity change handler failed', { error: describeError(error) });
          }
        }
      },
      close: async () => undefined,
      stats: () => ({ published, failed: 0 }),
    },
    subscriber: {
      async subscribe(handler) {
        handlers.add(handler);
      },
      async close() {
        handlers.clear();
      },
    },
  };
}

export interface RedisChangeBusOptions {
  url: string;
  /** The stream's key (config.redis.changeStream). */
  streamKey: string;
  logger: Logger;
  /** Deadline for the subscriber's short commands (config.redis.commandTimeoutMs); raised to at least 1 s there. */
  commandTimeoutMs?: number;
  /** Deadline for one publish, connection included; a mutation waits at most this long for Redis. */
  publishTimeoutMs?: number;
  /** Approximate length the stream is trimmed to on every publish. */
  maxLength?: number;
  /** How long one XREAD blocks waiting for new entries. */
  blockMs?: number;
}

const DEFAULT_PUBLISH_TIMEOUT_MS = 500;
const DEFAULT_MAX_LENGTH = 10_000;
const DEFAULT_BLOCK_MS = 1_000;
const RECONNECT_CAP_MS = 2_000;
/** Entries one XREAD may return; a subscriber that fell far behind catches up in pages of this size. */
const READ_COUNT = 500;

/**
 * Entity changes over a Redis Stream, not pub/sub. Pub/sub forgets a message the moment it is sent, so a
 * gateway replica whose connection drops for a second would silently keep stale entries until their TTL. A
 * stream keeps the last ~10,000 batches: the subscriber remembers the id of the last entry it handled and, after
 * a reconnect, resumes with `XREAD ... STREAMS <key> <lastId>`, so a short disconnect loses no eviction. Only a
 * subscriber that is away long enough for 10,000 newer batches to trim its position away misses some, and
 * then the cache's TTLs bound the staleness.
 *
 * Publish: one `XADD <key> MAXLEN ~ 10000 * changes <json>` per batch (per mutation request).
 * Subscribe: a dedicated connection looping on `XREAD BLOCK 1000 STREAMS <key> <lastId>`.
 */
export function createRedisChangeBus(options: RedisChangeBusOptions): ChangeBus & { publisher: { stats(): ChangePublisherStats } } {
  return { publisher: createRedisChangePublisher(options), subscriber: createRedisChangeSubscriber(options) };
}

/**
 * The publishing half alone (what a subgraph needs): one connection, opened at once and kept open by
 * node-redis's reconnect strategy.
 *
 * A publish runs after the write committed, on the mutation's response path, so it must neither fail the
 * mutation nor hold it up: errors are logged and counted, never thrown, and each publish has a deadline.
 * `disableOfflineQueue` makes a publish while disconnected fail at once instead of queueing behind a
 * reconnect. The deadline is ours, not node-redis's `timeout` command option: that option only covers a command
 * still waiting to be written, and once on the wire a command waits for its reply for as long as the socket
 * stays open, so a Redis that accepts connections but stops answering would hang every mutation. A publish
 * past its deadline also replaces the connection: Redis answers in order, so every later command would queue
 * behind the unanswered one, whereas a fresh connection is either ready or (offline queue disabled) fails at once.
 */
export function createRedisChangePublisher(options: RedisChangeBusOptions): ChangePublisher & { stats(): ChangePublisherStats } {
  const { streamKey, logger } = options;
  const publishTimeoutMs = options.publishTimeoutMs ?? Math.max(options.commandTimeoutMs ?? 0, DEFAULT_PUBLISH_TIMEOUT_MS);
  const trim = { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: options.maxLength ?? DEFAULT_MAX_LENGTH } } as const;
  const outage = createOutageLog(logger, 'publishing entity changes to Redis');
  let closed = false;
  const open = () => {
    const opened = openStreamClient(options.url, publishTimeoutMs, `${streamKey}:publisher`, outage, () => closed);
    opened.client.on('ready', () => outage.recovered());
    return opened;
  };
  let connection = open();
  // Only right after start-up does a publish wait for the connection to open; later ones fail fast instead.
  const startup = connection.firstAttempt;

  const inFlight = new Set<Promise<void>>();
  const stats: ChangePublisherStats = { published: 0, failed: 0 };

  async function send(changes: EntityChange[]): Promise<void> {
    const used = connection;
    try {
      await withDeadline(
        (async () => {
          await startup;
          await used.client.xAdd(streamKey, '*', { changes: JSON.stringify(changes) }, trim);
        })(),
        publishTimeoutMs,
        'XADD',
      );
      stats.published++;
      outage.recovered();
    } catch (error) {
      stats.failed++;
      outage.failed(error);
      logger.debug('an entity change batch was not published', { changes: changes.length, error: describeError(error) });
      if (error instanceof DeadlineExceeded && used === connection && !closed) {
        if (used.client.isOpen) used.client.destroy();
        connection = open();
      }
    }
  }

  return {
    publish(changes) {
      if (changes.length === 0) return Promise.resolve();
      if (closed) {
        stats.failed++;
        logger.debug('an entity change batch was published after close and dropped', { changes: changes.length });
        return Promise.resolve();
      }
      const sending = send(changes);
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending));
      return sending;
    },
    async close() {
      if (closed) return;
      closed = true;
      // Every publish settles within its deadline; what is still queued after that is stuck on a dead server.
      await Promise.allSettled([...inFlight]);
      if (connection.client.isOpen) connection.client.destroy();
    },
    stats: () => ({ ...stats }),
  };
}

/**
 * The subscribing half alone (what a gateway needs): a dedicated connection, opened by the first `subscribe`.
 *
 * Where reading starts: "new events only" is `$`, but `XREAD ... $` in a loop loses whatever is added between
 * one read returning and the next being sent, and `subscribe()` could not promise to see a batch published right
 * after it resolves. So the loop first pins `$` to a concrete id (the newest entry's, or 0-0 for a stream that
 * does not exist yet) and from then on reads strictly after the last id it handled.
 *
 * Failures: any error (connection lost, Redis restarting, a command past its deadline) makes the loop wait a
 * capped, growing delay and try again from the same id; node-redis reconnects the socket meanwhile. A read that
 * misses its deadline means a connection that is open but dead, so that client is thrown away for a new one. An
 * outage is logged once when it starts and once when it ends, however many attempts fail in between.
 */
export function createRedisChangeSubscriber(options: RedisChangeBusOptions): ChangeSubscriber {
  const { streamKey, logger } = options;
  const blockMs = options.blockMs ?? DEFAULT_BLOCK_MS;
  // Off the request path a slow answer is better than a reconnect storm, so short commands get at least a second.
  const commandTimeoutMs = Math.max(options.commandTimeoutMs ?? 0, 1_000);
  const readTimeoutMs = blockMs + commandTimeoutMs;
  const outage = createOutageLog(logger, 'reading entity changes from Redis');
  const handlers = new Set<(changes: EntityChange[]) => void>();
  const stopping = new AbortController();
  let connection: StreamConnection | undefined;
  let lastId: string | undefined;
  let loop: Promise<void> | undefined;

  function discardConnection(): void {
    if (connection?.client.isOpen) connection.client.destroy();
    connection = undefined;
  }

  function deliver(entries: readonly { id: string; message: Record<string, string> }[]): void {
    for (const entry of entries) {
      lastId = entry.id;
      const changes = parseChanges(entry.message.changes);
      if (!changes) {
        logger.warn('skipped a malformed entity change entry', { stream: streamKey, id: entry.id });
        continue;
      }
      for (const handler of [...handlers]) {
        try {
          handler(changes);
        } catch (error) {
          logger.error('an entity change handler failed', { id: entry.id, error: describeError(error) });
        }
      }
    }
  }

  async function run(positioned: () => void): Promise<void> {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        connection ??= openStreamClient(options.url, readTimeoutMs, `${streamKey}:subscriber`, outage, () => stopping.signal.aborted);
        const { client } = connection;
        await withDeadline(connection.firstAttempt, readTimeoutMs, 'connecting');
        if (lastId === undefined) {
          const [newest] = await withDeadline(client.xRevRange(streamKey, '+', '-', { COUNT: 1 }), commandTimeoutMs, 'XREVRANGE');
          lastId = newest ? String(newest.id) : '0-0';
          positioned();
        }
        const reply = (await withDeadline(
          client.xRead({ key: streamKey, id: lastId }, { BLOCK: blockMs, COUNT: READ_COUNT }),
          readTimeoutMs,
          'XREAD',
        )) as StreamsReply;
        failures = 0;
        outage.recovered();
        for (const stream of reply ?? []) deliver(stream.messages.map((entry) => ({ id: String(entry.id), message: entry.message })));
      } catch (error) {
        if (stopping.signal.aborted) break;
        outage.failed(error);
        if (error instanceof DeadlineExceeded) discardConnection();
        await sleep(backoffMs(failures++), undefined, { signal: stopping.signal }).catch(() => undefined);
      }
    }
  }

  return {
    async subscribe(handler) {
      if (stopping.signal.aborted) throw new Error('This change subscriber is closed');
      handlers.add(handler);
      if (loop) return;
      // Wait (a little) until reading is pinned, so a batch published once this resolves is delivered; with
      // Redis down, start-up goes on and the loop starts from the stream's end once Redis is back.
      let markPositioned!: () => void;
      const positioned = new Promise<void>((resolve) => (markPositioned = resolve));
      loop = run(markPositioned);
      await withDeadline(positioned, readTimeoutMs, 'positioning on the stream').catch(() => undefined);
    },
    async close() {
      if (stopping.signal.aborted) return;
      stopping.abort();
      handlers.clear();
      // Not `close()`: that would wait up to a whole BLOCK period for the pending XREAD to return.
      discardConnection();
      await loop;
    },
  };
}

type StreamClient = ReturnType<typeof createStreamClient>;
interface StreamConnection {
  client: StreamClient;
  /** Settles when the first connection attempt succeeds or fails, or the client is closed before either. */
  firstAttempt: Promise<void>;
}
type StreamsReply = { name: unknown; messages: { id: unknown; message: Record<string, string> }[] }[] | null;

function createStreamClient(url: string, timeoutMs: number, name: string) {
  return createClient({
    url,
    name: name.replace(/[^\x21-\x7e]/g, '_'),
    disableOfflineQueue: true,
    commandOptions: { timeout: timeoutMs },
    socket: {
      connectTimeout: Math.max(timeoutMs, 1_000),
      // Exponential from 50 ms, capped, with jitter so replicas do not reconnect in lockstep after a restart.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, RECONNECT_CAP_MS) + Math.floor(Math.random() * 100),
    },
  });
}

/** Opens a client in the background; its connection errors (one per reconnect attempt) only feed the outage log. */
function openStreamClient(url: string, timeoutMs: number, name: string, outage: OutageLog, closing: () => boolean): StreamConnection {
  const client = createStreamClient(url, timeoutMs, name);
  client.on('error', (error: unknown) => outage.failed(error));
  const firstAttempt = new Promise<void>((resolve) => {
    const events = ['ready', 'error', 'end'] as const;
    const done = () => {
      for (const event of events) client.off(event, done);
      resolve();
    };
    for (const event of events) client.on(event, done);
  });
  client.connect().catch((error: unknown) => {
    if (!closing()) outage.failed(error);
  });
  return { client, firstAttempt };
}

function backoffMs(failures: number): number {
  return Math.min(50 * 2 ** failures, RECONNECT_CAP_MS);
}

function parseChanges(raw: string | undefined): EntityChange[] | undefined {
  if (raw === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) && parsed.every(isEntityChange) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
}

/** Rejects when `promise` takes longer than `ms`; the promise itself runs on, and its late failure is ignored. */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(`${what} took longer than ${ms} ms`)), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

type OutageLog = ReturnType<typeof createOutageLog>;

/** Logs the first failure of an outage and the recovery that ends it; the attempts in between only count. */
function createOutageLog(logger: Logger, what: string) {
  let since: number | undefined;
  let failures = 0;
  return {
    failed(error: unknown) {
      failures++;
      if (since !== undefined) return;
      since = Date.now();
      logger.warn(`${what} failed; retrying in the background`, { error: describeError(error) });
    },
    recovered() {
      if (since === undefined) return;
      logger.info(`${what} works again`, { downForMs: Date.now() - since, failedAttempts: failures });
      since = undefined;
      failures = 0;
    },
  };
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
