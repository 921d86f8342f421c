import { createSubgraphServer, type SubgraphDefinition } from '../common/server';
import { createUserLoaders } from './loaders';
import { usersResolvers, type UsersContext } from './resolvers';
import { createUsersStore, seedUsers, usersMigrations, type UsersSchema } from './store';

export const usersSubgraph: SubgraphDefinition<UsersSchema> = {
  name: 'users',
  migrations: usersMigrations,
  seed: seedUsers,
  createServer({ database, config, logger }) {
    const store = createUsersStore(database);
    return createSubgraphServer<UsersContext>({
      name: 'users',
      resolvers: usersResolvers,
      development: config.development,
      serviceSecret: config.serviceSecret,
      logger,
      createContext: (caller) => ({ caller, store, loaders: createUserLoaders(store) }),
      ready: () => store.ping(),
      statementCount: database.statementCount,
    });
  },
};
