import fs from 'node:fs';
import type http from 'node:http';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginSchemaReportingDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import type { Config } from '../lib/config';
import { maskUnexpectedErrors, messageOf } from '../lib/errors';
import { createRedisChangeSubscriber, type ChangeSubscriber } from '../lib/events';
import {
  createRouter,
  readGraphQLBody,
  runGraphQL,
  sendJson,
  writeGraphQLResult,
  type ListeningServer,
  type RouteHandler,
} from '../lib/http';
import { ANONYMOUS, callerHeaders } from '../lib/identity';
import { annotateActiveSpan, TraceAttributes, traceContextOf, tracedRoute } from '../lib/tracing';
import type { Logger } from '../lib/logger';
import { createAuthenticator } from './auth';
import { createEntityCache, type EntityCache } from './cache/entity-cache';
import { persistedQueryCache } from './cache/persisted-queries';
import { createCachePolicy, type CachePolicy } from './cache/policy';
import { createMemoryCacheStore, createRedisCacheStore, type CacheStore } from './cache/store';
import { newRequestStats, SubgraphDataSource, type GatewayContext } from './datasource';
import { installPlanExecutor } from './execution/executor';
import { DeferredDelivery, withDeferredDelivery } from './execution/defer';
import { runApolloExecutorWithoutDefer, serveDeferDirective } from './execution/defer-schema';
import { acceptsIncrementalDelivery, writeIncrementalResult } from './defer-transport';
import { createExplorerRoutes, EXPLORER_ASSETS_PREFIX, EXPLORER_PATH } from './explorer/serve';
import { isBareGet, landingPagePlugin, sendServiceInfo } from './landing-page';
import { createCors } from './edge/cors';
import { createEntityKeyIndex, type EntityKeyIndex } from './fetch/entity-keys';
import { createSubgraphHttpClient } from './fetch/http-client';
import { createCostModel, type CostModel } from '../lib/cost-model';
import { createEdge } from './edge/pipeline';
import { createRateLimit, createRateLimitStore } from './edge/rate-limit';
import { graphQLParams, rejectionResult, type EdgeRequest } from './edge/request';
import { answerBatch, type Admission } from './batch';
import { createInboundDeduplicator } from './inbound';
import { createGatewayMetrics } from './metrics';
import { watchSupergraph } from './supergraph-watch';
import { createAccessLog } from './edge/access-log';
import { manifestOperationNames } from './edge/trusted-documents';
import { bearerMatches } from '../lib/bearer';
import { METRICS_CONTENT_TYPE } from '../lib/metrics';
import { unknownSubgraphUrlOverrides } from './subgraph-urls';
import { withLinkedDirectiveTypesImported } from '../lib/api-schema';
import { createRealtime } from './subscriptions/realtime';

export interface GatewayServer {
  listener: http.RequestListener;
  /** `/metrics` alone, for its own port (METRICS_PORT); undefined when metrics are served on the public port. */
  metricsListener: http.RequestListener | undefined;
  metrics: ReturnType<typeof createGatewayMetrics>;
  cacheStore: CacheStore;
  entityCache: EntityCache | undefined;
  /** Subgraph name to the URL the gateway sends it requests at. */
  subgraphUrls(): Map<string, string>;
  /**
   * Re-reads the supergraph file; the new schema serves the next request, in-flight requests finish on the old.
   * `cause` (default `SIGHUP`) is logged with the outcome.
   */
  reloadSupergraph(cause?: string): void;
  /**
   * Serves subscriptions over graphql-ws on this listener's upgrade requests (SSE needs nothing more); the
   * listener returned first ends them (1001 Going away) when closed. Use it in place of the one passed.
   */
  attach(listening: ListeningServer): ListeningServer;
  stop(): Promise<void>;
}

export interface GatewayDependencies {
  /** Change events from subgraphs (Redis stream); evictions for writes that did not pass through this gateway. */
  changes?: ChangeSubscriber;
  /** What `/metrics` serves instead of this gateway's own registry (a cluster worker: every worker's, summed). */
  renderMetrics?: () => Promise<string>;
  /** Added to `/healthz`'s answer (a cluster worker outside production: which worker and process answered). */
  health?: Readonly<Record<string, string | number>>;
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
  const metrics = createGatewayMetrics({
    operationNames: {
      known: manifestOperationNames(settings.trustedDocuments),
      maxDistinct: settings.metrics.operationNames,
    },
  });
  const urls = new Map<string, string>();
  const http = createSubgraphHttpClient();
  const cacheStore: CacheStore = config.redis.target
    ? createRedisCacheStore({
        redis: config.redis.target,
        timeoutMs: config.redis.commandTimeoutMs,
        keyPrefix: config.redis.keyPrefix,
        logger,
        metrics,
      })
    : createMemoryCacheStore(settings.entityCache.maxEntries);

