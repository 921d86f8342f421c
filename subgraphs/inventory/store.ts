import { sql, type Kysely, type Migration } from 'kysely';
import { clientError, conflict, notFound } from '../../lib/errors';
import type { Database, Dialect } from '../common/database';
import { demoOrders, demoProducts, reservationIdForOrder } from '../common/demo-data';

export interface InventorySchema {
  products: { sku: string; name: string; price_cents: number; weight_grams: number; stock: number; created_at: string };
  /** One row per reserved line; `status` HELD while the stock is taken, RELEASED once given back. */
  reservations: {
    reservation_id: string;
    sku: string;
    quantity: number;
    unit_price_cents: number;
    status: 'HELD' | 'RELEASED';
    created_at: string;
  };
}
export type InventoryDatabase = Database<InventorySchema>;
export type ProductRow = InventorySchema['products'];
export type ReservationRow = InventorySchema['reservations'];

export const inventoryMigrations = (_dialect: Dialect): Record<string, Migration> => ({
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
});

export interface Reservation {
  reservationId: string;
  status: 'HELD' | 'RELEASED' | 'NONE';
  lines: { sku: string; quantity: number; unitPriceCents: number }[];
}

/** A reservation write's outcome, and the products whose stock it changed (none for a repeat). */
export interface ReservationChange {
  reservation: Reservation;
  stockChanged: string[];
}

const toReservation = (reservationId: string, rows: ReservationRow[]): Reservation => ({
  reservationId,
  status: rows[0]?.status ?? 'NONE',
  lines: rows.map((row) => ({ sku: row.sku, quantity: row.quantity, unitPriceCents: row.unit_price_cents })),
});

/** The inventory service's data access. Writes that touch several rows run in one transaction. */
export function createInventoryStore(database: InventoryDatabase) {
  const { db } = database;
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
      return db
        .insertInto('products')
        .values({ ...product, created_at: new Date().toISOString() })
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    /** Adds stock in one atomic statement; undefined when the sku does not exist. */
    async restock(sku: string, quantity: number): Promise<ProductRow | undefined> {
      return db
        .updateTable('products')
        .set({ stock: sql`stock + ${quantity}` })
        .where('sku', '=', sku)
        .returningAll()
        .executeTakeFirst();
    },

    /**
     * Takes stock for every line or for none. Each line is one conditional decrement
     * (`stock = stock - q where stock >= q`), so two concurrent reservations can never both take the last
     * units: the second one's condition fails on the row the first one changed. Idempotent per reservation id:
     * a retry after a lost answer returns the first reservation instead of taking the stock twice.
     */
    async reserve(reservationId: string, items: { sku: string; quantity: number }[]): Promise<ReservationChange> {
      return db.transaction().execute(async (trx) => {
        const existing = await trx.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).execute();
        if (existing.length > 0) {
          // A repeat of a reservation still held is a retry; one already released must never be revived.
          if (existing[0]!.status === 'RELEASED') throw conflict(`Reservation '${reservationId}' was already released`);
          return { reservation: toReservation(reservationId, existing), stockChanged: [] };
        }
        const now = new Date().toISOString();
        const rows: ReservationRow[] = [];
        for (const [index, item] of items.entries()) {
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
          rows.push({
            reservation_id: reservationId,
            sku: item.sku,
            quantity: item.quantity,
            unit_price_cents: taken.price_cents,
            status: 'HELD',
            created_at: now,
          });
        }
        await trx.insertInto('reservations').values(rows).execute();
        return { reservation: toReservation(reservationId, rows), stockChanged: rows.map((row) => row.sku) };
      });
    },

    /** Gives a reservation's stock back once; releasing again (or an unknown id) changes nothing. */
    async release(reservationId: string): Promise<ReservationChange> {
      return db.transaction().execute(async (trx) => {
        const released = await trx
          .updateTable('reservations')
          .set({ status: 'RELEASED' })
          .where('reservation_id', '=', reservationId)
          .where('status', '=', 'HELD')
          .returningAll()
          .execute();
        for (const line of released) {
          await trx
            .updateTable('products')
            .set({ stock: sql`stock + ${line.quantity}` })
            .where('sku', '=', line.sku)
            .execute();
        }
        const rows = await trx.selectFrom('reservations').selectAll().where('reservation_id', '=', reservationId).execute();
        return { reservation: toReservation(reservationId, rows), stockChanged: released.map((line) => line.sku) };
      });
    },
    async ping(): Promise<boolean> {
      await sql`select 1`.execute(db);
      return true;
    },
  };
}
export type InventoryStore = ReturnType<typeof createInventoryStore>;

/** Demo catalogue, and HELD reservations for the demo orders that are placed, so cancelling one returns stock. */
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
    const reservations: ReservationRow[] = demoOrders().flatMap((order) =>
      order.items.map((item) => ({
        reservation_id: reservationIdForOrder(order.id),
        sku: item.sku,
        quantity: item.quantity,
        unit_price_cents: item.unitPriceCents,
        status: order.status === 'PLACED' ? ('HELD' as const) : ('RELEASED' as const),
        created_at: order.createdAt,
      })),
    );
    for (let start = 0; start < reservations.length; start += 500) {
      await trx.insertInto('reservations').values(reservations.slice(start, start + 500)).execute();
    }
  });
  return true;
}
