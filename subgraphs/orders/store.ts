import { sql, type Kysely, type Migration } from 'kysely';
import { addIdColumn, syncIdSequence, type Database, type Dialect } from '../common/database';
import { demoOrders } from '../common/demo-data';

/**
 * `status` is PENDING from the moment an order is created until its stock is reserved and its lines are
 * written; PENDING orders are invisible to clients. `release_pending` marks a cancelled order whose stock has
 * not yet been confirmed returned by inventory; the recovery loop finishes both kinds of unfinished work.
 */
export interface OrdersSchema {
  orders: {
    id: number;
    user_id: string;
    status: 'PENDING' | 'PLACED' | 'CANCELLED';
    total_cents: number;
    release_pending: number;
    created_at: string;
  };
  order_items: { order_id: number; line: number; sku: string; quantity: number; unit_price_cents: number };
}
export type OrdersDatabase = Database<OrdersSchema>;
export type OrderRow = OrdersSchema['orders'];
export type OrderItemRow = OrdersSchema['order_items'];
export type OrderPageRow = OrderRow & { total_count: number };

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
});

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

    async createPending(userId: string): Promise<number> {
      const row = await db
        .insertInto('orders')
        .values({ user_id: userId, status: 'PENDING', total_cents: 0, release_pending: 0, created_at: new Date().toISOString() } as OrderRow)
        .returning('id')
        .executeTakeFirstOrThrow();
      return Number(row.id);
    },

    /** Writes the lines and turns the order PLACED, in one transaction. */
    async confirm(orderId: number, items: Omit<OrderItemRow, 'order_id' | 'line'>[]): Promise<OrderRow> {
      return db.transaction().execute(async (trx) => {
        await trx
          .insertInto('order_items')
          .values(items.map((item, line) => ({ ...item, order_id: orderId, line })))
          .execute();
        const total = items.reduce((sum, item) => sum + item.quantity * item.unit_price_cents, 0);
        const row = await trx
          .updateTable('orders')
          .set({ status: 'PLACED', total_cents: total })
          .where('id', '=', orderId)
          .where('status', '=', 'PENDING')
          .returningAll()
          .executeTakeFirst();
        if (!row) throw new Error(`Order ${orderId} is no longer pending`);
        return normalise(row);
      });
    },

    async deletePending(orderId: number): Promise<void> {
      await db.deleteFrom('orders').where('id', '=', orderId).where('status', '=', 'PENDING').execute();
    },

    /** PLACED -> CANCELLED, marking the stock as owed back; undefined when the order was not PLACED. */
    async markCancelled(orderId: number): Promise<OrderRow | undefined> {
      const row = await db
        .updateTable('orders')
        .set({ status: 'CANCELLED', release_pending: 1 })
        .where('id', '=', orderId)
        .where('status', '=', 'PLACED')
        .returningAll()
        .executeTakeFirst();
      return row && normalise(row);
    },

    async markReleased(orderId: number): Promise<void> {
      await db.updateTable('orders').set({ release_pending: 0 }).where('id', '=', orderId).execute();
    },

    /** Work a crash may have left half done: old PENDING orders, and cancellations whose stock is still owed. */
    async unfinished(pendingOlderThan: string): Promise<{ stalePending: number[]; owedReleases: number[] }> {
      const rows = await db
        .selectFrom('orders')
        .select(['id', 'status'])
        .where((eb) =>
          eb.or([
            eb.and([eb('status', '=', 'PENDING'), eb('created_at', '<', pendingOlderThan)]),
            eb.and([eb('status', '=', 'CANCELLED'), eb('release_pending', '=', 1)]),
          ]),
        )
        .limit(500)
        .execute();
      return {
        stalePending: rows.filter((row) => row.status === 'PENDING').map((row) => Number(row.id)),
        owedReleases: rows.filter((row) => row.status === 'CANCELLED').map((row) => Number(row.id)),
      };
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
