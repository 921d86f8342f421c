import { sql, type Kysely, type Migration, type Transaction } from 'kysely';
import { clientError, conflict, notFound } from '../../lib/errors';
import type { EntityChange } from '../../lib/events';
import type { Database, Dialect } from '../common/database';
import { demoOrders, demoProducts, reservationIdForOrder } from '../common/demo-data';
import { appendToOutbox, entityChanges, outboxMigration, type OutboxSchema } from '../common/outbox';

/**
 * A reservation's life (one row in `reservations`, its lines in `reservation_lines`):
 *
 *   HELD ──confirm (before its deadline)──▶ CONFIRMED ──release (order cancelled)──▶ RELEASED
 *     ├──release──────────────────────────────────────────────────────────────────▶ RELEASED
 *     └──deadline passed (sweep, or lazily on access)─────────────────────────────▶ EXPIRED
 *   (no row) ──release──▶ RELEASED with no lines: a tombstone, so a reservation arriving late is refused
 *
 * HELD and CONFIRMED hold stock; RELEASED and EXPIRED have given it back (or never took any). Each arrow is one
 * conditional UPDATE on the reservation's row in one transaction with the stock it moves, so it happens once
 * however many callers, retries or replicas race for it.
 */
export type ReservationStatus = 'HELD' | 'CONFIRMED' | 'RELEASED' | 'EXPIRED';

export interface InventorySchema extends OutboxSchema {
  products: { sku: string; name: string; price_cents: number; weight_grams: number; stock: number; created_at: string };
  reservations: {
    reservation_id: string;
    status: ReservationStatus;
    /** When a HELD reservation gives its stock back by itself; null for a tombstone. */
    expires_at: string | null;
    created_at: string;
  };
  reservation_lines: { reservation_id: string; sku: string; quantity: number; unit_price_cents: number };
}
export type InventoryDatabase = Database<InventorySchema>;
export type ProductRow = InventorySchema['products'];
export type ReservationRow = InventorySchema['reservations'];
export type ReservationLineRow = InventorySchema['reservation_lines'];

export const inventoryMigrations = (dialect: Dialect): Record<string, Migration> => ({
  '001_products': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('products')
        .addColumn('sku', 'text', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('price_cents', 'integer', (column) => column.notNull())
        .addColumn('weight_grams', 'integer', (column) => column.notNull())
        .addColumn('stock', 'integer', (column) => column.notNull().check(sql`stock >= 0`))
        .addColumn('created_at', 'text', (column) => column.notNull())
        .execute();
      await db.schema
        .createTable('reservations')
        .addColumn('reservation_id', 'text', (column) => column.notNull())
        .addColumn('sku', 'text', (column) => column.notNull().references('products.sku'))
        .addColumn('quantity', 'integer', (column) => column.notNull())
        .addColumn('unit_price_cents', 'integer', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .addPrimaryKeyConstraint('reservations_pk', ['reservation_id', 'sku'])
        .execute();
    },
  },
  '002_outbox': outboxMigration(dialect),
  /**
   * One row per reservation, with its status and deadline, and the lines apart: a release that arrives first
   * must leave a row (a tombstone) without lines. Reservations HELD before this migration belonged to placed
   * orders (the old protocol had no confirm step), so they become CONFIRMED.
   */
  '003_reservation_deadlines': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('reservations').renameTo('reservation_lines').execute();
      await db.schema
        .createTable('reservations')
        .addColumn('reservation_id', 'text', (column) => column.primaryKey())
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('expires_at', 'text')
        .addColumn('created_at', 'text', (column) => column.notNull())
        .execute();
      await sql`
        insert into reservations (reservation_id, status, expires_at, created_at)
        select reservation_id, case when max(status) = 'HELD' then 'CONFIRMED' else 'RELEASED' end, null, min(created_at)
        from reservation_lines group by reservation_id`.execute(db);
      // Status and creation time now belong to the reservation, not to each of its lines.
      await db.schema.alterTable('reservation_lines').dropColumn('status').execute();
      await db.schema.alterTable('reservation_lines').dropColumn('created_at').execute();
      // The sweep's question, "which holds are past their deadline", reads only this small partial index.
      await db.schema
        .createIndex('reservations_held_deadline')
        .on('reservations')
        .column('expires_at')
        .where(sql.ref('status'), '=', sql.lit('HELD'))
        .execute();
    },
  },
});

