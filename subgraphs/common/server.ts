import fs from 'node:fs';
import path from 'node:path';
import type http from 'node:http';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
} from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { parse } from 'graphql';
import { loadConfig, type Config, type SubgraphName } from '../../lib/config';
import { maskUnexpectedErrors, messageOf } from '../../lib/errors';
import {
  createRouter,
  executeGraphQL,
  HttpError,
  listen,
  readBody,
  sendJson,
  type ListeningServer,
} from '../../lib/http';
import { verifyCaller, type Caller } from '../../lib/identity';
import { createSubgraphProtection } from './protection';
import { startSubgraphAccess } from './access-log';
import { createSubgraphMetrics } from './metrics';
import { METRICS_CONTENT_TYPE } from '../../lib/metrics';
import type { EventBroker } from '../../lib/events';
import { createLogger, type Logger } from '../../lib/logger';
import { closeBy, createGracefulShutdown } from '../../lib/shutdown';
import { createEventBroker, entityChangesPlugin, RequestChanges } from './changes';
import { openDatabase, type Database, type MigrationSet } from './database';
import { createOutboxRelay, type OutboxRelay, type OutboxSchema } from './outbox';
import { schemaDir } from '../../lib/paths';
import {
  annotateActiveSpan,
  operationNameOf,
  startTracing,
  stopTracingBy,
  TraceAttributes,
  tracedRoute,
  tracingActive,
} from '../../lib/tracing';

/** What every subgraph context carries: the request's change collector, read once the resolvers finished. */
export interface SubgraphContextBase {
  changes: RequestChanges;
}

export interface SubgraphServerOptions<TContext extends SubgraphContextBase> {
  name: SubgraphName;
  resolvers: GraphQLResolverMap<TContext>;
  development: boolean;
  /** Verifies the signature every GraphQL request carries (lib/identity.ts). */
  serviceSecret: string;
  /** How old a request's signature may be; older ones are refused as replays. Default 60,000 ms. */
  signatureMaxAgeMs?: number;
  logger: Logger;
  /** The relay of the service's outbox: flushed after each write, counted on /metrics; owned by the caller. */
  outbox: Pick<OutboxRelay, 'flush' | 'stats'>;
  /**
   * A fresh context (and so fresh DataLoaders) for every request, carrying that request's `changes`, and a
   * signal aborted when the caller has gone (its connection closed before the answer: the gateway timed out).
   */
  createContext(caller: Caller, changes: RequestChanges, callerGone: AbortSignal): TContext;
  /** Readiness: true when the service can answer (its database responds). */
  ready(): Promise<boolean>;
  /** SQL statements run so far, exported on /metrics so benchmarks can count them per client request. */
  statementCount(): number;
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
 * Routes: POST /graphql (signed requests only), GET /healthz, GET /readyz, GET /metrics.
 */
export async function createSubgraphServer<TContext extends SubgraphContextBase>(
  options: SubgraphServerOptions<TContext>,
): Promise<SubgraphServer> {
  const sdl = loadSubgraphSdl(options.name);
  const apollo = new ApolloServer<TContext>({
    schema: buildSubgraphSchema({
      typeDefs: parse(sdl),
      resolvers: options.resolvers as GraphQLResolverMap<unknown>,
    }),
    includeStacktraceInErrorResponses: options.development,
    // Our entry points own SIGTERM/SIGINT and the shutdown order; Apollo's own handler would race them.
    stopOnTerminationSignals: false,
    formatError: maskUnexpectedErrors(options.development),
    // No inline traces, and no per-field cache-control hints: the gateway takes its cache policy from the
    // supergraph's @cacheControl, so computing hints here would only wrap every resolver for nothing.
    plugins: [
      ApolloServerPluginInlineTraceDisabled(),
      ApolloServerPluginCacheControlDisabled(),
      entityChangesPlugin<TContext>(options.outbox),
    ],
    logger: {
      debug: (message) => options.logger.debug(String(message)),
      info: (message) => options.logger.info(String(message)),
      warn: (message) => options.logger.warn(String(message)),
      error: (message) => options.logger.error(String(message)),
    },
  });
  await apollo.start();
  const bodyLimit = options.bodyLimitBytes ?? 1_048_576;

  const metrics = createSubgraphMetrics(options.name, { statementCount: options.statementCount, outbox: options.outbox });
  const protection = createSubgraphProtection(sdl);
  const signatureMaxAgeMs = options.signatureMaxAgeMs ?? 60_000;
  // Every GraphQL request must be signed, anonymous ones included: the signature covers the exact body, so it is
  // checked on the raw bytes before anything parses them. Health, readiness and metrics stay open.
  const graphql = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const access = startSubgraphAccess(options.logger, metrics, req, res);
    const raw = req.method === 'POST' ? await readBody(req, bodyLimit) : EMPTY_BODY;
    metrics.requests.inc();
    const verified = verifyCaller(options.serviceSecret, req.headers, raw, Date.now(), signatureMaxAgeMs);
    if (!verified.ok) throw new HttpError(401, 'UNAUTHENTICATED', verified.message);
    access.caller = verified.caller;
    // A GET carries its operation in the URL, which the signature does not cover.
    if (req.method !== 'POST') throw new HttpError(400, 'BAD_REQUEST', 'Subgraphs take GraphQL requests by POST only');
    const body = parseJsonBody(req, raw);
    access.body = body;
    // Its own limits, before anything is parsed further or run: other services reach subgraphs directly.
    protection.check(body);
    metrics.representations.inc(countRepresentations(body));
    if (tracingActive())
      annotateActiveSpan({
        [TraceAttributes.operationName]: operationNameOf(body),
        'subgraph.representations': countRepresentations(body),
      });
    // The caller gone (the gateway's timeout closed the connection): reads stop at the next batch.
    const callerGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) {
        metrics.callersGone.inc();
        callerGone.abort();
      }
    });
    await executeGraphQL(apollo, req, res, body, async () =>
      options.createContext(verified.caller, new RequestChanges(), callerGone.signal),
    );
  };

  const listener = createRouter(
    {
      '/graphql': tracedRoute(graphql, { [TraceAttributes.subgraph]: options.name }),
      '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok', service: options.name }),
      '/metrics': async (_req, res) => {
        const body = await metrics.render();
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
        res.end(body);
      },
      '/readyz': async (_req, res) => {
        // Bounded: a database that stopped answering must read as not ready, not as a probe that never returns.
        let timer: NodeJS.Timeout | undefined;
        const ready = await Promise.race([
          options.ready().catch(() => false),
          new Promise<false>((resolve) => (timer = setTimeout(resolve, READINESS_TIMEOUT_MS, false))),
        ]);
        clearTimeout(timer);
        sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', service: options.name });
      },
    },
    (error, req) => options.logger.error('request failed', { url: req.url, error: messageOf(error) }),
  );
  return { listener, stop: () => apollo.stop() };
}

