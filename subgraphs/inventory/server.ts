import { stopsWhenCallerGone } from '../common/protection';
import { messageOf } from '../../lib/errors';
import { uncounted } from '../common/database';
import type { SubgraphDefinition } from '../common/server';
import { createInventoryLoaders } from './loaders';
import { inventoryResolvers, type InventoryContext } from './resolvers';
import { createInventoryStore, inventoryMigrations, seedInventory, type InventorySchema } from './store';

export const inventorySubgraph: SubgraphDefinition<InventorySchema, InventoryContext> = {
  name: 'inventory',
  migrations: inventoryMigrations,
  seed: seedInventory,
  resolvers: inventoryResolvers,
  setup({ database, config, logger, outbox }) {
    const store = createInventoryStore(database, { holdMs: config.saga.holdMs });
    // Inventory returns the stock of holds nobody confirmed in time by itself, so stock comes back even when
    // orders never calls again. At once on start-up (holds may have expired while this process was down),
    // then every RECOVERY_INTERVAL_MS.
    let sweeping: Promise<unknown> = Promise.resolve();
    const sweep = () => {
      sweeping = uncounted(() => store.expireDue()).then(
        ({ expired }) => {
          if (expired.length === 0) return;
          logger.info('returned the stock of expired holds', { reservations: expired.length });
          outbox.nudge();
        },
        (error: unknown) => logger.warn('expiring holds failed', { error: messageOf(error) }),
      );
    };
    sweep();
    const timer = setInterval(sweep, config.saga.recoveryIntervalMs);
    timer.unref();
    return {
      createContext: (caller, changes, callerGone) => ({
        caller,
        store,
        changes,
        loaders: createInventoryLoaders(stopsWhenCallerGone(store, callerGone)),
      }),
      ready: () => store.ping(),
      async stop() {
        clearInterval(timer);
        await sweeping;
      },
    };
  },
};
