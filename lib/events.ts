import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisTarget } from './config';
import { silentLogger, type Logger } from './logger';
import { createOutageLog, createRedisConnection, DeadlineExceeded, withDeadline, type OutageLog, type OutageMessages, type RedisConnection } from './redis';

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

/** Batches a publisher handed on, and batches it lost (Redis down or too slow). */
export interface ChangePublisherStats {
  published: number;
  failed: number;
}

/** True for a well-formed change; anything read off the wire or another service's response is checked with it. */
export function isEntityChange(value: unknown): value is EntityChange {
  if (typeof value !== 'object' || value === null) return false;
  const { typename, key } = value as Record<string, unknown>;
  if (typeof typename !== 'string' || typename === '' || typeof key !== 'object' || key === null || Array.isArray(key)) return false;
  return Object.values(key).every((field) => typeof field === 'string' || typeof field === 'number');
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
  /** One server (its URL) or a cluster. */
  redis: RedisTarget | string;
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
 * The publishing half alone: one `XADD <key> MAXLEN ~ 10000 * changes <json>` per batch, over a stream writer
 * (below: one connection, a deadline per write). It must never fail its caller: errors are logged and counted,
 * never thrown. Subgraphs publish through their outbox relay and `createRedisEventBroker` instead.
 */
export function createRedisChangePublisher(options: RedisChangeBusOptions): ChangePublisher & { stats(): ChangePublisherStats } {
  const { streamKey, logger } = options;
  const writer = createRedisStreamWriter(options, `${streamKey}:publisher`, 'publishing entity changes to Redis');
  const stats: ChangePublisherStats = { published: 0, failed: 0 };
  return {
    async publish(changes) {
      if (changes.length === 0) return;
      try {
        await writer.append([{ stream: streamKey, fields: { changes: JSON.stringify(changes) } }]);
        stats.published++;
      } catch (error) {
        stats.failed++;
        logger.debug('an entity change batch was not published', { changes: changes.length, error: describeError(error) });
      }
    },
    close: () => writer.close(),
    stats: () => ({ ...stats }),
  };
}

/**
 * Appends entries to Redis streams over one connection, opened at once and kept open by node-redis's reconnect
 * strategy; `append` rejects when Redis did not take the entries (the callers decide what a failure costs).
 *
 * A write runs on a mutation's response path, so it must not hold it up: each has a deadline.
 * `disableOfflineQueue` makes a write while disconnected fail at once instead of queueing behind a reconnect.
 * The deadline is ours, not node-redis's `timeout` command option: that option only covers a command still
 * waiting to be written, and once on the wire a command waits for its reply for as long as the socket stays
 * open, so a Redis that accepts connections but stops answering would hang every mutation. A write past its
 * deadline also replaces the connection: Redis answers in order, so every later command would queue behind the
 * unanswered one, whereas a fresh connection is either ready or (offline queue disabled) fails at once. Several
 * entries go in one MULTI, so Redis takes all of them or none.
 */
function createRedisStreamWriter(options: RedisChangeBusOptions, connectionName: string, what: string) {
  const { logger } = options;
  const publishTimeoutMs = options.publishTimeoutMs ?? Math.max(options.commandTimeoutMs ?? 0, DEFAULT_PUBLISH_TIMEOUT_MS);
  const trim = { TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: options.maxLength ?? DEFAULT_MAX_LENGTH } } as const;
  const outage = createOutageLog(logger, outageMessages(what));
  let closed = false;
  const open = () => {
    const opened = openStreamConnection(options.redis, publishTimeoutMs, connectionName, outage, () => closed);
    if (opened.kind === 'single') opened.client.on('ready', () => outage.recovered());
    return opened;
  };
  let connection = open();
  // Only right after start-up does a write wait for the connection to open; later ones fail fast instead.
  const startup = connection.firstAttempt;
  const inFlight = new Set<Promise<void>>();

  async function write(entries: readonly StreamEntry[]): Promise<void> {
    const used = connection;
    try {
      await withDeadline(
        (async () => {
          await startup;
          if (entries.length === 1) {
            await used.client.xAdd(entries[0]!.stream, '*', entries[0]!.fields, trim);
          } else if (used.kind === 'cluster') {
            await used.client.eval(APPEND_ALL_SCRIPT, appendAllArguments(entries, trim.TRIM.threshold));
          } else {
            const multi = used.client.multi();
            for (const entry of entries) multi.xAdd(entry.stream, '*', entry.fields, trim);
            await multi.exec();
          }
        })(),
        publishTimeoutMs,
        `XADD took longer than ${publishTimeoutMs} ms`,
      );
      outage.recovered();
    } catch (error) {
      outage.failed(error);
      if (error instanceof DeadlineExceeded && used === connection && !closed) {
        used.destroy();
        connection = open();
      }
      throw error;
    }
  }

  return {
    append(entries: readonly StreamEntry[]): Promise<void> {
      if (entries.length === 0) return Promise.resolve();
      if (closed) return Promise.reject(new Error('this stream writer is closed'));
      const writing = write(entries);
      const settled = writing.catch(() => undefined);
      inFlight.add(settled);
      void settled.finally(() => inFlight.delete(settled));
      return writing;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      // Every write settles within its deadline; what is still queued after that is stuck on a dead server.
      await Promise.allSettled([...inFlight]);
      connection.destroy();
    },
  };
}

