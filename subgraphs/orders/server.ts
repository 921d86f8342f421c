import { createChangePublisher } from '../common/changes';
import { createSubgraphServer, type SubgraphDefinition } from '../common/server';
import { createInventoryClient } from './inventory-client';
import { createOrderLoaders } from './loaders';
import { ordersResolvers, type OrdersContext } from './resolvers';
import { createOrderService } from './service';
import { createOrdersStore, ordersMigrations, seedOrders, type OrdersSchema } from './store';

/** How often the orders service finishes work that a crash or an outage left half done. */
const RECOVERY_INTERVAL_MS = 15_000;

export const ordersSubgraph: SubgraphDefinition<OrdersSchema> = {
  name: 'orders',
  migrations: ordersMigrations,
  seed: seedOrders,
  async createServer({ database, config, logger }) {
    const store = createOrdersStore(database);
    const inventory = createInventoryClient({ url: config.inventoryUrl, serviceSecret: config.serviceSecret });
    const publisher = createChangePublisher(config, logger);
    const orders = createOrderService({ store, inventory, logger, publisher });
    const server = await createSubgraphServer<OrdersContext>({
      name: 'orders',
      resolvers: ordersResolvers,
      development: config.development,
      serviceSecret: config.serviceSecret,
      logger,
      publisher,
      createContext: (caller, changes) => ({ caller, orders, changes, loaders: createOrderLoaders(store) }),
      ready: () => store.ping(),
      statementCount: database.statementCount,
    }).catch(async (error: unknown) => {
      await publisher.close();
      throw error;
    });
    let recovering: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      recovering = orders.recover().catch((error: unknown) =>
        logger.warn('recovery pass failed', { error: error instanceof Error ? error.message : String(error) }),
      );
    }, RECOVERY_INTERVAL_MS);
    timer.unref();
    return {
      listener: server.listener,
      async stop() {
        clearInterval(timer);
        await recovering;
        await server.stop();
        await publisher.close();
      },
    };
  },
};
