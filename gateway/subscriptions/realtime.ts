import type http from 'node:http';
import type { ApolloGateway } from '@apollo/gateway';
import type { ApolloServer } from '@apollo/server';
import type { FormattedExecutionResult, GraphQLSchema } from 'graphql';
import type { Config } from '../../lib/config';
import type { EntityChange } from '../../lib/events';
import type { ListeningServer } from '../../lib/http';
import type { Caller } from '../../lib/identity';
import type { Logger } from '../../lib/logger';
import type { Authenticator } from '../auth';
import { newRequestStats, type GatewayContext } from '../datasource';
import type { Edge } from '../edge/pipeline';
import type { GatewayMetrics } from '../metrics';
import { createAdmission, createConnectionCounter, type StreamedOperation } from './admission';
import { createSubscriptionEngine } from './engine';
import { createRedisEventSource } from './event-source';
import { createSubscriptionMetrics } from './metrics';
import { createSseTransport, wantsEventStream } from './sse';
import { createWebSocketTransport } from './ws';

export interface RealtimeOptions {
  config: Readonly<Config>;
  logger: Logger;
  metrics: GatewayMetrics;
  apollo: ApolloServer<GatewayContext>;
  gateway: ApolloGateway;
  edge: Edge;
  authenticate: Authenticator;
  evict(changes: EntityChange[]): Promise<void>;
  /** The paths of the GraphQL endpoint. */
  paths: readonly string[];
}

export interface Realtime {
  /** Whether this HTTP request is an SSE subscription (or operation) for `handleEventStream`. */
  wantsEventStream(req: http.IncomingMessage): boolean;
  handleEventStream(req: http.IncomingMessage, res: http.ServerResponse, caller: Caller): Promise<void>;
  /** Serves graphql-ws upgrades on this listener; its `close()` then ends subscriptions first (1001). */
  attach(listening: ListeningServer): ListeningServer;
  /** Ends every subscription: graphql-ws connections get 1001 Going away, SSE streams end. Idempotent. */
  close(): Promise<void>;
}

/**
 * Subscriptions and the streaming transports, put together (README "Realtime"): the broker's events
 * (event-source.ts) feed the engine (engine.ts), which runs each event's query through the gateway's own
 * Apollo Server; graphql-ws (ws.ts) and SSE (sse.ts) carry them, both admitted the same way (admission.ts).
 */
export function createRealtime(options: RealtimeOptions): Realtime {
  const { config, logger, apollo } = options;
  const settings = config.gateway.subscriptions;
  const metrics = createSubscriptionMetrics(options.metrics.registry);

  // The schema already loaded (Apollo Server has started), then every reload's.
  let apiSchema: GraphQLSchema | undefined = options.gateway.schema;
  const stopWatchingSchema = options.gateway.onSchemaLoadOrUpdate(({ apiSchema: schema }) => (apiSchema = schema));

  const execute = async (
    request: {
      query: string;
      variables?: Record<string, unknown>;
      operationName?: string;
      extensions?: Record<string, unknown>;
    },
    caller: Caller,
  ): Promise<FormattedExecutionResult> => {
    const response = await apollo.executeOperation(request, {
      contextValue: { caller, stats: newRequestStats() },
    });
    if (response.body.kind === 'single') return response.body.singleResult;
    return response.body.initialResult as FormattedExecutionResult;
  };

  const redis = config.redis.target;
  const engine =
    settings.enabled && redis
      ? createSubscriptionEngine({
          source: createRedisEventSource({
            redis,
            changeStream: config.redis.changeStream,
            logger,
            commandTimeoutMs: config.redis.commandTimeoutMs,
          }),
          runQuery: (query, variables, caller) => execute({ query, variables }, caller),
          evict: options.evict,
          metrics,
          logger,
          maxQueuedEvents: settings.maxQueuedEvents,
        })
      : undefined;

  const admit = createAdmission({
    edge: options.edge,
    schema: () => apiSchema,
    engine,
    runOperation: (operation: StreamedOperation, caller) =>
      execute(
        {
          query: operation.query!,
          variables: operation.variables ?? undefined,
          operationName: operation.operationName ?? undefined,
          extensions: operation.extensions ?? undefined,
        },
        caller,
      ),
  });
  const connections = createConnectionCounter(settings.maxConnectionsPerCaller);
  const ws = createWebSocketTransport({
    settings,
    maxPayloadBytes: config.gateway.bodyLimitBytes,
    admit,
    authenticate: options.authenticate,
    connections,
    metrics,
    logger,
    development: config.development,
    paths: options.paths,
  });
  const sse = createSseTransport({
    settings,
    bodyLimitBytes: config.gateway.bodyLimitBytes,
    admit,
    connections,
    metrics,
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      stopWatchingSchema();
      // Connections first, subscriptions after: a subscription ended first would send its client `complete`,
      // and a completed subscription is not resubscribed after the reconnect.
      sse.close();
      await ws.close();
      await engine?.close();
    })());

  return {
    wantsEventStream,
    handleEventStream: (req, res, caller) => sse.handle(req, res, caller),
    attach(listening) {
      listening.server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) =>
        ws.handleUpgrade(req, socket, head),
      );
      return {
        ...listening,
        async close() {
          // Stop accepting first, so that clients told to go away reconnect elsewhere.
          const closed = listening.close();
          await close();
          await closed;
        },
      };
    },
    close,
  };
}
