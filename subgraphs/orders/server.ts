import type { SubgraphDefinition } from '../common/server';
import { createInventoryClient } from './inventory-client';
import { createOrderLoaders } from './loaders';
import { ordersResolvers, type OrdersContext } from './resolvers';
import { createOrderService } from './service';
import { createOrdersStore, ordersMigrations, seedOrders, type OrdersSchema } from './store';
import { messageOf } from '../../lib/errors';

/** How often the orders service finishes work that a crash or an outage left half done. */
const RECOVERY_INTERVAL_MS = 15_000;

export const ordersSubgraph: SubgraphDefinition<OrdersSchema, OrdersContext> = {
  name: 'orders',
  migrations: ordersMigrations,
  seed: seedOrders,
  resolvers: ordersResolvers,
  setup({ database, config, logger, publisher }) {
    const store = createOrdersStore(database);
    const inventory = createInventoryClient({ url: config.inventoryUrl, serviceSecret: config.serviceSecret });
    const orders = createOrderService({ store, inventory, logger, publisher });
    let recovering: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      recovering = orders.recover().catch((error: unknown) =>
        logger.warn('recovery pass failed', { error: messageOf(error) }),
      );
    }, RECOVERY_INTERVAL_MS);
    timer.unref();
    return {
      createContext: (caller, changes) => ({ caller, orders, changes, loaders: createOrderLoaders(store) }),
      ready: () => store.ping(),
      async stop() {
        clearInterval(timer);
        await recovering;
      },
    };
  },
};
