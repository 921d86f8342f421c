import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { createClient } from 'redis';
import { loadConfig, type Config, type RedisTarget } from '../../lib/config';
import { orderEventsStream } from '../../lib/events';
import { listen, type ListeningServer } from '../../lib/http';
import { signHs256 } from '../../lib/jwt';
import { silentLogger, type Logger } from '../../lib/logger';
import { createGatewayServer, type GatewayServer } from '../../gateway/server';
import { startSubgraph, type RunningSubgraph, type SubgraphContextBase, type SubgraphDefinition } from '../../subgraphs/common/server';
import { inventorySubgraph } from '../../subgraphs/inventory/server';
import { ordersSubgraph } from '../../subgraphs/orders/server';
import { usersSubgraph } from '../../subgraphs/users/server';
import { messageOf } from '../../lib/errors';
import { deleteKeys } from './redis-cluster';
import { classifyPostgresError, postgresAdvice } from './postgres-diagnosis';

export type Backend = 'sqlite' | 'postgres';

export const TEST_JWT_SECRET = 'test-jwt-secret-0123456789abcdefghij';
export const TEST_SERVICE_SECRET = 'test-service-secret-0123456789abcdefghij';

/** The PostgreSQL the tests use: TEST_DATABASE_URL, or the machine's local server. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function requirePostgres(databaseUrl = TEST_DATABASE_URL): Promise<void> {
  const pool = new Pool({ connectionString: databaseUrl, max: 1, connectionTimeoutMillis: 3000 });
  try {
    await pool.query('select 1');
  } catch (error) {
    // An AggregateError (both addresses of localhost refused) has an empty message; its code says it.
    const reason = messageOf(error) || String((error as { code?: unknown }).code ?? error);
    throw new Error(
      `These tests need PostgreSQL at ${databaseUrl} (${reason}). ` +
        postgresAdvice(classifyPostgresError(error), databaseUrl),
    );
  } finally {
    await pool.end();
  }
}

/** The Redis the tests use: TEST_REDIS_URL, or the machine's local server. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function requireRedis(): Promise<void> {
  const client = createClient({ url: TEST_REDIS_URL, socket: { connectTimeout: 3000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new Error(
      `These tests need Redis at ${TEST_REDIS_URL} (${messageOf(error)}). ` +
        'Start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no ' +
        '(or set TEST_REDIS_URL to a reachable server).',
    );
  } finally {
    if (client.isOpen) client.destroy();
  }
}

export async function dropSchemas(prefix: string): Promise<void> {
  const pool = new Pool({ connectionString: TEST_DATABASE_URL, max: 1 });
  try {
    const { rows } = await pool.query<{ nspname: string }>(
      'select nspname from pg_namespace where nspname like $1',
      [`${prefix}%`],
    );
    for (const { nspname } of rows) await pool.query(`drop schema if exists "${nspname}" cascade`);
  } finally {
    await pool.end();
  }
}

/** A config for tests: ephemeral ports, quiet logs, a private data dir or PostgreSQL schema prefix. */
export function testConfig(base: Record<string, string | undefined>): Readonly<Config> {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    JWT_SECRET: TEST_JWT_SECRET,
    SERVICE_SECRET: TEST_SERVICE_SECRET,
    // One test client would spend a per-IP budget meant for people; rate limits are tested on their own.
    RATE_LIMIT: 'false',
    USERS_PORT: '0',
    ORDERS_PORT: '0',
    INVENTORY_PORT: '0',
    GATEWAY_PORT: '0',
    ...base,
  });
}

export interface TestSystem {
  backend: Backend;
  gatewayUrl: string;
  gateway: GatewayServer;
  subgraphs: { users: RunningSubgraph<unknown>; orders: RunningSubgraph<unknown>; inventory: RunningSubgraph<unknown> };
  /** Sends a GraphQL request to the gateway. */
  query<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResult<T>>;
  post(body: string, headers?: Record<string, string>): Promise<{ status: number; body: GraphQLResult<unknown> }>;
  /** The environment every service of this system was started with (database, subgraph URLs, Redis keys). */
  env: Record<string, string>;
  /** Starts another gateway over the same subgraphs, with extra env; closed with the system. */
  startGateway(env?: Record<string, string>): Promise<TestGateway>;
  /** Stops one subgraph (to test failures); `close` then skips it. */
  stopSubgraph(name: 'users' | 'orders' | 'inventory'): Promise<void>;
  close(): Promise<void>;
}

export interface GraphQLClient {
  query<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResult<T>>;
  post(body: string, headers?: Record<string, string>): Promise<{ status: number; body: GraphQLResult<unknown> }>;
}

export interface TestGateway extends GraphQLClient {
  url: string;
  gateway: GatewayServer;
  close(): Promise<void>;
}

/** A client for one gateway URL. */
export function clientFor(url: string): GraphQLClient {
  const post = async (body: string, headers: Record<string, string> = {}) => {
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    return { status: response.status, body: (await response.json()) as GraphQLResult<unknown> };
  };
  return {
    post,
    async query<T>(query: string, variables?: Record<string, unknown>, options: { token?: string; headers?: Record<string, string> } = {}) {
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      const { status, body } = await post(JSON.stringify({ query, variables }), headers);
      return { ...(body as GraphQLResult<T>), status };
    },
  };
}