interface StreamEntry {
  stream: string;
  fields: Record<string, string>;
}

/**
 * Several entries at once on a cluster. node-redis sends a MULTI to the node of its first key and, unlike a
 * single command, does not follow it when that slot has moved (after a failover every later MULTI would fail),
 * so the entries go in one script instead: as atomic, and redirected like any command. Its streams must share
 * a slot, which the change stream's hash tag guarantees (`changeStreamKey`).
 * ARGV: the MAXLEN threshold, then per stream in KEYS: the number of field/value strings, then those strings.
 */
const APPEND_ALL_SCRIPT = `
local at = 2
for i = 1, #KEYS do
  local count = tonumber(ARGV[at])
  local fields = {}
  for j = 1, count do fields[j] = ARGV[at + j] end
  at = at + count + 1
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
end
return #KEYS
`;

function appendAllArguments(entries: readonly StreamEntry[], threshold: number): { keys: string[]; arguments: string[] } {
  const args = [String(threshold)];
  for (const { fields } of entries) {
    const pairs = Object.entries(fields).flat();
    args.push(String(pairs.length), ...pairs);
  }
  return { keys: entries.map((entry) => entry.stream), arguments: args };
}

/** Something that happened to an order, announced (through the orders outbox) once its transaction committed. */
export interface OrderEvent {
  type: 'OrderPlaced' | 'OrderCancelled';
  orderId: string;
  userId: string;
  totalCents: number;
  items: { sku: string; quantity: number }[];
  /** When the order's transaction committed (ISO 8601). */
  at: string;
}

/** What a subgraph's outbox carries to the broker: the entities a write changed, or an order's lifecycle event. */
export type OutboundEvent = { topic: 'entity-changes'; changes: EntityChange[] } | { topic: 'order-events'; event: OrderEvent };

/**
 * An outbound event with its id (`<service>:<outbox row id>`), the same on every delivery of it: delivery is
 * at least once, so a consumer that must not act twice remembers the ids it handled.
 */
export interface BrokerMessage {
  id: string;
  event: OutboundEvent;
}

/** Where the outbox relays hand committed events. */
export interface EventBroker {
  /**
   * Hands over messages in order. Resolves true once the broker holds all of them, false when it took none it
   * could vouch for (down, too slow): the relay keeps them and tries again. Never rejects.
   */
  send(messages: readonly BrokerMessage[]): Promise<boolean>;
  close(): Promise<void>;
}

/** The Redis stream that carries order lifecycle events, next to the entity change stream it is named after. */
export const orderEventsStream = (changeStream: string) => `${changeStream}:order-events`;

/**
 * Events over Redis streams: entity changes on the change stream every gateway reads (one entry per write, its
 * changes in the `changes` field as the gateway expects), order events on `orderEventsStream(...)` (the event in
 * the `event` field). Every entry also carries `eventId`, for consumers that deduplicate.
 */
