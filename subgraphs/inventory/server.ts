import { createChangePublisher } from '../common/changes';
import { createSubgraphServer, type SubgraphDefinition } from '../common/server';
import { createInventoryLoaders } from './loaders';
import { inventoryResolvers, type InventoryContext } from './resolvers';
import { createInventoryStore, inventoryMigrations, seedInventory, type InventorySchema } from './store';

export const inventorySubgraph: SubgraphDefinition<InventorySchema> = {
  name: 'inventory',
  migrations: inventoryMigrations,
  seed: seedInventory,
  async createServer({ database, config, logger }) {
    const store = createInventoryStore(database);
    const publisher = createChangePublisher(config, logger);
    const server = await createSubgraphServer<InventoryContext>({
      name: 'inventory',
      resolvers: inventoryResolvers,
      development: config.development,
      serviceSecret: config.serviceSecret,
      logger,
      publisher,
      createContext: (caller, changes) => ({ caller, store, changes, loaders: createInventoryLoaders(store) }),
      ready: () => store.ping(),
      statementCount: database.statementCount,
    }).catch(async (error: unknown) => {
      await publisher.close();
      throw error;
    });
    return {
      listener: server.listener,
      async stop() {
        await server.stop();
        await publisher.close();
      },
    };
  },
};
