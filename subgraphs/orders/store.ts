import { sql, type ExpressionBuilder, type Kysely, type Migration } from 'kysely';
import type { EntityChange, OrderEvent } from '../../lib/events';
import { addIdColumn, syncIdSequence, type Database, type Dialect } from '../common/database';
import { demoOrders } from '../common/demo-data';
import { appendToOutbox, entityChanges, orderEvent, outboxMigration, type OutboxSchema } from '../common/outbox';

/**
 * An order's life:
 *
 *   PENDING ──stock reserved and confirmed──▶ PLACED ──cancelOrder──▶ CANCELLED (release owed)
 *      └──reservation refused, failed or unknown, or abandoned by recovery──▶ FAILED (release owed unless refused)
 *
 * PENDING and FAILED orders are invisible to clients. `release_pending` marks an order whose stock inventory has
 * not yet confirmed returned. `claimed_until` is a lease: whoever set it (the request placing or cancelling the
 * order, or one recovery pass) is working on the order until then, and the recovery loop leaves it alone. A
 * PENDING order whose lease ran out belongs to a request that died; recovery turns it FAILED, and since every
 * step of the request ends in a write conditional on PENDING, the request and recovery can never both win.
 */
export type OrderStatus = 'PENDING' | 'PLACED' | 'CANCELLED' | 'FAILED';

export interface OrdersSchema extends OutboxSchema {
  orders: {
    id: number;
    user_id: string;
    status: OrderStatus;
    total_cents: number;
    release_pending: number;
    created_at: string;
    claimed_until: string | null;
  };
  order_items: { order_id: number; line: number; sku: string; quantity: number; unit_price_cents: number };
}
export type OrdersDatabase = Database<OrdersSchema>;
export type OrderRow = OrdersSchema['orders'];
export type OrderItemRow = OrdersSchema['order_items'];
export type OrderPageRow = OrderRow & { total_count: number };

function lifecycleEvent(type: OrderEvent['type'], order: OrderRow, items: { sku: string; quantity: number }[]): OrderEvent {
  return {
    type,
    orderId: String(order.id),
    userId: order.user_id,
    totalCents: order.total_cents,
    items: items.map((item) => ({ sku: item.sku, quantity: item.quantity })),
    at: new Date().toISOString(),
  };
}

export const ordersMigrations = (dialect: Dialect): Record<string, Migration> => ({
  '001_orders': {
    async up(db: Kysely<unknown>) {
      await addIdColumn(db.schema.createTable('orders'), dialect)
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) => column.notNull())
        .addColumn('total_cents', 'integer', (column) => column.notNull())
        .addColumn('release_pending', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (column) => column.notNull())
        .execute();
      await db.schema.createIndex('orders_user_id').on('orders').columns(['user_id', 'id']).execute();
      await db.schema
        .createTable('order_items')
        .addColumn('order_id', 'bigint', (column) => column.notNull().references('orders.id').onDelete('cascade'))
        .addColumn('line', 'integer', (column) => column.notNull())
        .addColumn('sku', 'text', (column) => column.notNull())
        .addColumn('quantity', 'integer', (column) => column.notNull())
        .addColumn('unit_price_cents', 'integer', (column) => column.notNull())
        .addPrimaryKeyConstraint('order_items_pk', ['order_id', 'line'])
        .execute();
    },
  },
  '002_outbox': outboxMigration(dialect),
  '003_order_claims': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('orders').addColumn('claimed_until', 'text').execute();
      // The recovery loop's two questions, each over a partial index holding only the unfinished orders.
      await db.schema
        .createIndex('orders_pending')
        .on('orders')
        .column('claimed_until')
        .where(sql.ref('status'), '=', sql.lit('PENDING'))
        .execute();
      await db.schema
        .createIndex('orders_release_owed')
        .on('orders')
        .column('claimed_until')
        .where(sql.ref('release_pending'), '=', sql.lit(1))
        .execute();
    },
  },
});

/** An order that clients can see changed: the order itself, and its owner's `orders` connection. */
export const orderChanged = (order: Pick<OrderRow, 'id' | 'user_id'>): EntityChange[] => [
  { typename: 'Order', key: { id: String(order.id) } },
  { typename: 'User', key: { id: order.user_id } },
];

/** Literals, not parameters, so that SQLite sees the partial indexes' conditions and uses them. */
const PENDING = sql.lit('PENDING' as const);
const OWED = sql.lit(1);

const VISIBLE = ['PLACED', 'CANCELLED'] as const;

/** PostgreSQL returns bigint columns as strings; ids are numbers everywhere else. */
const normalise = <T extends { id: number | string }>(row: T): T => ({ ...row, id: Number(row.id) });

