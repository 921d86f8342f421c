import { GraphQLError } from 'graphql';
import { clientError, messageOf } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { IGNORE_CHANGES, type ChangeRecorder } from '../common/changes';
import { reservationIdForOrder } from '../common/demo-data';
import { DEFAULT_INVENTORY_TIMEOUT_MS, type InventoryClient } from './inventory-client';
import { orderChanged, type OrderRow, type OrdersStore } from './store';

/**
 * Placing and cancelling orders across two services that each own their data: a saga of local transactions
 * with reservations that expire, not a distributed transaction.
 *
 *   place:  1. insert the order PENDING (invisible), leased to this request for one inventory call
 *           2. reserve every line's stock in inventory under `order:<id>`: HELD, with inventory's deadline
 *           3. extend the lease (false: recovery abandoned the order, stop), then confirm the reservation:
 *              HELD → CONFIRMED, refused once the deadline passed
 *           4. write the lines and mark the order PLACED, with its events, in one local transaction
 *           Refused at 2: FAILED, nothing to release. Any other failure, or an unknown outcome (timeout,
 *           5xx): FAILED owing a release, released at once if inventory answers, else by the recovery loop.
 *   cancel: mark CANCELLED owing a release (with its events, in one transaction), release, clear the debt.
 *
 * Why nothing leaks: a reservation that lands after orders gave up meets the tombstone its release left, or,
 * if it overtook the release, is released by it; one that nobody confirms expires in inventory by itself. An
 * order is PLACED only after its reservation was CONFIRMED, and a CONFIRMED reservation never expires. The
 * recovery loop only touches orders whose lease ran out, and every write of the request that could race it is
 * conditional on the order still being PENDING, so the two never both act on one order. Every inventory call
 * is idempotent by reservation id, so any step may be repeated after a crash.
 *
 * Entity changes and order events are written to the outbox by the store, in the transaction that makes them
 * true; `changes` only hears them for the response. A PENDING or FAILED order was never visible: no change.
 */
export interface OrderService {
  /** `changes` hears what the placement changed, here and in inventory. */
  place(userId: string, items: { sku: string; quantity: number }[], changes?: ChangeRecorder): Promise<OrderRow>;
  cancel(orderId: number, changes?: ChangeRecorder): Promise<OrderRow>;
  /**
   * One recovery pass: abandons PENDING orders whose lease ran out and finishes owed releases whose lease ran
   * out. Returns how many orders it settled. Safe in every replica at once (each order is claimed by one).
   */
  recover(): Promise<number>;
}

const RECOVERY_BATCH = 100;

const describe = (failure: { kind: 'rejected'; message: string } | { kind: 'unavailable'; reason: string }) =>
  failure.kind === 'rejected' ? failure.message : failure.reason;

function unavailable(): GraphQLError {
  return clientError('SERVICE_UNAVAILABLE', 'Inventory is unavailable; no order was placed. Please retry.');
}