export function createRedisEventBroker(options: RedisChangeBusOptions): EventBroker {
  const { streamKey, logger } = options;
  const writer = createRedisStreamWriter(options, `${streamKey}:outbox`, 'relaying outbox events to Redis');
  const toEntry = ({ id, event }: BrokerMessage): StreamEntry =>
    event.topic === 'entity-changes'
      ? { stream: streamKey, fields: { changes: JSON.stringify(event.changes), eventId: id } }
      : { stream: orderEventsStream(streamKey), fields: { event: JSON.stringify(event.event), eventId: id } };
  return {
    async send(messages) {
      try {
        await writer.append(messages.map(toEntry));
        return true;
      } catch (error) {
        logger.debug('outbox events were not relayed', { events: messages.length, error: describeError(error) });
        return false;
      }
    },
    close: () => writer.close(),
  };
}

/**
 * The broker when there is no Redis: an in-process bus. Subscribers (tests, a single-process deployment) are
 * called synchronously, before `send` resolves; the gateway that sent a write still evicts from the response.
 */
export function createLocalEventBroker(logger: Logger = silentLogger): EventBroker & {
  subscribe(handler: (message: BrokerMessage) => void): () => void;
} {
  const handlers = new Set<(message: BrokerMessage) => void>();
  return {
    async send(messages) {
      for (const message of messages) {
        for (const handler of [...handlers]) {
          try {
            handler(message);
          } catch (error) {
            logger.error('an outbox event handler failed', { id: message.id, error: describeError(error) });
          }
        }
      }
      return true;
    },
    subscribe(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    close: async () => handlers.clear(),
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
  const outage = createOutageLog(logger, outageMessages('reading entity changes from Redis'));
  const handlers = new Set<(changes: EntityChange[]) => void>();
  const stopping = new AbortController();
  let connection: StreamConnection | undefined;
  let lastId: string | undefined;
  let loop: Promise<void> | undefined;

  function discardConnection(): void {
    connection?.destroy();
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
        connection ??= openStreamConnection(options.redis, readTimeoutMs, `${streamKey}:subscriber`, outage, () => stopping.signal.aborted);
        const { client } = connection;
        await withDeadline(connection.firstAttempt, readTimeoutMs, `connecting took longer than ${readTimeoutMs} ms`);
        if (lastId === undefined) {
          const [newest] = await withDeadline(client.xRevRange(streamKey, '+', '-', { COUNT: 1 }), commandTimeoutMs, `XREVRANGE took longer than ${commandTimeoutMs} ms`);
          lastId = newest ? String(newest.id) : '0-0';
          positioned();
        }
        const reply = (await withDeadline(
          client.xRead({ key: streamKey, id: lastId }, { BLOCK: blockMs, COUNT: READ_COUNT }),
          readTimeoutMs,
          `XREAD took longer than ${readTimeoutMs} ms`,
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
      await withDeadline(positioned, readTimeoutMs, `positioning on the stream took longer than ${readTimeoutMs} ms`).catch(() => undefined);
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

type StreamConnection = RedisConnection;
type StreamsReply = { name: unknown; messages: { id: unknown; message: Record<string, string> }[] }[] | null;

/** Opens a connection in the background; its connection errors (one per reconnect attempt) only feed the outage log. */
function openStreamConnection(
  redis: RedisTarget | string,
  timeoutMs: number,
  name: string,
  outage: OutageLog,
  closing: () => boolean,
): StreamConnection {
  return createRedisConnection(redis, {
    name,
    connectTimeoutMs: Math.max(timeoutMs, 1_000),
    commandTimeoutMs: timeoutMs,
    // Exponential from 50 ms, capped, with jitter so replicas do not reconnect in lockstep after a restart.
    reconnectDelayMs: (retries: number) => Math.min(50 * 2 ** retries, RECONNECT_CAP_MS) + Math.floor(Math.random() * 100),
    onError: (error) => {
      if (!closing()) outage.failed(error);
    },
  });
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

function outageMessages(what: string): OutageMessages {
  return {
    down: `${what} failed; retrying in the background`,
    back: `${what} works again`,
    describe: describeError,
    withDuration: true,
  };
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