export interface Reservation {
  reservationId: string;
  status: ReservationStatus | 'NONE';
  lines: { sku: string; quantity: number; unitPriceCents: number }[];
}

/** A reservation write's outcome, and the products whose stock it changed (none for a repeat). */
export interface ReservationChange {
  reservation: Reservation;
  stockChanged: string[];
}

/** A confirm's outcome: confirmed (now or before), or why not, with the stock a lazy expiry gave back. */
export type ConfirmOutcome =
  | { ok: true; reservation: Reservation }
  | { ok: false; reason: 'EXPIRED' | 'RELEASED' | 'UNKNOWN'; reservation: Reservation; stockChanged: string[] };

/** A product's stock, and so its cached entity, changed. */
export const productChanged = (sku: string): EntityChange => ({ typename: 'Product', key: { sku } });

/** A literal, not a parameter, so that SQLite sees the partial index's condition and uses it. */
const HELD = sql.lit('HELD' as const);

type Trx = Transaction<InventorySchema>;

async function loadReservation(trx: Trx, reservationId: string): Promise<Reservation> {
  const header = await trx.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).executeTakeFirst();
  const lines = await trx.selectFrom('reservation_lines').selectAll().where('reservation_id', '=', reservationId).orderBy('sku').execute();
  return {
    reservationId,
    status: header?.status ?? 'NONE',
    lines: lines.map((line) => ({ sku: line.sku, quantity: line.quantity, unitPriceCents: line.unit_price_cents })),
  };
}

/** Puts the lines of reservations that just stopped holding back into stock, and announces it; returns the skus. */
async function returnStock(trx: Trx, reservationIds: readonly string[]): Promise<string[]> {
  if (reservationIds.length === 0) return [];
  const lines = await trx.selectFrom('reservation_lines').select(['sku', 'quantity']).where('reservation_id', 'in', [...reservationIds]).execute();
  const bySku = new Map<string, number>();
  for (const line of lines) bySku.set(line.sku, (bySku.get(line.sku) ?? 0) + line.quantity);
  // In sku order, so two transactions returning stock to the same products lock them in the same order.
  const skus = [...bySku.keys()].sort();
  for (const sku of skus) {
    await trx
      .updateTable('products')
      .set({ stock: sql`stock + ${bySku.get(sku)!}` })
      .where('sku', '=', sku)
      .execute();
  }
  await appendToOutbox(trx, [entityChanges(skus.map(productChanged))]);
  return skus;
}

/** HELD reservations past their deadline (optionally only those holding one of `skus`), expired in `trx`. */
async function expireDueIn(trx: Trx, now: string, limit: number, skus?: readonly string[]): Promise<{ expired: string[]; stockChanged: string[] }> {
  let due = trx
    .selectFrom('reservations as r')
    .select('r.reservation_id')
    .where('r.status', '=', HELD)
    .where('r.expires_at', '<=', now)
    .orderBy('r.expires_at')
    .limit(limit);
  if (skus) {
    due = due.where(({ exists, selectFrom }) =>
      exists(
        selectFrom('reservation_lines as l')
          .select('l.sku')
          .whereRef('l.reservation_id', '=', 'r.reservation_id')
          .where('l.sku', 'in', [...skus]),
      ),
    );
  }
  const candidates = (await due.execute()).map((row) => row.reservation_id);
  if (candidates.length === 0) return { expired: [], stockChanged: [] };
  // The status condition again: a replica that expired (or a caller that confirmed) one of them first wins it.
  const expired = await trx
    .updateTable('reservations')
    .set({ status: 'EXPIRED' })
    .where('reservation_id', 'in', candidates)
    .where('status', '=', HELD)
    .returning('reservation_id')
    .execute();
  const ids = expired.map((row) => row.reservation_id);
  return { expired: ids, stockChanged: await returnStock(trx, ids) };
}

