import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { badInput, conflict } from '../../lib/errors';
import { canActFor, type Caller } from '../../lib/identity';
import type { RequestChanges } from '../common/changes';
import { isUniqueViolation } from '../common/database';
import { decodeIntegerCursor, pageSize, toConnection } from '../common/pagination';
import type { UserLoaders } from './loaders';
import { userChanged, type UserRow, type UsersStore } from './store';

export interface UsersContext {
  caller: Caller;
  loaders: UserLoaders;
  store: UsersStore;
  changes: RequestChanges;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const toUser = (row: UserRow) => ({ id: String(row.id), name: row.name, email: row.email, createdAt: row.created_at });
type User = ReturnType<typeof toUser>;

export const usersResolvers: GraphQLResolverMap<UsersContext> = {
  Query: {
    me: async (_root, _args, { caller, loaders }) => {
      if (caller.kind !== 'user') return null;
      const row = await loaders.userById.load(caller.userId);
      return row ? toUser(row) : null;
    },
    user: async (_root, { id }: { id: string }, { loaders }) => {
      const row = await loaders.userById.load(id);
      return row ? toUser(row) : null;
    },
    users: async (_root, args: { first?: number; after?: string }, { store }) => {
      const size = pageSize(args.first);
      const afterId = decodeIntegerCursor(args.after);
      const [rows, total] = await Promise.all([store.page(afterId, size + 1), store.count()]);
      return toConnection(rows, size, total, (row) => row.id, toUser);
    },
  },
  Mutation: {
    createUser: async (_root, { input }: { input: { name: string; email: string } }, { store, changes }) => {
      const name = input.name.trim();
      const email = input.email.trim().toLowerCase();
      if (name.length < 1 || name.length > 100) throw badInput('input.name', 'name must be 1 to 100 characters');
      if (!EMAIL.test(email) || email.length > 254) throw badInput('input.email', `'${input.email}' is not an email address`);
      try {
        const row = await store.insert({ name, email });
        changes.record(userChanged(row.id));
        return toUser(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict(`A user with email '${email}' already exists`, { argumentName: 'input.email' });
        throw error;
      }
    },
  },
  User: {
    __resolveReference: async (reference: { id: string }, { loaders }: UsersContext) => {
      const row = await loaders.userById.load(reference.id);
      return row ? toUser(row) : null;
    },
    email: (user: User, _args, { caller }) => (canActFor(caller, user.id) ? user.email : null),
  },
};
