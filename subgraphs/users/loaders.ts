import DataLoader from 'dataloader';
import { tracedBatch } from '../../lib/tracing';
import type { UserRow, UsersStore } from './store';

/** Per-request loaders: one SQL statement per batch, values in key order, null for a missing key. */
export function createUserLoaders(store: UsersStore) {
  return {
    userById: new DataLoader<string, UserRow | null>(
      tracedBatch('users.userById', async (ids) => {
        const numeric = ids.map(Number).filter((id) => Number.isSafeInteger(id));
        const rows = await store.byIds(numeric);
        const byId = new Map(rows.map((row) => [String(row.id), row]));
        return ids.map((id) => byId.get(id) ?? null);
      }),
    ),
  };
}
export type UserLoaders = ReturnType<typeof createUserLoaders>;
