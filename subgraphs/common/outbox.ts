import { sql, type Kysely, type Migration } from 'kysely';
import { messageOf } from '../../lib/errors';
import type { BrokerMessage, EntityChange, EventBroker, OrderEvent, OutboundEvent } from '../../lib/events';
import type { Logger } from '../../lib/logger';
import { addIdColumn, uncounted, type Database, type Dialect } from './database';

/**
 * The transactional outbox. A write and the events that announce it (the entities it changed, an order's
 * lifecycle event) commit together: the store inserts the events into `outbox` inside the write's own
 * transaction. A relay in every subgraph process then hands unpublished rows to the broker (the Redis streams,
 * or an in-process bus without Redis) and marks them published. A process that dies between its commit and the
 * publish loses nothing: the rows are still unpublished, and the next relay pass (in this process after a
 * restart, or in another replica) sends them. Delivery is therefore at least once; every message carries its
 * row's id so a consumer can tell a repeat, and the gateway's eviction is idempotent anyway.
 */
export interface OutboxSchema {
  outbox: {
    id: number;
    topic: OutboundEvent['topic'];
    /** The event as JSON: the list of changes, or the order event. */
    payload: string;
    created_at: string;
    /** Null until the broker took the row. */
    published_at: string | null;
  };
}
type OutboxRow = OutboxSchema['outbox'];

/** The same table in every subgraph; each service adds it as one of its own migrations. */
export function outboxMigration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await addIdColumn(db.schema.createTable('outbox'), dialect)
        .addColumn('topic', 'text', (column) => column.notNull())
        .addColumn('payload', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addColumn('published_at', 'text')
        .execute();
      // Only the unpublished rows are ever searched for, and there are few of them: a partial index stays tiny.
      await db.schema
        .createIndex('outbox_unpublished')
        .on('outbox')
        .column('id')
        .where(sql.ref('published_at'), 'is', null)
        .execute();
    },
  };
}

/**
 * Adds events to the outbox of the transaction `trx` (the write's own transaction, on a schema that includes
 * `OutboxSchema`); empty change lists add nothing. Typed loosely because Kysely's types do not let a
 * `Transaction<OrdersSchema>` stand in for a `Kysely<OutboxSchema>`, though every table of one is in the other.
 */
export async function appendToOutbox(trx: { insertInto: unknown }, events: readonly OutboundEvent[]): Promise<void> {
  const now = new Date().toISOString();
  const rows = events
    .filter((event) => event.topic !== 'entity-changes' || event.changes.length > 0)
    .map((event) => ({
      topic: event.topic,
      payload: JSON.stringify(event.topic === 'entity-changes' ? event.changes : event.event),
      created_at: now,
      published_at: null,
    }));
  if (rows.length === 0) return;
  await (trx as unknown as Kysely<OutboxSchema>)
    .insertInto('outbox')
    .values(rows as OutboxRow[])
    .execute();
}

export const entityChanges = (changes: EntityChange[]): OutboundEvent => ({ topic: 'entity-changes', changes });
export const orderEvent = (event: OrderEvent): OutboundEvent => ({ topic: 'order-events', event });

export interface OutboxRelayStats {
  /** Rows the broker took. */
  published: number;
  /** Rows handed to the broker that it did not take (each attempt counts). */
  failed: number;
}

export interface OutboxRelay {
  /** Runs a pass that starts after this call; resolves when it has finished, or after `waitMs` at most. */
  flush(waitMs?: number): Promise<void>;
  /** Asks for a pass soon, without waiting for it. */
  nudge(): void;
  stats(): OutboxRelayStats;
  /** Stops the timer, lets a pass in progress finish, and makes one last attempt at what is pending. */
  stop(): Promise<void>;
}

const BATCH_SIZE = 200;
const MAX_BACKOFF_MS = 5_000;
/** Published rows are kept this long (for whoever investigates an incident), then deleted. */
const RETENTION_MS = 3_600_000;
const PRUNE_EVERY_MS = 60_000;

/**
 * Publishes the outbox every `intervalMs`, and at once when nudged (after each committed write), so the common
 * case costs one relay pass on the write's response path and the timer only matters after a failure.
 *
 * Who publishes a row: on PostgreSQL, several replicas of one subgraph share the table, so a pass claims its
 * rows with `SELECT ... FOR UPDATE SKIP LOCKED` inside a transaction that lasts until the rows are marked: two
 * replicas never hold the same row, and a replica that dies mid-pass releases its rows to the next. On SQLite
 * the file has one writer process, and passes within a process never overlap, so no claim is needed. Either
 * way a row is sent again only when the broker took it but its answer (or the marking) was lost.
 *
 * After a failed pass the timer backs off (doubling up to 5 s); nudges still try at once, which costs nothing
 * while Redis refuses connections (the broker fails fast).
 */
