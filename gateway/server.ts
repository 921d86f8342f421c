import fs from 'node:fs';
import type http from 'node:http';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
  ApolloServerPluginSchemaReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { Config } from '../lib/config';
import { maskUnexpectedErrors } from '../lib/errors';
import { createRouter, executeGraphQL, readGraphQLBody, sendJson, type RouteHandler } from '../lib/http';
import type { Logger } from '../lib/logger';
import { createAuthenticator } from './auth';
import { SubgraphDataSource, type GatewayContext } from './datasource';
import { explorerHtml } from './explorer';
import { createGatewayMetrics } from './metrics';

export interface GatewayServer {
  listener: http.RequestListener;
  metrics: ReturnType<typeof createGatewayMetrics>;
  /** Subgraph name to the URL the gateway sends it requests at. */
  subgraphUrls(): Map<string, string>;
  /** Re-reads the supergraph file; the new schema serves the next request, in-flight requests finish on the old. */
  reloadSupergraph(): void;
  stop(): Promise<void>;
}

/**
 * Builds the gateway from its config: Apollo Gateway over a static supergraph file (anyone's, not only ours),
 * served over node:http with health, readiness, metrics and an explorer. Knows no ports.
 */
export async function createGatewayServer(config: Readonly<Config>, logger: Logger): Promise<GatewayServer> {
  const metrics = createGatewayMetrics();
  const urls = new Map<string, string>();
  let updateSupergraph: ((sdl: string) => void) | undefined;
  const readSupergraph = (): string => {
    try {
      return fs.readFileSync(config.gateway.supergraphPath, 'utf8');
    } catch (error) {
      throw new Error(
        `SUPERGRAPH_PATH: cannot read '${config.gateway.supergraphPath}': ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  };

  const gateway = new ApolloGateway({
    supergraphSdl: async ({ update }) => {
      updateSupergraph = update;
      return { supergraphSdl: readSupergraph() };
    },
    buildService: ({ name, url }) => {
      const target = config.gateway.subgraphUrls[name.toLowerCase()] ?? url;
      if (!target) throw new Error(`Subgraph '${name}' has no routing URL; set SUBGRAPH_URL_${name.toUpperCase()}`);
      urls.set(name, target);
      return new SubgraphDataSource(name, target, {
        serviceSecret: config.serviceSecret,
        timeoutMs: config.gateway.subgraphTimeoutMs,
        metrics,
      });
    },
    logger: {
      debug: (message) => logger.debug(String(message)),
      info: (message) => logger.debug(String(message)),
      warn: (message) => logger.warn(String(message)),
      error: (message) => logger.error(String(message)),
    },
  });

  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    includeStacktraceInErrorResponses: config.development,
    formatError: maskUnexpectedErrors(config.development),
    introspection: true,
    plugins: [
      config.development
        ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false })
        : ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
    ],
    logger: {
      debug: (message) => logger.debug(String(message)),
      info: (message) => logger.debug(String(message)),
      warn: (message) => logger.warn(String(message)),
      error: (message) => logger.error(String(message)),
    },
  });
  await apollo.start();
  const authenticate = createAuthenticator(config.gateway.jwt);

  const graphql: RouteHandler = async (req, res) => {
    const started = performance.now();
    try {
      const caller = await authenticate(req);
      const body = await readGraphQLBody(req, config.gateway.bodyLimitBytes);
      await executeGraphQL(apollo, req, res, body, async () => ({ caller }));
    } finally {
      metrics.requestDuration.observe((performance.now() - started) / 1000);
      res.once('finish', () => metrics.httpRequests.inc({ route: '/graphql', status: String(res.statusCode) }));
    }
  };

  const readiness: RouteHandler = async (_req, res) => {
    const checks = await Promise.all(
      [...urls].map(async ([name, url]) => {
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"query":"{__typename}"}',
            signal: AbortSignal.timeout(2000),
          });
          return [name, response.ok ? 'up' : `HTTP ${response.status}`] as const;
        } catch {
          return [name, 'down'] as const;
        }
      }),
    );
    const ready = checks.length > 0 && checks.every(([, status]) => status === 'up');
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable', subgraphs: Object.fromEntries(checks) });
  };

  const listener = createRouter(
    {
      '/': graphql,
      '/graphql': graphql,
      '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
      '/readyz': readiness,
      '/metrics': (_req, res) => {
        const body = metrics.render();
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(body);
      },
      '/explorer': (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
        res.end(explorerHtml);
      },
    },
    (error, req) =>
      logger.error('request failed', { url: req.url, error: error instanceof Error ? error.message : String(error) }),
  );

  return {
    listener,
    metrics,
    subgraphUrls: () => new Map(urls),
    reloadSupergraph() {
      try {
        updateSupergraph?.(readSupergraph());
        logger.info('supergraph reloaded', { path: config.gateway.supergraphPath });
      } catch (error) {
        logger.error('supergraph reload failed; still serving the previous one', {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    },
    stop: () => apollo.stop(),
  };
}
