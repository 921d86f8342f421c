import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { Config } from '../lib/config';
import { maskUnexpectedErrors, messageOf } from '../lib/errors';
import { createRedisChangeSubscriber, type ChangeSubscriber } from '../lib/events';
import {
  createRouter,
  readGraphQLBody,
  runGraphQL,
  sendJson,
  writeGraphQLResult,
  type RouteHandler,
} from '../lib/http';
import { ANONYMOUS, callerHeaders } from '../lib/identity';
import type { Logger } from '../lib/logger';
import { createAuthenticator } from './auth';
import { createEntityCache, type EntityCache } from './cache/entity-cache';
import { persistedQueryCache } from './cache/persisted-queries';
import { createCachePolicy, type CachePolicy } from './cache/policy';
import { createMemoryCacheStore, createRedisCacheStore, type CacheStore } from './cache/store';
import { newRequestStats, SubgraphDataSource, type GatewayContext } from './datasource';
import { installPlanExecutor } from './execution/executor';
import { explorerHtml } from './explorer';
import { createEntityKeyIndex, type EntityKeyIndex } from './fetch/entity-keys';
import { createSubgraphHttpClient } from './fetch/http-client';
import { createCostModel, type CostModel } from '../lib/cost-model';
import { createEdge } from './edge/pipeline';
import { createRateLimit, createRateLimitStore } from './edge/rate-limit';
import { graphQLParams, sendRejection, type EdgeRequest } from './edge/request';
import { createInboundDeduplicator } from './inbound';
import { createGatewayMetrics } from './metrics';

export interface GatewayServer {
  listener: http.RequestListener;
  /** `/metrics` alone, for its own port (METRICS_PORT); undefined when metrics are served on the public port. */
  metricsListener: http.RequestListener | undefined;
  metrics: ReturnType<typeof createGatewayMetrics>;
  cacheStore: CacheStore;
  entityCache: EntityCache | undefined;
  /** Subgraph name to the URL the gateway sends it requests at. */
  subgraphUrls(): Map<string, string>;
  /** Re-reads the supergraph file; the new schema serves the next request, in-flight requests finish on the old. */
  reloadSupergraph(): void;
  stop(): Promise<void>;
}

/** Constant-time comparison of an `Authorization: Bearer` header with the expected token. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) return false;
  const given = crypto.createHash('sha256').update(match[1]!).digest();
  const expected = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(given, expected);
}

export interface GatewayDependencies {
  /** Change events from subgraphs (Redis stream); evictions for writes that did not pass through this gateway. */
  changes?: ChangeSubscriber;
}

/**
 * Builds the gateway from its config: Apollo Gateway over a static supergraph file (anyone's, not only ours),
 * with our own subgraph data source (batching, deduplication, entity cache) and a node:http front (health,
 * readiness, metrics, explorer, inbound deduplication). Knows no ports.
 */
