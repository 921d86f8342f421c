import type { SubgraphDefinition } from '../common/server';
import { createInventoryLoaders } from './loaders';
import { inventoryResolvers, type InventoryContext } from './resolvers';
import { createInventoryStore, inventoryMigrations, seedInventory, type InventorySchema } from './store';

export const inventorySubgraph: SubgraphDefinition<InventorySchema, InventoryContext> = {
  name: 'inventory',
  migrations: inventoryMigrations,
  seed: seedInventory,
  resolvers: inventoryResolvers,
  setup({ database }) {
    const store = createInventoryStore(database);
    return {
      createContext: (caller, changes) => ({ caller, store, changes, loaders: createInventoryLoaders(store) }),
      ready: () => store.ping(),
    };
  },
};