export function createOutboxRelay<Schema extends OutboxSchema>(options: {
  database: Database<Schema>;
  broker: EventBroker;
  /** Names the service in each message's id. */
  service: string;
  intervalMs: number;
  logger: Logger;
}): OutboxRelay {
  const { broker, service, intervalMs, logger } = options;
  const db = options.database.db as unknown as Kysely<OutboxSchema>;
  const dialect = options.database.dialect;
  const stats: OutboxRelayStats = { published: 0, failed: 0 };
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let stopping = false;
  let stopped = false;
  let failures = 0;
  let lastPrune = 0;
  let timer: NodeJS.Timeout | undefined;
  let databaseDown = false;

  const toMessage = (row: Pick<OutboxRow, 'id' | 'topic' | 'payload'>): BrokerMessage | undefined => {
    try {
      const payload: unknown = JSON.parse(row.payload);
      const event =
        row.topic === 'entity-changes'
          ? { topic: row.topic, changes: payload as EntityChange[] }
          : { topic: row.topic, event: payload as OrderEvent };
      return { id: `${service}:${row.id}`, event };
    } catch {
      logger.error('skipped an outbox row that is not JSON', { id: row.id });
      return undefined;
    }
  };

  /** Sends rows and marks them; false when the broker did not take them. */
  async function sendAndMark(
    trx: Kysely<OutboxSchema>,
    rows: Pick<OutboxRow, 'id' | 'topic' | 'payload'>[],
  ): Promise<boolean> {
    const messages = rows.map(toMessage).filter((message) => message !== undefined);
    if (messages.length > 0 && !(await broker.send(messages))) {
      stats.failed += messages.length;
      return false;
    }
    stats.published += messages.length;
    const ids = rows.map((row) => Number(row.id));
    await trx.updateTable('outbox').set({ published_at: new Date().toISOString() }).where('id', 'in', ids).execute();
    return true;
  }

  /** One batch; how many rows it published, or -1 when the broker refused them. */
  async function relayBatch(): Promise<number> {
    if (dialect === 'postgres') {
      return db.transaction().execute(async (trx) => {
        const rows = await trx
          .selectFrom('outbox')
          .select(['id', 'topic', 'payload'])
          .where('published_at', 'is', null)
          .orderBy('id')
          .limit(BATCH_SIZE)
          .forUpdate()
          .skipLocked()
          .execute();
        if (rows.length === 0) return 0;
        return (await sendAndMark(trx, rows)) ? rows.length : -1;
      });
    }
    const rows = await db
      .selectFrom('outbox')
      .select(['id', 'topic', 'payload'])
      .where('published_at', 'is', null)
      .orderBy('id')
      .limit(BATCH_SIZE)
      .execute();
    if (rows.length === 0) return 0;
    return (await sendAndMark(db, rows)) ? rows.length : -1;
  }

  async function pass(): Promise<void> {
    try {
      for (;;) {
        const sent = await relayBatch();
        if (sent < 0) {
          failures++;
          return;
        }
        failures = 0;
        if (sent < BATCH_SIZE) break;
      }
      if (databaseDown) logger.info('the outbox relay reads its database again');
      databaseDown = false;
      if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = Date.now();
        const before = new Date(Date.now() - RETENTION_MS).toISOString();
        await db.deleteFrom('outbox').where('published_at', '<', before).execute();
      }
    } catch (error) {
      failures++;
      if (!databaseDown) logger.warn('an outbox relay pass failed; retrying', { error: messageOf(error) });
      databaseDown = true;
    }
  }

  function runPass(): Promise<void> {
    if (!running) {
      // Not counted as any request's statements, whichever request's flush started it.
      running = uncounted(pass).finally(() => (running = undefined));
      return running;
    }
    // Rows committed after the running pass read the table are not in it: chain one more pass, shared by all.
    queued ??= running.then(() => {
      queued = undefined;
      return runPass();
    });
    return queued;
  }

  function schedule(): void {
    if (stopping) return;
    const delay = failures === 0 ? intervalMs : Math.min(intervalMs * 2 ** failures, MAX_BACKOFF_MS);
    timer = setTimeout(() => void runPass().finally(schedule), delay);
    timer.unref();
  }
  schedule();

  return {
    flush(waitMs) {
      if (stopped) return Promise.resolve();
      const done = runPass();
      if (waitMs === undefined) return done;
      let expiry: NodeJS.Timeout | undefined;
      const expired = new Promise<void>((resolve) => (expiry = setTimeout(resolve, waitMs)));
      return Promise.race([done, expired]).finally(() => clearTimeout(expiry));
    },
    nudge() {
      if (!stopped) void runPass();
    },
    stats: () => ({ ...stats }),
    async stop() {
      if (stopping) return;
      stopping = true;
      clearTimeout(timer);
      await runPass();
      stopped = true;
    },
  };
}