function outOfStock(error: unknown): boolean {
  return (error as { extensions?: { code?: unknown } } | undefined)?.extensions?.code === 'OUT_OF_STOCK';
}

/** The inventory service's data access. Every write runs in one transaction with its outbox events. */
export function createInventoryStore(database: InventoryDatabase, options: { holdMs: number }) {
  const { db } = database;

  async function reserveOnce(reservationId: string, items: { sku: string; quantity: number }[]): Promise<ReservationChange> {
    return db.transaction().execute(async (trx) => {
      const now = Date.now();
      // The reservation's row first: its primary key is what two racing calls for one id (a retry, a release
      // that overtook this reserve) serialise on, on both engines.
      const created = await trx
        .insertInto('reservations')
        .values({
          reservation_id: reservationId,
          status: 'HELD',
          expires_at: new Date(now + options.holdMs).toISOString(),
          created_at: new Date(now).toISOString(),
        })
        .onConflict((conflicting) => conflicting.column('reservation_id').doNothing())
        .returning('reservation_id')
        .executeTakeFirst();
      if (!created) {
        const existing = await loadReservation(trx, reservationId);
        switch (existing.status) {
          case 'HELD':
          case 'CONFIRMED':
            // A retry after a lost answer: the first reservation stands, nothing is taken twice.
            return { reservation: existing, stockChanged: [] };
          case 'RELEASED':
          case 'EXPIRED':
          case 'NONE':
            // Released (perhaps before it ever arrived: a tombstone) or expired: never revived.
            throw conflict(`Reservation '${reservationId}' was already ${existing.status === 'EXPIRED' ? 'expired' : 'released'}`, {
              reservationStatus: existing.status,
            });
        }
      }
      const lines: ReservationLineRow[] = [];
      for (const [index, item] of items.entries()) {
        // One conditional decrement per line: two concurrent reservations can never both take the last units,
        // the second one's condition fails on the row the first one changed.
        const taken = await trx
          .updateTable('products')
          .set({ stock: sql`stock - ${item.quantity}` })
          .where('sku', '=', item.sku)
          .where('stock', '>=', item.quantity)
          .returning(['price_cents'])
          .executeTakeFirst();
        if (!taken) {
          const product = await trx.selectFrom('products').select(['stock']).where('sku', '=', item.sku).executeTakeFirst();
          if (!product) throw notFound(`No product with sku '${item.sku}'`, { argumentName: `input.items[${index}].sku` });
          throw clientError('OUT_OF_STOCK', `Only ${product.stock} of '${item.sku}' in stock, ${item.quantity} requested`, {
            sku: item.sku,
            available: product.stock,
            argumentName: `input.items[${index}].quantity`,
          });
        }
        lines.push({ reservation_id: reservationId, sku: item.sku, quantity: item.quantity, unit_price_cents: taken.price_cents });
      }
      await trx.insertInto('reservation_lines').values(lines).execute();
      const stockChanged = lines.map((line) => line.sku);
      await appendToOutbox(trx, [entityChanges(stockChanged.map(productChanged))]);
      return {
        reservation: {
          reservationId,
          status: 'HELD',
          lines: lines.map((line) => ({ sku: line.sku, quantity: line.quantity, unitPriceCents: line.unit_price_cents })),
        },
        stockChanged,
      };
    });
  }

  /** Expires due holds in a transaction of their own; see `expireDue`. */
  async function expireDue(limit = 500, skus?: readonly string[]) {
    return db.transaction().execute((trx) => expireDueIn(trx, new Date().toISOString(), limit, skus));
  }

  return {
    async bySkus(skus: readonly string[]): Promise<ProductRow[]> {
      if (skus.length === 0) return [];
      return db.selectFrom('products').selectAll().where('sku', 'in', [...skus]).execute();
    },
    async page(afterSku: string | undefined, limit: number): Promise<ProductRow[]> {
      let query = db.selectFrom('products').selectAll().orderBy('sku').limit(limit);
      if (afterSku !== undefined) query = query.where('sku', '>', afterSku);
      return query.execute();
    },
    async count(): Promise<number> {
      const row = await db.selectFrom('products').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async insert(product: Omit<ProductRow, 'created_at'>): Promise<ProductRow> {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('products')
          .values({ ...product, created_at: new Date().toISOString() })
          .returningAll()
          .executeTakeFirstOrThrow();
        await appendToOutbox(trx, [entityChanges([productChanged(row.sku)])]);
        return row;
      });
    },
    /** Adds stock in one atomic statement; undefined when the sku does not exist. */
    async restock(sku: string, quantity: number): Promise<ProductRow | undefined> {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('products')
          .set({ stock: sql`stock + ${quantity}` })
          .where('sku', '=', sku)
          .returningAll()
          .executeTakeFirst();
        if (row) await appendToOutbox(trx, [entityChanges([productChanged(row.sku)])]);
        return row;
      });
    },

    /**
     * Takes stock for every line or for none, as a HELD reservation that expires after `holdMs` unless
     * confirmed. Idempotent per reservation id: a retry returns the first reservation, and an id that was
     * released (even before it arrived) or expired is refused with CONFLICT and takes nothing. When a line
     * lacks stock, holds on its products that are past their deadline are expired first and the reservation
     * tried once more, so stock never waits for the sweep.
     */
    async reserve(reservationId: string, items: { sku: string; quantity: number }[]): Promise<ReservationChange> {
      try {
        return await reserveOnce(reservationId, items);
      } catch (error) {
        if (!outOfStock(error)) throw error;
        const { expired } = await expireDue(500, items.map((item) => item.sku));
        if (expired.length === 0) throw error;
        return reserveOnce(reservationId, items);
      }
    },

    /**
     * HELD → CONFIRMED, only before the deadline; confirming again answers the same. A hold past its
     * deadline is expired here and then (its stock back on the shelf) the confirm fails, as it does for a
     * released or unknown reservation: the order must not be placed.
     */
    async confirm(reservationId: string): Promise<ConfirmOutcome> {
      return db.transaction().execute(async (trx): Promise<ConfirmOutcome> => {
        const now = new Date().toISOString();
        const confirmed = await trx
          .updateTable('reservations')
          .set({ status: 'CONFIRMED' })
          .where('reservation_id', '=', reservationId)
          .where('status', '=', HELD)
          .where('expires_at', '>', now)
          .returning('reservation_id')
          .executeTakeFirst();
        const reservation = await loadReservation(trx, reservationId);
        if (confirmed || reservation.status === 'CONFIRMED') return { ok: true, reservation };
        switch (reservation.status) {
          case 'HELD': {
            const expired = await trx
              .updateTable('reservations')
              .set({ status: 'EXPIRED' })
              .where('reservation_id', '=', reservationId)
              .where('status', '=', HELD)
              .returning('reservation_id')
              .execute();
            const stockChanged = await returnStock(trx, expired.map((row) => row.reservation_id));
            return { ok: false, reason: 'EXPIRED', reservation: { ...reservation, status: 'EXPIRED' }, stockChanged };
          }
          case 'EXPIRED':
            return { ok: false, reason: 'EXPIRED', reservation, stockChanged: [] };
          case 'RELEASED':
            return { ok: false, reason: 'RELEASED', reservation, stockChanged: [] };
          case 'NONE':
            return { ok: false, reason: 'UNKNOWN', reservation, stockChanged: [] };
        }
      });
    },

    /**
     * Gives a reservation's stock back once (HELD or CONFIRMED → RELEASED); releasing again, or an expired
     * reservation, changes nothing. An id never seen leaves a tombstone: a RELEASED row without lines, which
     * refuses a reservation with that id arriving later.
     */
    async release(reservationId: string): Promise<ReservationChange> {
      return db.transaction().execute(async (trx) => {
        const tombstone = await trx
          .insertInto('reservations')
          .values({ reservation_id: reservationId, status: 'RELEASED', expires_at: null, created_at: new Date().toISOString() })
          .onConflict((conflicting) => conflicting.column('reservation_id').doNothing())
          .returning('reservation_id')
          .executeTakeFirst();
        if (tombstone) return { reservation: { reservationId, status: 'RELEASED', lines: [] }, stockChanged: [] };
        const released = await trx
          .updateTable('reservations')
          .set({ status: 'RELEASED' })
          .where('reservation_id', '=', reservationId)
          .where('status', 'in', ['HELD', 'CONFIRMED'])
          .returning('reservation_id')
          .execute();
        const stockChanged = await returnStock(trx, released.map((row) => row.reservation_id));
        return { reservation: await loadReservation(trx, reservationId), stockChanged };
      });
    },

    /**
     * Returns the stock of HELD reservations whose deadline has passed (at most `limit` per call), whoever
     * forgot them: the periodic sweep's step. Safe to run in every replica at once.
     */
    expireDue,

    /** Units each status holds, per sku (tests and the soak check conservation with it). */
    async heldUnits(): Promise<{ status: ReservationStatus; units: number }[]> {
      const rows = await db
        .selectFrom('reservations as r')
        .innerJoin('reservation_lines as l', 'l.reservation_id', 'r.reservation_id')
        .select(['r.status', sql<number>`sum(l.quantity)`.as('units')])
        .groupBy('r.status')
        .execute();
      return rows.map((row) => ({ status: row.status, units: Number(row.units) }));
    },

    async ping(): Promise<boolean> {
      await sql`select 1`.execute(db);
      return true;
    },
  };
}
export type InventoryStore = ReturnType<typeof createInventoryStore>;

