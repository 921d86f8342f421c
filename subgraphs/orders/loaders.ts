import DataLoader from 'dataloader';
import { tracedBatch } from '../../lib/tracing';
import { decodeIntegerCursor, pageSize, toConnection, type Connection } from '../common/pagination';
import type { OrderItemRow, OrderRow, OrdersStore } from './store';

export interface OrdersPageKey {
  userId: string;
  first?: number | null;
  after?: string | null;
}

/** Per-request loaders: one SQL statement per batch, values in key order. */
export function createOrderLoaders(store: OrdersStore) {
  return {
    orderById: new DataLoader<string, OrderRow | null>(
      tracedBatch('orders.orderById', async (ids) => {
        const rows = await store.byIds(ids.map(Number).filter((id) => Number.isSafeInteger(id)));
        const byId = new Map(rows.map((row) => [String(row.id), row]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
    ),
    itemsByOrderId: new DataLoader<number, OrderItemRow[]>(
      tracedBatch('orders.itemsByOrderId', async (ids) => {
        const rows = await store.itemsByOrderIds(ids);
        const byOrder = new Map<number, OrderItemRow[]>();
        for (const row of rows) {
          const list = byOrder.get(row.order_id);
          if (list) list.push(row);
          else byOrder.set(row.order_id, [row]);
        }
        return ids.map((id) => byOrder.get(id) ?? []);
      }),
    ),
    /**
     * A page of each user's orders. Keys with the same page arguments share one statement (the usual case:
     * a list of users all asking for `orders(first: 3)`); different arguments get a statement each.
     */
    ordersPageByUser: new DataLoader<OrdersPageKey, Connection<OrderRow>, string>(
      tracedBatch('orders.ordersPageByUser', async (keys) => {
        const groups = new Map<string, { size: number; before: number | undefined; userIds: string[] }>();
        const results = new Map<string, Connection<OrderRow>>();
        for (const key of keys) {
          const groupKey = `${key.first ?? ''}|${key.after ?? ''}`;
          let group = groups.get(groupKey);
          if (!group) {
            group = { size: pageSize(key.first), before: decodeIntegerCursor(key.after), userIds: [] };
            groups.set(groupKey, group);
          }
          group.userIds.push(key.userId);
        }
        for (const [groupKey, group] of groups) {
          const rows = await store.pagesByUserIds(group.userIds, group.before, group.size + 1);
          const byUser = new Map<string, typeof rows>();
          for (const row of rows) {
            const list = byUser.get(row.user_id);
            if (list) list.push(row);
            else byUser.set(row.user_id, [row]);
          }
          for (const userId of group.userIds) {
            const userRows = byUser.get(userId) ?? [];
            results.set(
              `${userId}|${groupKey}`,
              toConnection(
                userRows,
                group.size,
                userRows[0]?.total_count ?? 0,
                (row) => row.id,
                (row) => row as OrderRow,
              ),
            );
          }
        }
        return keys.map((key) => results.get(`${key.userId}|${key.first ?? ''}|${key.after ?? ''}`)!);
      }),
      { cacheKeyFn: (key) => `${key.userId}|${key.first ?? ''}|${key.after ?? ''}` },
    ),
  };
}
export type OrderLoaders = ReturnType<typeof createOrderLoaders>;
