import { stopsWhenCallerGone } from '../common/protection';
import { messageOf } from '../../lib/errors';
import { uncounted } from '../common/database';
import type { SubgraphDefinition } from '../common/server';
import { createInventoryClient, DEFAULT_INVENTORY_TIMEOUT_MS } from './inventory-client';
import { createOrderLoaders } from './loaders';
import { ordersResolvers, type OrdersContext } from './resolvers';
import { createOrderService } from './service';
import { createOrdersStore, ordersMigrations, seedOrders, type OrdersSchema } from './store';

export interface OrdersSubgraphOptions {
  /** How long orders waits for one inventory call. Default 5 s. */
  inventoryTimeoutMs?: number;
}

export function createOrdersSubgraph(
  options: OrdersSubgraphOptions = {},
): SubgraphDefinition<OrdersSchema, OrdersContext> {
  const inventoryTimeoutMs = options.inventoryTimeoutMs ?? DEFAULT_INVENTORY_TIMEOUT_MS;
  return {
    name: 'orders',
    migrations: ordersMigrations,
    seed: seedOrders,
    resolvers: ordersResolvers,
    setup({ database, config, logger }) {
      const store = createOrdersStore(database);
      const inventory = createInventoryClient({
        url: config.inventoryUrl,
        serviceSecret: config.serviceSecret,
        timeoutMs: inventoryTimeoutMs,
      });
      // A lease covers one inventory call and a margin: an order whose request died is taken over that long
      // after its last step, not after a fixed grace period.
      const orders = createOrderService({ store, inventory, logger, claimMs: inventoryTimeoutMs + 1_000 });
      // The recovery loop: at once on start-up (a crash may have left work), then every RECOVERY_INTERVAL_MS,
      // never two passes at once in one process. It writes no events of its own: a FAILED order was never
      // visible, and the stock it releases is inventory's to announce.
      let recovering: Promise<unknown> | undefined;
      const recover = () => {
        recovering ??= uncounted(() => orders.recover())
          .catch((error: unknown) => logger.warn('recovery pass failed', { error: messageOf(error) }))
          .finally(() => (recovering = undefined));
      };
      recover();
      const timer = setInterval(recover, config.saga.recoveryIntervalMs);
      timer.unref();
      return {
        createContext: (caller, changes, callerGone) => ({
          caller,
          orders,
          changes,
          loaders: createOrderLoaders(stopsWhenCallerGone(store, callerGone)),
        }),
        ready: () => store.ping(),
        async stop() {
          clearInterval(timer);
          await recovering;
        },
      };
    },
  };
}

export const ordersSubgraph = createOrdersSubgraph();