const EMPTY_BODY = Buffer.alloc(0);
const READINESS_TIMEOUT_MS = 2_000;

/** A POST body as Apollo Server takes it: parsed JSON, or text for other content types. */
function parseJsonBody(req: http.IncomingMessage, raw: Buffer): unknown {
  if (!(req.headers['content-type'] ?? '').includes('json')) return raw.toString('utf8');
  if (raw.length === 0) throw new HttpError(400, 'BAD_REQUEST', 'Request body is empty; expected a JSON object');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'Request body is not valid JSON');
  }
}

/** Representations in a request (or a batch of requests), whatever the variable is called. */
function countRepresentations(body: unknown): number {
  if (Array.isArray(body)) return body.reduce((sum: number, item) => sum + countRepresentations(item), 0);
  const variables = (body as { variables?: Record<string, unknown> } | undefined)?.variables;
  if (!variables || typeof variables !== 'object') return 0;
  let count = 0;
  for (const value of Object.values(variables)) {
    if (
      Array.isArray(value) &&
      value.length > 0 &&
      typeof value[0] === 'object' &&
      value[0] !== null &&
      '__typename' in value[0]
    ) {
      count += value.length;
    }
  }
  return count;
}

/** What a subgraph is made of; `startSubgraph` turns it into a listening service. */
export interface SubgraphDefinition<Schema, TContext extends SubgraphContextBase> {
  name: SubgraphName;
  migrations: MigrationSet;
  /** Writes the demo data into an empty database; false when there was data already. */
  seed(database: Database<Schema>): Promise<boolean>;
  resolvers: GraphQLResolverMap<TContext>;
  /** Builds the service's long-lived parts (store, clients, background work) once per process. */
  setup(deps: {
    database: Database<Schema>;
    config: Readonly<Config>;
    logger: Logger;
    /** The service's outbox relay: nudge it after a write made outside a request (background work). */
    outbox: OutboxRelay;
  }): SubgraphParts<TContext>;
}

