import { Counter, Gauge, type Registry } from 'prom-client';

/** Subscription metrics, registered on the gateway's registry (gateway/metrics.ts) so `/metrics` shows them. */
export function createSubscriptionMetrics(registry: Registry) {
  return {
    active: new Gauge({
      name: 'gateway_subscriptions_active',
      help: 'Subscriptions running now, by transport (graphql-ws, sse) and root field.',
      labelNames: ['transport', 'field'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'gateway_subscription_events_total',
      help: 'Events delivered to subscribers (one per subscriber), by transport and root field.',
      labelNames: ['transport', 'field'] as const,
      registers: [registry],
    }),
    connections: new Gauge({
      name: 'gateway_subscription_connections',
      help: 'Open graphql-ws connections and SSE streams, by transport.',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
    slowConsumers: new Counter({
      name: 'gateway_subscription_slow_consumers_total',
      help: 'Subscribers dropped because events piled up faster than they read them, by transport.',
      labelNames: ['transport'] as const,
      registers: [registry],
    }),
  };
}

export type SubscriptionMetrics = ReturnType<typeof createSubscriptionMetrics>;