export interface GraphQLResult<T> {
  status: number;
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
  extensions?: Record<string, unknown>;
}

export function token(sub: string, options: { admin?: boolean; expiresIn?: number } = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return signHs256({ sub, exp: now + (options.expiresIn ?? 3600), ...(options.admin ? { scope: 'admin' } : {}) }, TEST_JWT_SECRET);
}
export const adminToken = () => token('1', { admin: true });

/**
 * Starts the three subgraphs and the gateway in this process, over real HTTP on ephemeral ports, on the
 * embedded database (a fresh temp dir) or on PostgreSQL (fresh schemas, dropped on close).
 */
export async function startSystem(
  backend: Backend,
  extraEnv: Record<string, string> = {},
  /** Each service logs to its child (named after it); tests that read log lines pass their own. */
  logger: Logger = silentLogger,
): Promise<TestSystem> {
  const run = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  // Systems running side by side share the machine's Redis: each gets its own keys and change stream.
  const env: Record<string, string> = { REDIS_KEY_PREFIX: `test-${run}:`, CHANGE_STREAM: `test-changes-${run}`, ...extraEnv };
  let cleanup: () => Promise<void>;
  if (backend === 'postgres') {
    await requirePostgres();
    const prefix = `t${run.replace('-', '_')}_`;
    env.DATABASE_URL = TEST_DATABASE_URL;
    env.DATABASE_SCHEMA_PREFIX = prefix;
    env.DATABASE_POOL_SIZE = '5';
    cleanup = () => dropSchemas(prefix);
  } else {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-test-'));
    env.DATA_DIR = dir;
    cleanup = async () => fs.rmSync(dir, { recursive: true, force: true });
  }
  const running: RunningSubgraph<unknown>[] = [];
  const start = async <S, C extends SubgraphContextBase>(definition: SubgraphDefinition<S, C>, more: Record<string, string> = {}) => {
    const subgraph = await startSubgraph(definition, testConfig({ ...env, ...more }), logger.child(definition.name));
    running.push(subgraph as RunningSubgraph<unknown>);
    return subgraph as RunningSubgraph<unknown>;
  };
  try {
    const [users, inventory] = await Promise.all([start(usersSubgraph), start(inventorySubgraph)]);
    const orders = await start(ordersSubgraph, { INVENTORY_URL: inventory.url });
    const subgraphEnv = {
      SUBGRAPH_URL_USERS: users.url,
      SUBGRAPH_URL_ORDERS: orders.url,
      SUBGRAPH_URL_INVENTORY: inventory.url,
      SUBGRAPH_TIMEOUT_MS: '5000',
    };
    const gateways: TestGateway[] = [];
    const startGateway = async (more: Record<string, string> = {}): Promise<TestGateway> => {
      const gateway = await createGatewayServer(testConfig({ ...env, ...subgraphEnv, ...more }), logger.child('gateway'));
      const listening: ListeningServer = gateway.attach(await listen(gateway.listener, 0, '127.0.0.1'));
      const started: TestGateway = {
        url: `${listening.url}/graphql`,
        gateway,
        ...clientFor(`${listening.url}/graphql`),
        async close() {
          gateways.splice(gateways.indexOf(started), 1);
          await listening.close();
          await gateway.stop();
        },
      };
      gateways.push(started);
      return started;
    };
    const main = await startGateway();
    const stopped = new Set<RunningSubgraph<unknown>>();
    const subgraphs = { users, orders, inventory };
    return {
      backend,
      gatewayUrl: main.url,
      gateway: main.gateway,
      subgraphs,
      post: main.post,
      query: main.query,
      env: { ...env, ...subgraphEnv },
      startGateway,
      async stopSubgraph(name) {
        const subgraph = subgraphs[name];
        if (stopped.has(subgraph)) return;
        stopped.add(subgraph);
        await subgraph.close();
      },
      async close() {
        await Promise.all([...gateways].map((gateway) => gateway.close()));
        await Promise.all(running.filter((subgraph) => !stopped.has(subgraph)).map((subgraph) => subgraph.close()));
        await cleanup();
        const redis = testConfig(env).redis;
        if (redis.target) await deleteRedisNamespace(redis.target, redis.keyPrefix, redis.changeStream);
      },
    };
  } catch (error) {
    await Promise.all(running.map((subgraph) => subgraph.close().catch(() => undefined)));
    await cleanup();
    throw error;
  }
}

/**
 * Removes a test system's cache keys, change stream and order event stream from the shared Redis (on a
 * cluster, from every master). `stream` is the key as configured (`config.redis.changeStream`).
 */
export async function deleteRedisNamespace(redis: RedisTarget | string, keyPrefix: string, stream: string): Promise<void> {
  try {
    await deleteKeys(redis, keyPrefix, [stream, orderEventsStream(stream)]);
  } catch {
    // Best effort: a missing Redis was already reported by the test that needed it.
  }
}
