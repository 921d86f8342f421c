import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ExecutionArgs, FormattedExecutionResult, GraphQLSchema } from 'graphql';
import type { ExecutionResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SubscriptionsConfig } from '../../lib/config';
import { HttpError } from '../../lib/http';
import { messageOf } from '../../lib/errors';
import type { Caller } from '../../lib/identity';
import type { Logger } from '../../lib/logger';
import type { Authenticator } from '../auth';
import { toGraphQLErrors, type Admit, type createConnectionCounter } from './admission';
import { CloseCodes } from './close-codes';
import type { EventStream } from './engine';
import type { SubscriptionMetrics } from './metrics';

export interface WebSocketTransportOptions {
  settings: SubscriptionsConfig;
  /** Largest message accepted from a client (BODY_LIMIT_BYTES, as for an HTTP body). */
  maxPayloadBytes: number;
  admit: Admit;
  authenticate: Authenticator;
  connections: ReturnType<typeof createConnectionCounter>;
  metrics: SubscriptionMetrics;
  logger: Logger;
  development: boolean;
  /** The paths that accept upgrades (those of the GraphQL endpoint). */
  paths: readonly string[];
}

interface ConnectionState {
  caller?: Caller;
  release?: () => void;
}

/** What an admitted operation carries to graphql-ws's execute/subscribe, in place of a context value. */
type Prepared =
  { kind: 'operation'; run(): Promise<FormattedExecutionResult> } | { kind: 'subscription'; events: EventStream };

/**
 * graphql-ws (the `graphql-transport-ws` protocol) on the node:http server's upgrade requests to `/graphql`.
 * The caller is authenticated once per connection, in `connection_init`: `connectionParams.authorization`
 * ("Bearer <jwt>"), else the upgrade request's Authorization header, with the same authenticator as HTTP. A bad
 * token closes the socket with 4401; a caller over its connection limit, 4029. Each `subscribe` message goes
 * through the admission (edge stages, validation, the field's rule) and the per-connection limit. Heartbeats
 * are WebSocket pings every SUBSCRIPTIONS_HEARTBEAT_MS; a client that misses one pong is dropped.
 */
export function createWebSocketTransport(options: WebSocketTransportOptions) {
  const { settings, metrics, logger } = options;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes });
  const states = new WeakMap<WebSocket, ConnectionState>();
  const stateOf = (socket: WebSocket) => {
    let state = states.get(socket);
    if (!state) states.set(socket, (state = {}));
    return state;
  };

  const server = useServer<Record<string, unknown> | undefined>(
    {
      isProd: !options.development,
      async onConnect(ctx) {
        const { socket, request } = ctx.extra;
        const fromParams = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        const header = typeof fromParams === 'string' ? fromParams : request.headers.authorization;
        let caller: Caller;
        try {
          caller = await options.authenticate.fromHeader(header);
        } catch (error) {
          if (!(error instanceof HttpError)) throw error;
          socket.close(error.status === 401 ? CloseCodes.unauthenticated : CloseCodes.tryAgainLater, error.message);
          return false;
        }
        const release = options.connections.open(caller, request);
        if (!release) {
          socket.close(
            CloseCodes.tooManyConnections,
            `Over ${settings.maxConnectionsPerCaller} connections (SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER)`,
          );
          return false;
        }
        const state = stateOf(socket);
        state.caller = caller;
        state.release = release;
        metrics.connections.inc({ transport: 'graphql-ws' });
        return true;
      },
      onClose(ctx) {
        const state = stateOf(ctx.extra.socket);
        if (!state.release) return;
        state.release();
        state.release = undefined;
        metrics.connections.dec({ transport: 'graphql-ws' });
      },
      async onSubscribe(ctx, _id, payload) {
        const { socket, request } = ctx.extra;
        const caller = stateOf(socket).caller!;
        // The new subscription's id is already reserved in `ctx.subscriptions`.
        if (Object.keys(ctx.subscriptions).length > settings.maxPerConnection)
          return toGraphQLErrors([
            {
              message: `Over ${settings.maxPerConnection} subscriptions on this connection (SUBSCRIPTIONS_MAX_PER_CONNECTION)`,
              extensions: { code: 'SUBSCRIPTION_LIMIT_EXCEEDED' },
            },
          ]);
        const admission = await options.admit(request, caller, payload, {
          transport: 'graphql-ws',
          onSlow: () => socket.close(CloseCodes.slowConsumer, 'Slow consumer: events were not read fast enough'),
          isBackedUp: () => socket.bufferedAmount > settings.maxBufferedBytes,
        });
        if (admission.kind === 'refused') return toGraphQLErrors(admission.errors);
        const prepared: Prepared =
          admission.kind === 'operation' ? { kind: 'operation', run: admission.run } : admission;
        // graphql-ws only needs the document to tell a subscription from the rest; we run both ourselves.
        return {
          schema: undefined as unknown as GraphQLSchema,
          document: admission.document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue: prepared,
        } satisfies ExecutionArgs;
      },
      // Our results are already formatted (masked errors, codes); graphql-ws sends them as they are.
      execute: (args) => {
        const prepared = args.contextValue as Prepared;
        return (prepared.kind === 'operation' ? prepared.run() : { errors: [] }) as Promise<ExecutionResult>;
      },
      subscribe: (args) => {
        const prepared = args.contextValue as Prepared;
        return (prepared.kind === 'subscription' ? prepared.events : prepared.run()) as AsyncGenerator<ExecutionResult>;
      },
    },
    wss,
    settings.heartbeatMs,
  );

  return {
    /** For the http.Server's `upgrade` event. */
    handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
      const path = (req.url ?? '/').split('?')[0]!;
      if (!options.paths.includes(path)) {
        socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        return;
      }
      socket.on('error', (error) => logger.debug('a WebSocket upgrade failed', { error: messageOf(error) }));
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    },
    /** Closes every connection with 1001 Going away and stops accepting new ones. */
    close: () => server.dispose(),
  };
}
