import type http from 'node:http';
import type { ExecutionResult } from 'graphql';
import { createHandler, type RequestParams } from 'graphql-sse';
import type { SubscriptionsConfig } from '../../lib/config';
import { readGraphQLBody, sendJson } from '../../lib/http';
import type { Caller } from '../../lib/identity';
import type { Admit, createConnectionCounter } from './admission';
import type { SubscriptionMetrics } from './metrics';

export interface SseTransportOptions {
  settings: SubscriptionsConfig;
  bodyLimitBytes: number;
  admit: Admit;
  connections: ReturnType<typeof createConnectionCounter>;
  metrics: SubscriptionMetrics;
}

interface StreamContext {
  res: http.ServerResponse;
  caller: Caller;
}

/** A request graphql-sse should answer: the "distinct connections" mode, one event stream per operation. */
export const wantsEventStream = (req: http.IncomingMessage): boolean =>
  (req.method === 'POST' || req.method === 'GET') && req.headers.accept === 'text/event-stream';

/**
 * GraphQL over Server-Sent Events (graphql-sse's protocol, distinct connections mode) on `/graphql`: a POST (or
 * GET) with `Accept: text/event-stream` gets one event stream for its operation. The caller comes from the
 * Authorization header, as for any HTTP request; a refusal at subscribe time is an HTTP 4xx with the code. The
 * library sends an SSE comment every 12 s as a heartbeat. Our adapter (rather than graphql-sse's own node:http
 * one) reads the body within BODY_LIMIT_BYTES, and cuts a stream whose unsent bytes pass
 * SUBSCRIPTIONS_MAX_BUFFERED_BYTES instead of letting them grow.
 */
export function createSseTransport(options: SseTransportOptions) {
  const { settings, metrics } = options;
  const streams = new Set<http.ServerResponse>();
  const handler = createHandler<http.IncomingMessage, StreamContext>({
    async onSubscribe(req, params: RequestParams) {
      const { res, caller } = req.context;
      const admission = await options.admit(req.raw, caller, params, {
        transport: 'sse',
        onSlow: () => res.destroy(),
        isBackedUp: () => res.writableLength > settings.maxBufferedBytes,
      });
      switch (admission.kind) {
        case 'refused':
          return [
            JSON.stringify({ errors: admission.errors }),
            {
              status: admission.status,
              statusText: 'Refused',
              headers: { 'content-type': 'application/json; charset=utf-8' },
            },
          ];
        case 'operation':
          return (await admission.run()) as ExecutionResult;
        case 'subscription':
          return admission.events as AsyncGenerator<ExecutionResult>;
      }
    },
  });

  return {
    async handle(req: http.IncomingMessage, res: http.ServerResponse, caller: Caller): Promise<void> {
      const release = options.connections.open(caller, req);
      if (!release) {
        sendJson(res, 429, {
          errors: [
            {
              message: `Over ${settings.maxConnectionsPerCaller} streams (SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER)`,
              extensions: { code: 'SUBSCRIPTION_LIMIT_EXCEEDED' },
            },
          ],
        });
        return;
      }
      metrics.connections.inc({ transport: 'sse' });
      try {
        const body = req.method === 'POST' ? await readGraphQLBody(req, options.bodyLimitBytes) : null;
        const [stream, init] = await handler({
          method: req.method!,
          url: req.url!,
          headers: { get: (key) => req.headers[key]?.toString() },
          body: (body ?? null) as string | Record<PropertyKey, unknown> | null,
          raw: req,
          context: { res, caller },
        });
        res.writeHead(init.status, init.statusText, init.headers);
        if (!stream || typeof stream === 'string') {
          res.end(stream ?? undefined);
          return;
        }
        streams.add(res);
        res.once('close', () => void stream.return(undefined));
        for await (const chunk of stream) {
          if (!res.writable) break;
          res.write(chunk);
          if (res.writableLength > settings.maxBufferedBytes) {
            metrics.slowConsumers.inc({ transport: 'sse' });
            res.destroy();
            break;
          }
        }
        res.end();
      } finally {
        streams.delete(res);
        release();
        metrics.connections.dec({ transport: 'sse' });
      }
    },
    /**
     * Ends every stream without graphql-sse's `complete` event: to its client that is a dropped connection, which
     * it retries (through the load balancer, on another replica), not the end of the subscription.
     */
    close(): void {
      for (const res of streams) res.end();
    },
  };
}
