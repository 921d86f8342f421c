import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisTarget } from '../../lib/config';
import { messageOf } from '../../lib/errors';
import { isEntityChange, orderEventsStream, type EntityChange, type OrderEvent } from '../../lib/events';
import type { Logger } from '../../lib/logger';
import {
  createOutageLog,
  createRedisConnection,
  DeadlineExceeded,
  withDeadline,
  type RedisConnection,
} from '../../lib/redis';

/** A committed event as subscriptions see it, read off the broker. */
export type RealtimeEvent =
  | { kind: 'order'; streamId: string; publishedAt: number; order: OrderEvent }
  | { kind: 'entity'; streamId: string; publishedAt: number; change: EntityChange };

export interface RealtimeEventSource {
  /** Calls `handler` for every event committed after `start()` resolved; returns the unsubscribe. */
  onEvent(handler: (event: RealtimeEvent) => void): () => void;
  /** Pins the read position at the streams' current end (waits at most a read deadline when Redis is down). */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface RedisEventSourceOptions {
  redis: RedisTarget | string;
  /** The entity change stream (config.redis.changeStream); the order events stream is named after it. */
  changeStream: string;
  logger: Logger;
  commandTimeoutMs?: number;
  blockMs?: number;
}

const READ_COUNT = 500;
const RECONNECT_CAP_MS = 2_000;
/** Event ids remembered to drop repeats: the outbox delivers at least once. */
const REMEMBERED_EVENT_IDS = 10_000;

/**
 * The events subscriptions are fed from: the entity change stream (Product stock and every other committed
 * change) and the order events stream, both written by the subgraphs' transactional outboxes. Each gateway
 * replica reads both streams itself with its own cursor, starting at their end when it starts (as Cosmo's
 * event-driven subscriptions read their broker), so every replica sees every event whichever subgraph replica
 * committed it, and a subscriber on any replica hears of a write made through any other.
 *
 * One `XREAD BLOCK ... STREAMS <changes> <order-events> <id> <id>` loop over a dedicated connection; on a
 * cluster both keys share the change stream's hash tag, so one node answers. After an error the loop resumes
 * from the last ids it handled, so a short Redis outage delays events but loses none the streams still hold.
 * Repeats (an outbox row relayed twice) are dropped by their `eventId`.
 */
export function createRedisEventSource(options: RedisEventSourceOptions): RealtimeEventSource {
  const { logger, changeStream } = options;
  const orderStream = orderEventsStream(changeStream);
  const blockMs = options.blockMs ?? 1_000;
  const commandTimeoutMs = Math.max(options.commandTimeoutMs ?? 0, 1_000);
  const readTimeoutMs = blockMs + commandTimeoutMs;
  const outage = createOutageLog(logger, {
    down: 'reading subscription events from Redis failed; retrying in the background',
    back: 'reading subscription events from Redis works again',
    withDuration: true,
  });
  const handlers = new Set<(event: RealtimeEvent) => void>();
  const stopping = new AbortController();
  const seen = new Set<string>();
  let connection: RedisConnection | undefined;
  let lastIds: { changes: string; orders: string } | undefined;
  let loop: Promise<void> | undefined;

  const firstTime = (eventId: string | undefined): boolean => {
    if (eventId === undefined) return true;
    if (seen.has(eventId)) return false;
    seen.add(eventId);
    if (seen.size > REMEMBERED_EVENT_IDS) seen.delete(seen.values().next().value!);
    return true;
  };

  const emit = (event: RealtimeEvent) => {
    for (const handler of [...handlers]) {
      try {
        handler(event);
      } catch (error) {
        logger.error('a subscription event handler failed', { id: event.streamId, error: messageOf(error) });
      }
    }
  };

  const handleEntry = (stream: string, id: string, message: Record<string, string>) => {
    if (!firstTime(message.eventId)) return;
    const publishedAt = Number(id.split('-')[0]);
    try {
      if (stream === orderStream) {
        const order = JSON.parse(message.event ?? '') as OrderEvent;
        if (typeof order?.orderId !== 'string' && typeof order?.orderId !== 'number') throw new Error('no orderId');
        emit({
          kind: 'order',
          streamId: id,
          publishedAt,
          order: { ...order, orderId: String(order.orderId), userId: String(order.userId) },
        });
        return;
      }
      const changes: unknown = JSON.parse(message.changes ?? '');
      if (!Array.isArray(changes)) throw new Error('changes is not a list');
      for (const change of changes)
        if (isEntityChange(change)) emit({ kind: 'entity', streamId: id, publishedAt, change });
    } catch (error) {
      logger.warn('skipped a malformed event entry', { stream, id, error: messageOf(error) });
    }
  };

  async function run(positioned: () => void): Promise<void> {
    let failures = 0;
    while (!stopping.signal.aborted) {
      try {
        connection ??= createRedisConnection(options.redis, {
          name: `${changeStream}:subscriptions`,
          connectTimeoutMs: readTimeoutMs,
          commandTimeoutMs: readTimeoutMs,
          reconnectDelayMs: (retries) =>
            Math.min(50 * 2 ** retries, RECONNECT_CAP_MS) + Math.floor(Math.random() * 100),
          onError: (error) => {
            if (!stopping.signal.aborted) outage.failed(error);
          },
        });
        const { client } = connection;
        await withDeadline(connection.firstAttempt, readTimeoutMs, `connecting took longer than ${readTimeoutMs} ms`);
        if (!lastIds) {
          const newest = async (key: string) => {
            const [entry] = await withDeadline(
              client.xRevRange(key, '+', '-', { COUNT: 1 }),
              commandTimeoutMs,
              'XREVRANGE timed out',
            );
            return entry ? String(entry.id) : '0-0';
          };
          lastIds = { changes: await newest(changeStream), orders: await newest(orderStream) };
          positioned();
        }
        const reply = (await withDeadline(
          client.xRead(
            [
              { key: changeStream, id: lastIds.changes },
              { key: orderStream, id: lastIds.orders },
            ],
            { BLOCK: blockMs, COUNT: READ_COUNT },
          ),
          readTimeoutMs,
          `XREAD took longer than ${readTimeoutMs} ms`,
        )) as { name: unknown; messages: { id: unknown; message: Record<string, string> }[] }[] | null;
        failures = 0;
        outage.recovered();
        for (const stream of reply ?? []) {
          const name = String(stream.name);
          for (const entry of stream.messages) {
            const id = String(entry.id);
            if (name === orderStream) lastIds.orders = id;
            else lastIds.changes = id;
            handleEntry(name, id, entry.message);
          }
        }
      } catch (error) {
        if (stopping.signal.aborted) break;
        outage.failed(error);
        if (error instanceof DeadlineExceeded) {
          connection?.destroy();
          connection = undefined;
        }
        await sleep(Math.min(50 * 2 ** failures++, RECONNECT_CAP_MS), undefined, { signal: stopping.signal }).catch(
          () => undefined,
        );
      }
    }
  }

  return {
    onEvent(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    async start() {
      if (loop) return;
      let markPositioned!: () => void;
      const positioned = new Promise<void>((resolve) => (markPositioned = resolve));
      loop = run(markPositioned);
      await withDeadline(positioned, readTimeoutMs, 'positioning on the event streams timed out').catch(
        () => undefined,
      );
    },
    async close() {
      if (stopping.signal.aborted) return;
      stopping.abort();
      handlers.clear();
      connection?.destroy();
      connection = undefined;
      await loop;
    },
  };
}
