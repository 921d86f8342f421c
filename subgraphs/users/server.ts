import { createChangePublisher } from '../common/changes';
import { createSubgraphServer, type SubgraphDefinition } from '../common/server';
import { createUserLoaders } from './loaders';
import { usersResolvers, type UsersContext } from './resolvers';
import { createUsersStore, seedUsers, usersMigrations, type UsersSchema } from './store';

export const usersSubgraph: SubgraphDefinition<UsersSchema> = {
  name: 'users',
  migrations: usersMigrations,
  seed: seedUsers,
  async createServer({ database, config, logger }) {
    const store = createUsersStore(database);
    const publisher = createChangePublisher(config, logger);
    const server = await createSubgraphServer<UsersContext>({
      name: 'users',
      resolvers: usersResolvers,
      development: config.development,
      serviceSecret: config.serviceSecret,
      logger,
      publisher,
      createContext: (caller, changes) => ({ caller, store, changes, loaders: createUserLoaders(store) }),
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
