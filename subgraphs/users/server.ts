import { stopsWhenCallerGone } from '../common/protection';
import type { SubgraphDefinition } from '../common/server';
import { createUserLoaders } from './loaders';
import { usersResolvers, type UsersContext } from './resolvers';
import { createUsersStore, seedUsers, usersMigrations, type UsersSchema } from './store';

export const usersSubgraph: SubgraphDefinition<UsersSchema, UsersContext> = {
  name: 'users',
  migrations: usersMigrations,
  seed: seedUsers,
  resolvers: usersResolvers,
  setup({ database }) {
    const store = createUsersStore(database);
    return {
      createContext: (caller, changes, callerGone) => ({
        caller,
        store,
        changes,
        loaders: createUserLoaders(stopsWhenCallerGone(store, callerGone)),
      }),
      ready: () => store.ping(),
    };
  },
};
