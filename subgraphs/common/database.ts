import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  Migrator,
  type CreateTableBuilder,
  PostgresDialect,
  SqliteDialect,
  sql,
  type LogEvent,
  type Migration,
  type MigrationProvider,
  type SqliteDatabase,
} from 'kysely';
import { Pool } from 'pg';
import { redact, type DatabaseConfig } from '../../lib/config';
import { messageOf } from '../../lib/errors';
import { traceStatement } from '../../lib/tracing';

/**
 * One data-access path on two engines: the embedded default (SQLite in a file under DATA_DIR, WAL mode) and
 * PostgreSQL, through Kysely, with the same migrations and the same queries. Each subgraph owns its own
 * database (SQLite file) or its own schema (PostgreSQL), and no service reads another's tables.
 */
export type Dialect = 'sqlite' | 'postgres';

export interface Database<Schema> {
  db: Kysely<Schema>;
  dialect: Dialect;
  /**
   * How many SQL statements this process has run for requests: tests and the bench read it to count round trips.
   * The outbox relay and the background loops (recovery, expiry sweep) run `uncounted` and are not in it.
   */
  statementCount(): number;
  close(): Promise<void>;
}

export type MigrationSet = (dialect: Dialect) => Record<string, Migration>;

const backgroundWork = new AsyncLocalStorage<true>();

/**
 * Runs `work` (and everything it starts) without counting its statements: a timer-driven loop is no request's
 * cost, and counting it would make a request's statement count depend on when a timer happened to fire.
 */
export function uncounted<T>(work: () => Promise<T>): Promise<T> {
  return backgroundWork.run(true, work);
}

export async function openDatabase<Schema>(
  config: DatabaseConfig,
  migrations: MigrationSet,
): Promise<Database<Schema>> {
  let statements = 0;
  const system = config.kind === 'postgres' ? 'postgresql' : 'sqlite';
  const log = (event: LogEvent) => {
    if ((event.level === 'query' || event.level === 'error') && !backgroundWork.getStore()) statements++;
    traceStatement(event, system);
  };
  let db: Kysely<Schema>;
  let dialect: Dialect;
  let migrationTableSchema: string | undefined;
  switch (config.kind) {
    case 'sqlite': {
      fs.mkdirSync(path.dirname(config.file), { recursive: true });
      const file = new SQLite(config.file);
      file.pragma('journal_mode = WAL');
      file.pragma('synchronous = NORMAL');
      file.pragma('foreign_keys = ON');
      file.pragma('busy_timeout = 5000');
      db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: withStatementCache(file) }), log });
      dialect = 'sqlite';
      break;
    }
    case 'postgres': {
      await ensurePostgresSchema(config.url, config.schema);
      const pool = new Pool({
        connectionString: config.url,
        max: config.poolSize,
        options: `-c search_path=${config.schema}`,
        connectionTimeoutMillis: 5000,
      });
      db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }), log });
      dialect = 'postgres';
      // Kysely looks for its bookkeeping tables in every schema; pin them to ours so services sharing one
      // PostgreSQL database never see each other's migrations.
      migrationTableSchema = config.schema;
      break;
    }
  }
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const { error, results } = await new Migrator({ db, provider, migrationTableSchema }).migrateToLatest();
  if (error) {
    await db.destroy();
    const failed = results?.find((result) => result.status === 'Error')?.migrationName;
    throw new Error(`Migration ${failed ?? ''} failed: ${messageOf(error)}`);
  }
  return { db, dialect, statementCount: () => statements, close: () => db.destroy() };
}

async function ensurePostgresSchema(url: string, schema: string): Promise<void> {
  const pool = new Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5000 });
  try {
    await pool.query(`create schema if not exists "${schema}"`);
  } catch (error) {
    throw new Error(`Cannot reach PostgreSQL at ${redact(url)}: ${messageOf(error)}`);
  } finally {
    await pool.end();
  }
}

/**
 * An auto-numbered integer primary key on either engine. On SQLite it must be AUTOINCREMENT: a plain integer
 * key reuses the id of a deleted last row, and an order id is also the key of its stock reservation.
 */
export function addIdColumn<T extends CreateTableBuilder<string, never>>(table: T, dialect: Dialect): T {
  return (
    dialect === 'postgres'
      ? table.addColumn('id', 'bigserial', (column) => column.primaryKey())
      : table.addColumn('id', 'integer', (column) => column.primaryKey().autoIncrement())
  ) as T;
}

/** After rows are inserted with explicit ids, moves PostgreSQL's sequence past them. */
export async function syncIdSequence<Schema>(database: Database<Schema>, table: string): Promise<void> {
  if (database.dialect !== 'postgres') return;
  await sql`select setval(pg_get_serial_sequence(${table}, 'id'), coalesce((select max(id) from ${sql.table(table)}), 1))`.execute(
    database.db,
  );
}

/** True when `error` is a unique-constraint violation on either engine. */
export function isUniqueViolation(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  const code = (error as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * better-sqlite3 with prepared statements kept by SQL text: Kysely prepares every query it runs, and
 * preparing cost as much as running the small, repeated statements a subgraph serves. Statements are only
 * ever run to completion (`all`/`run`, never left half-iterated), so reusing one is safe.
 */
function withStatementCache(database: SQLite.Database, maxStatements = 1_000): SqliteDatabase {
  const statements = new Map<string, SQLite.Statement>();
  return {
    close: () => void database.close(),
    prepare(text: string) {
      let statement = statements.get(text);
      if (!statement) {
        statement = database.prepare(text);
        if (statements.size >= maxStatements) statements.delete(statements.keys().next().value!);
        statements.set(text, statement);
      }
      return statement;
    },
  };
}
