import fs from 'node:fs';
import path from 'node:path';
import type http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { parse } from 'graphql';
import { loadConfig, type Config, type SubgraphName } from '../../lib/config';
import { maskUnexpectedErrors, unauthenticated } from '../../lib/errors';
import { createRouter, executeGraphQL, listen, readGraphQLBody, sendJson } from '../../lib/http';
import { CALLER_HEADER, CALLER_SIGNATURE_HEADER, readCaller, type Caller } from '../../lib/identity';
import { createLogger, type Logger } from '../../lib/logger';
import { openDatabase, type Database, type MigrationSet } from './database';
import { schemaDir } from '../../lib/paths';

export interface SubgraphServerOptions<TContext extends object> {
  name: SubgraphName;
  resolvers: GraphQLResolverMap<TContext>;
  development: boolean;
  serviceSecret: string;
  logger: Logger;
  /** A fresh context (and so fresh DataLoaders) for every request. */
  createContext(caller: Caller): TContext;
  /** Readiness: true when the service can answer (its database responds). */
  ready(): Promise<boolean>;
  bodyLimitBytes?: number;
}

export interface SubgraphServer {
  listener: http.RequestListener;
  /** Stops the GraphQL engine and any background work; the database is closed by its owner. */
  stop(): Promise<void>;
}

/** The SDL the service serves: `schema/<name>.graphql`, the same file composition reads. */
export function loadSubgraphSdl(name: SubgraphName): string {
  return fs.readFileSync(path.join(schemaDir, `${name}.graphql`), 'utf8');
}

/**
 * Builds a subgraph's HTTP listener from its resolvers and dependencies; knows no ports and no environment.
 * Routes: POST/GET /graphql, GET /healthz, GET /readyz.
 */
export async function createSubgraphServer<TContext extends object>(
  options: SubgraphServerOptions<TContext>,
): Promise<SubgraphServer> {
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema({ typeDefs: parse(loadSubgraphSdl(options.name)), resolvers: options.resolvers as GraphQLResolverMap<unknown> }),
    includeStacktraceInErrorResponses: options.development,
    formatError: maskUnexpectedErrors(options.development),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
    logger: {
      debug: (message) => options.logger.debug(String(message)),
      info: (message) => options.logger.info(String(message)),
      warn: (message) => options.logger.warn(String(message)),
      error: (message) => options.logger.error(String(message)),
    },
  });
  await apollo.start();
  const bodyLimit = options.bodyLimitBytes ?? 1_048_576;

  const graphql = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = await readGraphQLBody(req, bodyLimit);
    await executeGraphQL(apollo, req, res, body, async () => {
      const header = req.headers[CALLER_HEADER];
      const signature = req.headers[CALLER_SIGNATURE_HEADER];
      const caller = readCaller(
        options.serviceSecret,
        typeof header === 'string' ? header : undefined,
        typeof signature === 'string' ? signature : undefined,
      );
      if (caller === 'invalid') throw unauthenticated('The forwarded caller identity is not signed by the gateway');
      return options.createContext(caller);
    });
  };

  const listener = createRouter(
    {
      '/graphql': graphql,
      '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok', service: options.name }),
      '/readyz': async (_req, res) => {
        const ready = await options.ready().catch(() => false);
        sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', service: options.name });
      },
    },
    (error, req) =>
      options.logger.error('request failed', { url: req.url, error: error instanceof Error ? error.message : String(error) }),
  );
  return { listener, stop: () => apollo.stop() };
}

/** What a subgraph is made of; `startSubgraph` turns it into a listening service. */
export interface SubgraphDefinition<Schema> {
  name: SubgraphName;
  migrations: MigrationSet;
  /** Writes the demo data into an empty database; false when there was data already. */
  seed(database: Database<Schema>): Promise<boolean>;
  createServer(deps: { database: Database<Schema>; config: Readonly<Config>; logger: Logger }): Promise<SubgraphServer>;
}

export interface RunningSubgraph<Schema> {
  url: string;
  database: Database<Schema>;
  close(): Promise<void>;
}

/** Opens the service's database (migrating and seeding it), builds its server and listens. */
export async function startSubgraph<Schema>(
  definition: SubgraphDefinition<Schema>,
  config: Readonly<Config>,
  logger: Logger,
): Promise<RunningSubgraph<Schema>> {
  const settings = config.subgraphs[definition.name];
  const database = await openDatabase<Schema>(settings.database, definition.migrations);
  try {
    if (config.seedDemoData && (await definition.seed(database))) logger.info('seeded demo data');
    const server = await definition.createServer({ database, config, logger });
    const listening = await listen(server.listener, settings.port, config.host);
    logger.info(`listening on ${listening.url}/graphql`, { database: settings.database.kind });
    return {
      url: `${listening.url}/graphql`,
      database,
      async close() {
        await listening.close();
        await server.stop();
        await database.close();
      },
    };
  } catch (error) {
    await database.close();
    throw error;
  }
}

/**
 * The entry point every subgraph shares: read config, start, and on SIGTERM/SIGINT stop taking requests,
 * finish those in flight, then close the database.
 */
export function runSubgraph<Schema>(definition: SubgraphDefinition<Schema>): void {
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`${definition.name}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(78);
  }
  const logger = createLogger(definition.name, config.log);
  startSubgraph(definition, config, logger).then(
    (running) => {
      let stopping = false;
      const shutdown = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info(`${signal} received, shutting down`);
        void running.close().then(() => process.exit(0));
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    },
    (error: unknown) => {
      logger.error(`failed to start: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
