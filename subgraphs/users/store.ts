import { sql, type Kysely, type Migration } from 'kysely';
import type { EntityChange } from '../../lib/events';
import { addIdColumn, syncIdSequence, type Database, type Dialect } from '../common/database';
import { demoUsers } from '../common/demo-data';
import { appendToOutbox, entityChanges, outboxMigration, type OutboxSchema } from '../common/outbox';

export interface UsersSchema extends OutboxSchema {
  users: { id: number; name: string; email: string; created_at: string };
}
export type UsersDatabase = Database<UsersSchema>;
export type UserRow = UsersSchema['users'];

/** A user's cached entity changed. */
export const userChanged = (id: number | string): EntityChange => ({ typename: 'User', key: { id: String(id) } });

export const usersMigrations = (dialect: Dialect): Record<string, Migration> => ({
  '001_users': {
    async up(db: Kysely<unknown>) {
      await addIdColumn(db.schema.createTable('users'), dialect)
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('email', 'text', (column) => column.notNull().unique())
        .addColumn('created_at', 'text', (column) => column.notNull())
        .execute();
    },
  },
  '002_outbox': outboxMigration(dialect),
});

/** The users service's data access. Every read is one SQL statement; a write commits with its outbox event. */
export function createUsersStore(database: UsersDatabase) {
  const { db } = database;
  return {
    async byIds(ids: readonly number[]): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return db.selectFrom('users').selectAll().where('id', 'in', [...ids]).execute();
    },
    async page(afterId: number | undefined, limit: number): Promise<UserRow[]> {
      let query = db.selectFrom('users').selectAll().orderBy('id').limit(limit);
      if (afterId !== undefined) query = query.where('id', '>', afterId);
      return query.execute();
    },
    async count(): Promise<number> {
      const row = await db.selectFrom('users').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      return Number(row.n);
    },
    async insert(user: { name: string; email: string }): Promise<UserRow> {
      return db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('users')
          .values({ name: user.name, email: user.email, created_at: new Date().toISOString() } as UserRow)
          .returningAll()
          .executeTakeFirstOrThrow();
        await appendToOutbox(trx, [entityChanges([userChanged(row.id)])]);
        return row;
      });
    },
    async ping(): Promise<boolean> {
      await sql`select 1`.execute(db);
      return true;
    },
  };
}
export type UsersStore = ReturnType<typeof createUsersStore>;

export async function seedUsers(database: UsersDatabase): Promise<boolean> {
  const existing = await database.db.selectFrom('users').select('id').limit(1).execute();
  if (existing.length > 0) return false;
  await database.db.transaction().execute(async (trx) => {
    const rows = demoUsers().map((user) => ({ id: user.id, name: user.name, email: user.email, created_at: user.createdAt }));
    for (let start = 0; start < rows.length; start += 500) {
      await trx.insertInto('users').values(rows.slice(start, start + 500)).execute();
    }
  });
  await syncIdSequence(database, 'users');
  return true;
}