export async function createGatewayServer(
  config: Readonly<Config>,
  logger: Logger,
  dependencies: GatewayDependencies = {},
): Promise<GatewayServer> {
  const settings = config.gateway;
  const metrics = createGatewayMetrics();
  const urls = new Map<string, string>();
  const http = createSubgraphHttpClient();
  const cacheStore: CacheStore = config.redis.url
    ? createRedisCacheStore({
        url: config.redis.url,
        timeoutMs: config.redis.commandTimeoutMs,
        keyPrefix: config.redis.keyPrefix,
        logger,
        metrics,
      })
    : createMemoryCacheStore(settings.entityCache.maxEntries);

  const readSupergraph = (): string => {
    try {
      return fs.readFileSync(settings.supergraphPath, 'utf8');
    } catch (error) {
      throw new Error(`SUPERGRAPH_PATH: cannot read '${settings.supergraphPath}': ${messageOf(error)}`);
    }
  };
  // The cache policy follows the supergraph; a reload swaps it with the schema.
  let entityCache: EntityCache | undefined;
  let policy: CachePolicy | undefined;
  // The key index of the supergraph served, read by the data sources on every fetch.
  let entityKeys: EntityKeyIndex | undefined;
  let costModel: CostModel | undefined;
  let servedSdl: string | undefined;
  const usePolicy = (sdl: string) => {
    servedSdl = sdl;
    costModel = createCostModel(sdl, { defaultListSize: settings.cost.defaultListSize });
    policy = createCachePolicy(sdl, settings.entityCache.ttlOverrides);
    entityKeys = createEntityKeyIndex(sdl);
    entityCache = settings.entityCache.enabled
      ? createEntityCache({
          store: cacheStore,
          policy,
          metrics,
          logger,
          staleIfErrorSeconds: settings.resilience.staleIfErrorSeconds,
        })
      : undefined;
  };
  const cacheProxy: EntityCache = {
    resolve: (subgraph, fetches, context) =>
      entityCache
        ? entityCache.resolve(subgraph, fetches, context)
        : Promise.resolve(fetches.map(() => ({ kind: 'bypass' as const }))),
    evict: (changes) => entityCache?.evict(changes) ?? Promise.resolve(),
  };

  let updateSupergraph: ((sdl: string) => void) | undefined;
  const gatewayLogger = {
    debug: (message: unknown) => logger.debug(String(message)),
    info: (message: unknown) => logger.debug(String(message)),
    warn: (message: unknown) => logger.warn(String(message)),
    error: (message: unknown) => logger.error(String(message)),
  };
  const gateway = new ApolloGateway({
    supergraphSdl: async ({ update }) => {
      updateSupergraph = update;
      const sdl = readSupergraph();
      usePolicy(sdl);
      return { supergraphSdl: sdl };
    },
    buildService: ({ name, url }) => {
      const target = settings.subgraphUrls[name.toLowerCase()] ?? url;
      if (!target) throw new Error(`Subgraph '${name}' has no routing URL; set SUBGRAPH_URL_${name.toUpperCase()}`);
      urls.set(name, target);
      return new SubgraphDataSource(name, target, {
        serviceSecret: config.serviceSecret,
        timeoutMs: settings.subgraphTimeoutMs,
        metrics,
        http,
        batching: settings.batching,
        dedupInflight: settings.dedupInflight,
        cache: settings.entityCache.enabled ? cacheProxy : undefined,
        keyIndex: () => entityKeys,
        resilience: settings.resilience,
      });
    },
    __exposeQueryPlanExperimental: settings.debugExtensions,
    logger: gatewayLogger,
  });

  if (settings.planExecutor === 'waves') {
    installPlanExecutor(gateway, { logger, metrics, exposeQueryPlan: settings.debugExtensions });
  }

  const plugins: ApolloServerPlugin<GatewayContext>[] = [
    settings.explorer
      ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
      : ApolloServerPluginLandingPageDisabled(),
    ApolloServerPluginUsageReportingDisabled(),
    ApolloServerPluginSchemaReportingDisabled(),
  ];
  // Entities served past their TTL because their subgraph failed are marked in every environment: the
  // client may want to say "as of a moment ago".
  plugins.push({
    async requestDidStart() {
      return {
        async willSendResponse({ response, contextValue }) {
          const stale = contextValue.stats.staleEntities;
          if (!stale || response.body.kind !== 'single') return;
          response.body.singleResult.extensions = {
            ...response.body.singleResult.extensions,
            staleIfError: { entities: stale },
          };
        },
      };
    },
  });
  // A persisted query the gateway does not know (or APQ turned off) is the client's to fix: 400, not 200, so
  // that every client mistake is a 4xx. Apollo Client's persisted-query link retries with the full text on
  // either status.
  plugins.push({
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const codes = response.body.singleResult.errors?.map((error) => error.extensions?.code);
          if (codes?.some((code) => code === 'PERSISTED_QUERY_NOT_FOUND' || code === 'PERSISTED_QUERY_NOT_SUPPORTED'))
            response.http.status = 400;
        },
      };
    },
  });
  if (settings.debugExtensions) {
    // What this request did on the network, as Apollo Router and Cosmo show it in development.
    plugins.push({
      async requestDidStart() {
        return {
          async willSendResponse({ response, contextValue }) {
            if (response.body.kind !== 'single') return;
            response.body.singleResult.extensions = {
              ...response.body.singleResult.extensions,
              gateway: { ...contextValue.stats },
            };
          },
        };
      },
    });
  }
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    includeStacktraceInErrorResponses: config.development,
    // Our entry points own SIGTERM/SIGINT and the shutdown order; Apollo's own handler would race them.
    stopOnTerminationSignals: false,
    formatError: maskUnexpectedErrors(config.development),
    introspection: settings.introspection,
    persistedQueries: settings.persistedQueries ? { cache: persistedQueryCache(cacheStore) } : false,
    plugins,
    logger: gatewayLogger,
  });
  await apollo.start();
  const authenticate = createAuthenticator(settings.jwt);
  const inbound = createInboundDeduplicator(settings.dedupInbound, metrics);

  const rateLimitStore = settings.rateLimit.enabled
    ? createRateLimitStore({
        redisUrl: config.redis.url,
        timeoutMs: config.redis.commandTimeoutMs,
        keyPrefix: config.redis.keyPrefix,
        logger,
      })
    : undefined;
  const edge = createEdge(config, logger, metrics, {
    costModel: () => costModel,
    rateLimiter: rateLimitStore ? createRateLimit({ ...settings.rateLimit, store: rateLimitStore }) : undefined,
  });

  // The request path, in order: who is calling, the body, then each edge duty (gateway/edge/*), then Apollo.
  const graphql: RouteHandler = async (req, res) => {
    const started = performance.now();
    try {
      const caller = await authenticate(req);
      const body = await readGraphQLBody(req, settings.bodyLimitBytes);
      const request: EdgeRequest = { req, caller, body, params: graphQLParams(req, body) };
      const rejection = await edge.check(request);
      if (rejection) {
        sendRejection(res, { ...rejection, headers: { ...request.headers, ...rejection.headers } });
        return;
      }
      if (request.headers) for (const [name, value] of Object.entries(request.headers)) res.setHeader(name, value);
      const execute = () =>
        runGraphQL(apollo, req, body, async () => ({ caller, stats: { ...newRequestStats(), cost: request.cost } }));
      writeGraphQLResult(res, await inbound.run(req, body, caller, execute));
    } finally {
      metrics.requestDuration.observe((performance.now() - started) / 1000);
      res.once('finish', () => metrics.httpRequests.inc({ route: '/graphql', status: String(res.statusCode) }));
    }
  };

  const readiness: RouteHandler = async (_req, res) => {
    const checks = await Promise.all(
      [...urls].map(async ([name, url]) => {
        try {
          const probe = '{"query":"{__typename}"}';
          const response = await http.post(url, probe, callerHeaders(config.serviceSecret, ANONYMOUS, probe), 2000);
          return [name, response.status === 200 ? 'up' : `HTTP ${response.status}`] as const;
        } catch {
          return [name, 'down'] as const;
        }
      }),
    );
    const ready = checks.length > 0 && checks.every(([, status]) => status === 'up');
    sendJson(res, ready ? 200 : 503, {
      status: ready ? 'ready' : 'unavailable',
      subgraphs: Object.fromEntries(checks),
    });
  };

  // /metrics: on the public port unless configured off it (production without a token, or METRICS_PORT),
  // behind a bearer token when METRICS_TOKEN is set.
  const metricsRoute: RouteHandler = (req, res) => {
    const token = settings.metrics.token;
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      sendJson(
        res,
        401,
        {
          errors: [
            { message: 'GET /metrics needs the METRICS_TOKEN bearer token', extensions: { code: 'UNAUTHENTICATED' } },
          ],
        },
        { 'www-authenticate': 'Bearer' },
      );
      return;
    }
    const body = metrics.render();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(body);
  };
  const routes: Record<string, RouteHandler> = {
    '/': graphql,
    '/graphql': graphql,
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': readiness,
  };
  if (settings.metrics.public) routes['/metrics'] = metricsRoute;
  if (settings.explorer)
    routes['/explorer'] = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(explorerHtml);
    };
  const onRouteError = (error: unknown, req: http.IncomingMessage) =>
    logger.error('request failed', { url: req.url, error: messageOf(error) });
  const metricsListener =
    settings.metrics.port !== undefined ? createRouter({ '/metrics': metricsRoute }, onRouteError) : undefined;
  const listener = createRouter(routes, onRouteError);

  // Writes that did not pass through this replica (another replica's, service to service, the recovery loop)
  // reach it on the change stream.
  const changes =
    dependencies.changes ??
    (config.redis.url && settings.entityCache.enabled
      ? createRedisChangeSubscriber({
          url: config.redis.url,
          streamKey: config.redis.changeStream,
          logger,
          commandTimeoutMs: config.redis.commandTimeoutMs,
        })
      : undefined);
  if (changes && settings.entityCache.enabled) {
    await changes.subscribe((batch) => {
      metrics.changeEvents.inc({}, batch.length);
      void cacheProxy.evict(batch);
    });
  }

  return {
    listener,
    metricsListener,
    metrics,
    cacheStore,
    get entityCache() {
      return settings.entityCache.enabled ? cacheProxy : undefined;
    },
    subgraphUrls: () => new Map(urls),
    reloadSupergraph() {
      try {
        const sdl = readSupergraph();
        const previous = servedSdl;
        // Policy and key index first, so the new schema's first requests see them.
        usePolicy(sdl);
        try {
          updateSupergraph?.(sdl);
        } catch (error) {
          if (previous !== undefined) usePolicy(previous);
          throw error;
        }
        logger.info('supergraph reloaded', { path: settings.supergraphPath });
      } catch (error) {
        logger.error('supergraph reload failed; still serving the previous one', { error: messageOf(error) });
      }
    },
    async stop() {
      await apollo.stop();
      // Independent clients, closed side by side: each bounds its own close, so one Redis that went away costs its
      // own timeout once rather than holding up the others.
      await Promise.all([changes?.close(), cacheStore.close(), rateLimitStore?.close(), http.close()]);
    },
  };
}
