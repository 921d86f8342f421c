import { GraphQLError } from 'graphql';
import { clientError, messageOf } from '../../lib/errors';
import type { ChangePublisher, EntityChange } from '../../lib/events';
import type { Logger } from '../../lib/logger';
import { IGNORE_CHANGES, type ChangeRecorder } from '../common/changes';
import { reservationIdForOrder } from '../common/demo-data';
import type { InventoryClient } from './inventory-client';
import type { OrderRow, OrdersStore } from './store';

/**
 * Placing and cancelling orders across two services that each own their data (a saga with a compensating
 * step, not a distributed transaction):
 *
 *   place:  1. insert the order as PENDING (invisible to clients)
 *           2. reserve every line's stock in inventory, atomically, under the reservation id `order:<id>`
 *           3. write the lines and mark the order PLACED, in one local transaction
 *           If 2 says no, delete the pending order. If 3 fails, release the reservation and delete it.
 *   cancel: mark CANCELLED with `release_pending`, then release the reservation, then clear the flag.
 *
 * Every inventory call is idempotent by reservation id, so when a step's outcome is unknown (a timeout, a
 * crash between steps) the recovery loop can simply repeat the release: stale PENDING orders are released
 * and deleted, owed releases are retried. Stock is never oversold (step 2 is atomic in inventory) and is
 * never lost for longer than one recovery interval.
 *
 * Entity changes: an order that becomes visible or changes status changes the `Order` and its owner's `User`
 * (whose `orders` connection lists it); they are recorded only after the local write committed. The stock
 * changes inventory reports are forwarded as they arrive: inventory committed and published them itself,
 * whatever happens to the order afterwards. A PENDING order was never visible, so abandoning one changes nothing.
 */
export interface OrderService {
  /** `changes` hears what the placement changed, here and in inventory. */
  place(userId: string, items: { sku: string; quantity: number }[], changes?: ChangeRecorder): Promise<OrderRow>;
  cancel(orderId: number, changes?: ChangeRecorder): Promise<OrderRow>;
  /** Finishes half-done work; returns how many orders it repaired. Pending orders younger than `graceMs` may still be in flight and are left alone. */
  recover(graceMs?: number): Promise<number>;
}

const PENDING_GRACE_MS = 60_000;

const describe = (failure: { kind: 'rejected'; message: string } | { kind: 'unavailable'; reason: string }) =>
  failure.kind === 'rejected' ? failure.message : failure.reason;

function unavailable(): GraphQLError {
  return clientError('SERVICE_UNAVAILABLE', 'Inventory is unavailable; no order was placed. Please retry.');
}

const orderChanged = (order: OrderRow): EntityChange[] => [
  { typename: 'Order', key: { id: String(order.id) } },
  { typename: 'User', key: { id: order.user_id } },
];

export function createOrderService(deps: {
  store: OrdersStore;
  inventory: InventoryClient;
  logger: Logger;
  /** Where the recovery loop announces its repairs; requests report theirs through their own recorder. */
  publisher?: ChangePublisher;
}): OrderService {
  const { store, inventory, logger } = deps;

  async function abandon(orderId: number, changes: ChangeRecorder): Promise<void> {
    const released = await inventory.release(reservationIdForOrder(orderId));
    if (released.ok) {
      changes.forward(released.changes);
      await store.deletePending(orderId);
    } else {
      logger.warn('could not release a failed order; the recovery loop will retry', { orderId, reason: describe(released) });
    }
  }

  return {
    async place(userId, items, changes = IGNORE_CHANGES) {
      const orderId = await store.createPending(userId);
      const reserved = await inventory.reserve(reservationIdForOrder(orderId), items);
      if (!reserved.ok) {
        if (reserved.kind === 'rejected') {
          await store.deletePending(orderId);
          throw new GraphQLError(reserved.message, { extensions: { ...reserved.extensions, code: reserved.code } });
        }
        logger.warn('stock reservation failed', { orderId, reason: reserved.reason });
        await abandon(orderId, changes);
        throw unavailable();
      }
      changes.forward(reserved.changes);
      const prices = new Map(reserved.value.map((line) => [line.sku, line.unitPriceCents]));
      try {
        const order = await store.confirm(
          orderId,
          items.map((item) => ({ sku: item.sku, quantity: item.quantity, unit_price_cents: prices.get(item.sku)! })),
        );
        changes.record(...orderChanged(order));
        return order;
      } catch (error) {
        logger.error('writing the order failed; releasing its stock', {
          orderId,
          error: messageOf(error),
        });
        await abandon(orderId, changes);
        throw error;
      }
    },

    async cancel(orderId, changes = IGNORE_CHANGES) {
      const cancelled = await store.markCancelled(orderId);
      if (cancelled) {
        changes.record(...orderChanged(cancelled));
        const released = await inventory.release(reservationIdForOrder(orderId));
        if (released.ok) {
          changes.forward(released.changes);
          await store.markReleased(orderId);
        } else {
          logger.warn('stock release deferred to the recovery loop', { orderId, reason: describe(released) });
        }
        return { ...cancelled, release_pending: released.ok ? 0 : 1 };
      }
      const [current] = await store.byIds([orderId]);
      if (!current) throw clientError('NOT_FOUND', `No order with id '${orderId}'`);
      return current;
    },

    async recover(graceMs = PENDING_GRACE_MS) {
      const cutoff = new Date(Date.now() - graceMs).toISOString();
      const { stalePending, owedReleases } = await store.unfinished(cutoff);
      let repaired = 0;
      // The deleted orders' ids; their owners' `orders` never listed them. A finished owed release changes
      // only stock, which inventory announces itself.
      const changes: EntityChange[] = [];
      for (const orderId of stalePending) {
        const released = await inventory.release(reservationIdForOrder(orderId));
        if (released.ok) {
          await store.deletePending(orderId);
          changes.push({ typename: 'Order', key: { id: String(orderId) } });
          repaired++;
        }
      }
      for (const orderId of owedReleases) {
        const released = await inventory.release(reservationIdForOrder(orderId));
        if (released.ok) {
          await store.markReleased(orderId);
          repaired++;
        }
      }
      if (repaired > 0) logger.info('recovered unfinished orders', { repaired });
      if (changes.length > 0) await deps.publisher?.publish(changes);
      return repaired;
    },
  };
}
