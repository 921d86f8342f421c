import { createSubgraphServer, type SubgraphDefinition } from '../common/server';
import { createInventoryLoaders } from './loaders';
import { inventoryResolvers, type InventoryContext } from './resolvers';
import { createInventoryStore, inventoryMigrations, seedInventory, type InventorySchema } from './store';

export const inventorySubgraph: SubgraphDefinition<InventorySchema> = {
  name: 'inventory',
  migrations: inventoryMigrations,
  seed: seedInventory,
  createServer({ database, config, logger }) {
    const store = createInventoryStore(database);
    return createSubgraphServer<InventoryContext>({
      name: 'inventory',
      resolvers: inventoryResolvers,
      development: config.development,
      serviceSecret: config.serviceSecret,
      logger,
      createContext: (caller) => ({ caller, store, loaders: createInventoryLoaders(store) }),
      ready: () => store.ping(),
      statementCount: database.statementCount,
    });
  },
};