/** Demo catalogue, and CONFIRMED reservations for the demo orders that are placed, so cancelling one returns stock. */
export async function seedInventory(database: InventoryDatabase): Promise<boolean> {
  const existing = await database.db.selectFrom('products').select('sku').limit(1).execute();
  if (existing.length > 0) return false;
  await database.db.transaction().execute(async (trx) => {
    const products = demoProducts().map((product) => ({
      sku: product.sku,
      name: product.name,
      price_cents: product.priceCents,
      weight_grams: product.weightGrams,
      stock: product.stock,
      created_at: product.createdAt,
    }));
    await trx.insertInto('products').values(products).execute();
    const orders = demoOrders();
    const reservations: ReservationRow[] = orders.map((order) => ({
      reservation_id: reservationIdForOrder(order.id),
      status: order.status === 'PLACED' ? 'CONFIRMED' : 'RELEASED',
      expires_at: null,
      created_at: order.createdAt,
    }));
    const lines: ReservationLineRow[] = orders.flatMap((order) =>
      order.items.map((item) => ({
        reservation_id: reservationIdForOrder(order.id),
        sku: item.sku,
        quantity: item.quantity,
        unit_price_cents: item.unitPriceCents,
      })),
    );
    for (let start = 0; start < reservations.length; start += 500) {
      await trx.insertInto('reservations').values(reservations.slice(start, start + 500)).execute();
    }
    for (let start = 0; start < lines.length; start += 500) {
      await trx.insertInto('reservation_lines').values(lines.slice(start, start + 500)).execute();
    }
  });
  return true;
}