export interface SubgraphParts<TContext> {
  /** A fresh context (and so fresh DataLoaders) for every request; see `SubgraphOptions.createContext`. */
  createContext(caller: Caller, changes: RequestChanges, callerGone: AbortSignal): TContext;
  /** Readiness: true when the service can answer (its database responds). */
  ready(): Promise<boolean>;
  /** Stops background work, before the server and the database close. */
  stop?(): Promise<void>;
}

export interface RunningSubgraph<Schema> {
  url: string;
  database: Database<Schema>;
  outbox: OutboxRelay;
  /** The HTTP server; a graceful shutdown drains and closes it before calling `close`. */
  listening: ListeningServer;
  close(): Promise<void>;
}

/**
 * Opens the service's database (migrating and seeding it), connects its event broker and starts its outbox
 * relay, builds its server and listens. `close` undoes it all in reverse: stop listening (finishing requests in
 * flight), stop background work, the server, the relay (one last pass), the broker, then the database.
 * `broker` replaces the configured one (tests).
 */
export async function startSubgraph<Schema, TContext extends SubgraphContextBase>(
  definition: SubgraphDefinition<Schema, TContext>,
  config: Readonly<Config>,
  logger: Logger,
  overrides: { broker?: EventBroker } = {},
): Promise<RunningSubgraph<Schema>> {
  const settings = config.subgraphs[definition.name];
  const database = await openDatabase<Schema>(settings.database, definition.migrations);
  const broker = overrides.broker ?? createEventBroker(config, logger);
  // Every subgraph's migrations create the outbox table (`outboxMigration`).
  const outbox = createOutboxRelay({
    database: database as unknown as Database<OutboxSchema>,
    broker,
    service: definition.name,
    intervalMs: config.outboxIntervalMs,
    logger,
  });
  let parts: SubgraphParts<TContext> | undefined;
  try {
    if (config.seedDemoData && (await definition.seed(database))) logger.info('seeded demo data');
    parts = definition.setup({ database, config, logger, outbox });
    const server = await createSubgraphServer<TContext>({
      name: definition.name,
      resolvers: definition.resolvers,
      development: config.development,
      serviceSecret: config.serviceSecret,
      signatureMaxAgeMs: config.signatureMaxAgeMs,
      logger,
      outbox,
      createContext: parts.createContext,
      ready: parts.ready,
      statementCount: database.statementCount,
    });
    const listening = await listen(server.listener, settings.port, config.host);
    logger.info(`listening on ${listening.url}/graphql`, { database: settings.database.kind });
    const running = parts;
    return {
      url: `${listening.url}/graphql`,
      database,
      outbox,
      listening,
      async close() {
        await listening.close();
        await running.stop?.();
        await server.stop();
        await outbox.stop();
        await broker.close();
        await database.close();
      },
    };
  } catch (error) {
    await parts?.stop?.();
    await outbox.stop();
    await broker.close();
    await database.close();
    throw error;
  }
}

/**
 * The entry point every subgraph shares: read config, start, and on SIGTERM/SIGINT shut down gracefully
 * (lib/shutdown.ts): drain, stop taking requests, finish those in flight, then close everything `close` closes,
 * all within DRAIN_MS + SHUTDOWN_TIMEOUT_MS.
 */
export function runSubgraph<Schema, TContext extends SubgraphContextBase>(
  definition: SubgraphDefinition<Schema, TContext>,
): void {
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`${definition.name}: ${messageOf(error)}`);
    process.exit(78);
  }
  const logger = createLogger(definition.name, config.log);
  // Tracing first, so that the service's first request is traced.
  const starting = startTracing(config.tracing, definition.name).then(() => startSubgraph(definition, config, logger));
  starting.then(
    (running) => {
      createGracefulShutdown({
        logger,
        ...config.shutdown,
        servers: [running.listening],
        // One bound for the whole close: its steps run in order (background work, the GraphQL engine, event
        // publishing, the database), and whichever waits on a dependency that went away is abandoned with the rest.
        stop: (deadline) =>
          closeBy(
            `the ${definition.name} service (background work, event broker, database)`,
            () => running.close(),
            deadline,
            logger,
          ).then(() => stopTracingBy(deadline, logger)),
      }).handleSignals();
    },
    (error: unknown) => {
      logger.error(`failed to start: ${messageOf(error)}`);
      process.exit(1);
    },
  );
}