  const readSupergraph = (): string => {
    let sdl: string;
    try {
      sdl = fs.readFileSync(settings.supergraphPath, 'utf8');
    } catch (error) {
      throw new Error(`SUPERGRAPH_PATH: cannot read '${settings.supergraphPath}': ${messageOf(error)}`);
    }
    const unknownOverrides = unknownSubgraphUrlOverrides(sdl, settings.subgraphUrls, settings.supergraphPath);
    if (unknownOverrides) throw new Error(unknownOverrides);
    return sdl;
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
    policy = createCachePolicy(sdl, settings.entityCache.ttlOverrides, {
      maxAge: settings.entityCache.defaultMaxAge,
      publicTypes: settings.entityCache.publicTypes,
    });
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
      return { supergraphSdl: withLinkedDirectiveTypesImported(sdl) };
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
    // Plans with Defer nodes, which our executor delivers incrementally (gateway/execution/defer.ts).
    queryPlannerConfig: { incrementalDelivery: { enableDefer: true } },
    logger: gatewayLogger,
  });
  serveDeferDirective(gateway);

  if (settings.planExecutor === 'waves') {
    installPlanExecutor(gateway, { logger, metrics, exposeQueryPlan: settings.debugExtensions });
  } else {
    runApolloExecutorWithoutDefer(gateway);
  }

  const plugins: ApolloServerPlugin<GatewayContext>[] = [
    settings.explorer ? landingPagePlugin() : ApolloServerPluginLandingPageDisabled(),
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
  const formatError = maskUnexpectedErrors(config.development);
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    includeStacktraceInErrorResponses: config.development,
    // Our entry points own SIGTERM/SIGINT and the shutdown order; Apollo's own handler would race them.
    stopOnTerminationSignals: false,
    formatError,
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
        redis: config.redis.target,
        timeoutMs: config.redis.commandTimeoutMs,
        keyPrefix: config.redis.keyPrefix,
        logger,
      })
    : undefined;
  const edge = createEdge(config, logger, metrics, {
    costModel: () => costModel,
    rateLimiter: rateLimitStore ? createRateLimit({ ...settings.rateLimit, store: rateLimitStore }) : undefined,
  });

  const accessLog = createAccessLog({ logger, metrics, callerSalt: config.log.callerSalt });
  // Subscriptions (graphql-ws, SSE) fed by the broker's events: gateway/subscriptions/.
  const realtime = createRealtime({
    config,
    logger,
    metrics,
    apollo,
    gateway,
    edge,
    authenticate,
    evict: (changes) => cacheProxy.evict(changes),
    paths: ['/', '/graphql'],
  });

  // The request path, in order: who is calling, the body, then each edge duty (gateway/edge/*), then Apollo.
  const graphql: RouteHandler = tracedRoute(async (req, res) => {
    const access = accessLog.start(req, res);
    try {
      const caller = await authenticate(req);
      const body = await readGraphQLBody(req, settings.bodyLimitBytes);
      // One operation through the edge stages; admitted, it runs on Apollo (identical concurrent ones shared).
      const admit = async (operation: unknown, delivery?: DeferredDelivery): Promise<Admission> => {
        const request: EdgeRequest = { req, caller, body: operation, params: graphQLParams(req, operation) };
        const rejection = await edge.check(request);
        access.operation(request);
        annotateActiveSpan({
          [TraceAttributes.operationName]: request.operation?.name?.value ?? request.params?.operationName,
          [TraceAttributes.operationType]: request.operation?.operation,
        });
        if (rejection) {
          const headers = { ...request.headers, ...rejection.headers };
          return { kind: 'rejected', result: rejectionResult({ ...rejection, headers }) };
        }
        const execute = () =>
          runGraphQL(apollo, req, operation, async () =>
            withDeferredDelivery(
              access.context({
                caller,
                stats: { ...newRequestStats(), cost: request.cost },
                trace: traceContextOf(req),
              }),
              delivery,
            ),
          );
        // A request that may stream has its own execution: a shared one would share only the first payload.
        const run = () => (delivery ? execute() : inbound.run(req, operation, caller, execute));
        return { kind: 'admitted', headers: request.headers ?? {}, run };
      };
      if (Array.isArray(body)) {
        writeGraphQLResult(
          res,
          access.answered(await answerBatch(body, { maxOperations: settings.batchMaxOperations }, admit)),
        );
        return;
      }
      const delivery = acceptsIncrementalDelivery(req.headers.accept) ? new DeferredDelivery() : undefined;
      const admission = await admit(body, delivery);
      if (admission.kind === 'rejected') {
        writeGraphQLResult(res, access.answered(admission.result));
        return;
      }
      for (const [name, value] of Object.entries(admission.headers)) res.setHeader(name, value);
      const result = access.answered(await admission.run());
      if (delivery?.started && result.status === 200) await writeIncrementalResult(res, result, delivery, formatError);
      else writeGraphQLResult(res, result);
    } catch (error) {
      access.failed(error);
      throw error;
    }
  });

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
  const metricsRoute: RouteHandler = async (req, res) => {
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
    const body = await (dependencies.renderMetrics ?? metrics.render)();
    res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
    res.end(body);
  };
  // A GET without a query gets what the gateway serves and where, rather than Apollo's CSRF refusal.
  const graphqlOrInfo: RouteHandler = async (req, res) => {
    if (realtime.wantsEventStream(req)) return realtime.handleEventStream(req, res, await authenticate(req));
    return isBareGet(req, settings.explorer) ? sendServiceInfo(res, settings.explorer) : graphql(req, res);
  };
  const routes: Record<string, RouteHandler> = {
    '/': graphqlOrInfo,
    '/graphql': graphqlOrInfo,
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok', ...dependencies.health }),
    '/readyz': readiness,
  };
  if (settings.metrics.public) routes['/metrics'] = metricsRoute;
  const explorer = settings.explorer ? createExplorerRoutes(logger) : undefined;
  if (explorer) routes[EXPLORER_PATH] = explorer.page;
  const onRouteError = (error: unknown, req: http.IncomingMessage) =>
    logger.error('request failed', { url: req.url, error: messageOf(error) });
  const metricsListener =
    settings.metrics.port !== undefined ? createRouter({ '/metrics': metricsRoute }, onRouteError) : undefined;
  const router = createRouter(routes, onRouteError);
  const cors = createCors(settings.cors);
  // CORS first: preflights are answered before routing (Apollo would refuse them), and every answer, errors
  // included, carries its headers. The explorer's files are the one route matched by prefix.
  const listener: http.RequestListener = (req, res) => {
    if (cors.handle(req, res)) return;
    if (explorer && req.url?.startsWith(EXPLORER_ASSETS_PREFIX)) {
      Promise.resolve(explorer.asset(req, res)).catch((error: unknown) => onRouteError(error, req));
      return;
    }
    router(req, res);
  };

  // Writes that did not pass through this replica (another replica's, service to service, the recovery loop)
  // reach it on the change stream.
  const changes =
    dependencies.changes ??
    (config.redis.target && settings.entityCache.enabled
      ? createRedisChangeSubscriber({
          redis: config.redis.target,
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

  // SUPERGRAPH_WATCH: a changed file reloads through the same path as SIGHUP (gateway/supergraph-watch.ts).
  const supergraphWatch = settings.supergraphWatch
    ? watchSupergraph({ file: settings.supergraphPath, logger, reload: (cause) => server.reloadSupergraph(cause) })
    : undefined;
  const server: GatewayServer = {
    listener,
    metricsListener,
    metrics,
    cacheStore,
    get entityCache() {
      return settings.entityCache.enabled ? cacheProxy : undefined;
    },
    subgraphUrls: () => new Map(urls),
    reloadSupergraph(cause = 'SIGHUP') {
      try {
        const sdl = readSupergraph();
        const previous = servedSdl;
        // Policy and key index first, so the new schema's first requests see them.
        usePolicy(sdl);
        try {
          updateSupergraph?.(withLinkedDirectiveTypesImported(sdl));
        } catch (error) {
          if (previous !== undefined) usePolicy(previous);
          throw error;
        }
        logger.info('supergraph reloaded', { path: settings.supergraphPath, cause });
      } catch (error) {
        logger.error('supergraph reload failed; still serving the previous one', { cause, error: messageOf(error) });
      }
    },
    attach: (listening) => realtime.attach(listening),
    async stop() {
      supergraphWatch?.close();
      await realtime.close();
      await apollo.stop();
      // Independent clients, closed side by side: each bounds its own close, so one Redis that went away costs its
      // own timeout once rather than holding up the others.
      await Promise.all([changes?.close(), cacheStore.close(), rateLimitStore?.close(), http.close()]);
    },
  };
  return server;
}