export function createOrdersStore(database: OrdersDatabase) {
  const { db } = database;
  return {
    async byIds(ids: readonly number[]): Promise<OrderRow[]> {
      if (ids.length === 0) return [];
      const rows = await db.selectFrom('orders').selectAll().where('id', 'in', [...ids]).where('status', 'in', VISIBLE).execute();
      return rows.map(normalise);
    },
    async itemsByOrderIds(ids: readonly number[]): Promise<OrderItemRow[]> {
      if (ids.length === 0) return [];
      const rows = await db.selectFrom('order_items').selectAll().where('order_id', 'in', [...ids]).orderBy('order_id').orderBy('line').execute();
      return rows.map((row) => ({ ...row, order_id: Number(row.order_id) }));
    },

    /**
     * One page of orders, newest first, for each of many users, in ONE statement: window functions number each
     * user's orders and count them, so a list of N users costs one query, not N.
     */
    async pagesByUserIds(userIds: readonly string[], beforeId: number | undefined, limit: number): Promise<OrderPageRow[]> {
      if (userIds.length === 0) return [];
      const before = beforeId === undefined ? sql`` : sql`where counted.id < ${beforeId}`;
      const result = await sql<OrderPageRow & { rn: number }>`
        select * from (
          select counted.*, row_number() over (partition by counted.user_id order by counted.id desc) as rn
          from (
            select o.*, count(*) over (partition by o.user_id) as total_count
            from orders o
            where o.user_id in (${sql.join([...userIds])}) and o.status in ('PLACED', 'CANCELLED')
          ) counted
          ${before}
        ) numbered
        where numbered.rn <= ${limit}
        order by numbered.user_id, numbered.id desc`.execute(db);
      return result.rows.map((row) => ({ ...normalise(row), total_count: Number(row.total_count) }));
    },

    /** A new PENDING order, leased to the request creating it until `claimUntil`. */
    async createPending(userId: string, claimUntil: Date): Promise<number> {
      const row = await db
        .insertInto('orders')
        .values({
          user_id: userId,
          status: 'PENDING',
          total_cents: 0,
          release_pending: 0,
          created_at: new Date().toISOString(),
          claimed_until: claimUntil.toISOString(),
        } as OrderRow)
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(row.id);
    },

    /** Extends the lease of a PENDING order; false when it is no longer PENDING (recovery abandoned it). */
    async extendClaim(orderId: number, claimUntil: Date): Promise<boolean> {
      const row = await db
        .updateTable('orders')
        .set({ claimed_until: claimUntil.toISOString() })
        .where('id', '=', orderId)
        .where('status', '=', PENDING)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * PENDING → PLACED with its lines, its changes and its `OrderPlaced` event, in one transaction; undefined
     * (and nothing written) when the order is no longer PENDING.
     */
    async place(orderId: number, items: Omit<OrderItemRow, 'order_id' | 'line'>[]): Promise<OrderRow | undefined> {
      return db.transaction().execute(async (trx) => {
        const total = items.reduce((sum, item) => sum + item.quantity * item.unit_price_cents, 0);
        const placed = await trx
          .updateTable('orders')
          .set({ status: 'PLACED', total_cents: total, claimed_until: null })
          .where('id', '=', orderId)
          .where('status', '=', PENDING)
          .returningAll()
          .executeTakeFirst();
        if (!placed) return undefined;
        await trx
          .insertInto('order_items')
          .values(items.map((item, line) => ({ ...item, order_id: orderId, line })))
          .execute();
        const order = normalise(placed);
        await appendToOutbox(trx, [entityChanges(orderChanged(order)), orderEvent(lifecycleEvent('OrderPlaced', order, items))]);
        return order;
      });
    },

    /**
     * PENDING → FAILED; with `releaseOwed` the stock is owed back and the caller holds the lease until
     * `claimUntil`. False when the order was no longer PENDING. A FAILED order was never visible: no change.
     */
    async markFailed(orderId: number, options: { releaseOwed: boolean; claimUntil?: Date }): Promise<boolean> {
      const row = await db
        .updateTable('orders')
        .set({
          status: 'FAILED',
          release_pending: options.releaseOwed ? 1 : 0,
          claimed_until: options.claimUntil?.toISOString() ?? null,
        })
        .where('id', '=', orderId)
        .where('status', '=', PENDING)
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * PLACED → CANCELLED, owing its stock back and leased to the caller until `claimUntil`, with its changes
     * and its `OrderCancelled` event, in one transaction; undefined when the order was not PLACED.
     */
    async markCancelled(orderId: number, claimUntil: Date): Promise<OrderRow | undefined> {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('orders')
          .set({ status: 'CANCELLED', release_pending: 1, claimed_until: claimUntil.toISOString() })
          .where('id', '=', orderId)
          .where('status', '=', 'PLACED')
          .returningAll()
          .executeTakeFirst();
        if (!row) return undefined;
        const order = normalise(row);
        const items = await trx.selectFrom('order_items').select(['sku', 'quantity']).where('order_id', '=', orderId).orderBy('line').execute();
        await appendToOutbox(trx, [entityChanges(orderChanged(order)), orderEvent(lifecycleEvent('OrderCancelled', order, items))]);
        return order;
      });
    },

    /** Inventory confirmed the stock returned: nothing is owed any more. */
    async markReleased(orderId: number): Promise<void> {
      await db.updateTable('orders').set({ release_pending: 0, claimed_until: null }).where('id', '=', orderId).execute();
    },

    /** Gives leases back early (a release that could not be done now), so the next recovery pass retries. */
    async releaseClaims(orderIds: readonly number[]): Promise<void> {
      if (orderIds.length === 0) return;
      await db.updateTable('orders').set({ claimed_until: null }).where('id', 'in', [...orderIds]).where('release_pending', '=', OWED).execute();
    },

    /**
     * Recovery, step 1: PENDING orders whose lease ran out (their request died) become FAILED with their stock
     * owed, leased to the caller until `claimUntil`. One UPDATE: on PostgreSQL a replica racing for the same
     * row re-checks `status` after the first commits and skips it, so each order is abandoned once.
     */
    async abandonStalePending(now: Date, claimUntil: Date, limit: number): Promise<number[]> {
      const stale = db.selectFrom('orders').select('id').where('status', '=', PENDING).where('claimed_until', '<', now.toISOString()).limit(limit);
      const rows = await db
        .updateTable('orders')
        .set({ status: 'FAILED', release_pending: 1, claimed_until: claimUntil.toISOString() })
        .where('id', 'in', stale)
        .where('status', '=', PENDING)
        .where('claimed_until', '<', now.toISOString())
        .returning('id')
        .execute();
      return rows.map((row) => Number(row.id));
    },

    /** Recovery, step 2: orders owing a release whose lease ran out (or was given back), leased to the caller. */
    async claimOwedReleases(now: Date, claimUntil: Date, limit: number): Promise<number[]> {
      const unclaimed = (eb: ExpressionBuilder<OrdersSchema, 'orders'>) =>
        eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now.toISOString())]);
      const owed = db.selectFrom('orders').select('id').where('release_pending', '=', OWED).where(unclaimed).limit(limit);
      const rows = await db
        .updateTable('orders')
        .set({ claimed_until: claimUntil.toISOString() })
        .where('id', 'in', owed)
        .where('release_pending', '=', OWED)
        .where(unclaimed)
        .returning('id')
        .execute();
      return rows.map((row) => Number(row.id));
    },

    /** Units in PLACED orders per sku (tests and the soak check conservation with it). */
    async placedUnits(): Promise<Map<string, number>> {
      const rows = await db
        .selectFrom('order_items as i')
        .innerJoin('orders as o', 'o.id', 'i.order_id')
        .select(['i.sku', sql<number>`sum(i.quantity)`.as('units')])
        .where('o.status', '=', 'PLACED')
        .groupBy('i.sku')
        .execute();
      return new Map(rows.map((row) => [row.sku, Number(row.units)]));
    },

    async ping(): Promise<boolean> {
      await sql`select 1`.execute(db);
      return true;
    },
  };
}
export type OrdersStore = ReturnType<typeof createOrdersStore>;

export async function seedOrders(database: OrdersDatabase): Promise<boolean> {
  const existing = await database.db.selectFrom('orders').select('id').limit(1).execute();
  if (existing.length > 0) return false;
  const orders = demoOrders();
  await database.db.transaction().execute(async (trx) => {
    const orderRows = orders.map((order) => ({
      id: order.id,
      user_id: order.userId,
      status: order.status,
      total_cents: order.items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0),
      release_pending: 0,
      created_at: order.createdAt,
      claimed_until: null,
    }));
    const itemRows = orders.flatMap((order) =>
      order.items.map((item, line) => ({
        order_id: order.id,
        line,
        sku: item.sku,
        quantity: item.quantity,
        unit_price_cents: item.unitPriceCents,
      })),
    );
    for (let start = 0; start < orderRows.length; start += 500) {
      await trx.insertInto('orders').values(orderRows.slice(start, start + 500)).execute();
    }
    for (let start = 0; start < itemRows.length; start += 500) {
      await trx.insertInto('order_items').values(itemRows.slice(start, start + 500)).execute();
    }
  });
  await syncIdSequence(database, 'orders');
  return true;
}