export function createOrderService(deps: {
  store: OrdersStore;
  inventory: InventoryClient;
  logger: Logger;
  /**
   * How long a request or a recovery pass holds an order before recovery may take it over: one inventory call
   * and a margin. Default: the inventory client's default timeout plus one second.
   */
  claimMs?: number;
}): OrderService {
  const { store, inventory, logger } = deps;
  const claimMs = deps.claimMs ?? DEFAULT_INVENTORY_TIMEOUT_MS + 1_000;
  const lease = () => new Date(Date.now() + claimMs);

  /** The order failed after stock may have been taken: FAILED owing a release, and release now if possible. */
  async function fail(orderId: number, changes: ChangeRecorder): Promise<void> {
    try {
      // False: recovery abandoned the order first, and releases it.
      if (!(await store.markFailed(orderId, { releaseOwed: true, claimUntil: lease() }))) return;
      await settleRelease(orderId, changes);
    } catch (error) {
      logger.warn('could not record a failed order; the recovery loop will finish it', { orderId, error: messageOf(error) });
    }
  }

  /** Releases an order's reservation whose release this caller has claimed; true when inventory confirmed it. */
  async function settleRelease(orderId: number, changes: ChangeRecorder): Promise<boolean> {
    const released = await inventory.release(reservationIdForOrder(orderId));
    if (released.ok) {
      changes.forward(released.changes);
      await store.markReleased(orderId);
      return true;
    }
    logger.warn('stock release deferred to the recovery loop', { orderId, reason: describe(released) });
    await store.releaseClaims([orderId]);
    return false;
  }

  return {
    async place(userId, items, changes = IGNORE_CHANGES) {
      const orderId = await store.createPending(userId, lease());
      const reservationId = reservationIdForOrder(orderId);
      const reserved = await inventory.reserve(reservationId, items);
      if (!reserved.ok) {
        if (reserved.kind === 'rejected') {
          // Inventory said no and took nothing (its transaction rolled back): there is nothing to release.
          await store.markFailed(orderId, { releaseOwed: false });
          throw new GraphQLError(reserved.message, { extensions: { ...reserved.extensions, code: reserved.code } });
        }
        // Unknown outcome: the reservation may still land. Releasing leaves a tombstone that refuses it.
        logger.warn('stock reservation failed', { orderId, reason: reserved.reason });
        await fail(orderId, changes);
        throw unavailable();
      }
      changes.forward(reserved.changes);
      if (!(await store.extendClaim(orderId, lease()))) {
        logger.warn('the recovery loop took over an order still being placed', { orderId });
        throw unavailable();
      }
      const confirmed = await inventory.confirm(reservationId);
      if (!confirmed.ok) {
        // Expired or released (rejected), or unknown: either way this order is not placed, and its stock goes
        // back (a no-op for an expired hold, whose stock inventory already took back).
        logger.warn('confirming the reservation failed', { orderId, reason: describe(confirmed) });
        await fail(orderId, changes);
        throw unavailable();
      }
      changes.forward(confirmed.changes);
      const prices = new Map(reserved.value.map((line) => [line.sku, line.unitPriceCents]));
      let order: OrderRow | undefined;
      try {
        order = await store.place(
          orderId,
          items.map((item) => ({ sku: item.sku, quantity: item.quantity, unit_price_cents: prices.get(item.sku)! })),
        );
      } catch (error) {
        logger.error('writing the order failed; releasing its stock', { orderId, error: messageOf(error) });
        await fail(orderId, changes);
        throw error;
      }
      if (!order) {
        // Recovery abandoned it between the confirm and now; it releases the (confirmed) reservation.
        logger.warn('the recovery loop took over an order still being placed', { orderId });
        throw unavailable();
      }
      changes.record(...orderChanged(order));
      return order;
    },

    async cancel(orderId, changes = IGNORE_CHANGES) {
      const cancelled = await store.markCancelled(orderId, lease());
      if (cancelled) {
        changes.record(...orderChanged(cancelled));
        const released = await settleRelease(orderId, changes);
        return { ...cancelled, release_pending: released ? 0 : 1, claimed_until: null };
      }
      const [current] = await store.byIds([orderId]);
      if (!current) throw clientError('NOT_FOUND', `No order with id '${orderId}'`);
      return current;
    },

    async recover() {
      const now = new Date();
      const abandoned = await store.abandonStalePending(now, lease(), RECOVERY_BATCH);
      if (abandoned.length > 0) logger.warn('abandoned orders whose request died', { orders: abandoned });
      const owed = [...abandoned, ...(await store.claimOwedReleases(now, lease(), RECOVERY_BATCH))];
      let settled = 0;
      for (const [index, orderId] of owed.entries()) {
        const released = await inventory.release(reservationIdForOrder(orderId));
        if (!released.ok) {
          // Inventory is down or refusing: give every remaining claim back so the next pass retries at once.
          logger.warn('recovery: stock release failed; retrying next pass', { orderId, reason: describe(released) });
          await store.releaseClaims(owed.slice(index));
          break;
        }
        await store.markReleased(orderId);
        settled++;
      }
      if (settled > 0) logger.info('recovered unfinished orders', { settled });
      return settled;
    },
  };
}
