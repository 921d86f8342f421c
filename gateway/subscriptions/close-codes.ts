/**
 * WebSocket close codes the gateway sends on a graphql-ws connection, besides graphql-ws's own (4400 bad
 * request, 4403 forbidden, 4408 no connection_init in time, 4409 duplicate subscription id, 4429 several
 * connection_init). Listed in README "Realtime".
 */
export const CloseCodes = {
  /** Shutdown (SIGTERM) or the gateway was stopped: reconnect, the load balancer sends you to another replica. */
  goingAway: 1001,
  /** The signing keys cannot be fetched to check the token: try again later. */
  tryAgainLater: 1013,
  /** The token in `connectionParams.authorization` (or the upgrade's Authorization header) is not valid. */
  unauthenticated: 4401,
  /** Events piled up faster than the client read them (SUBSCRIPTIONS_MAX_QUEUED_EVENTS, SUBSCRIPTIONS_MAX_BUFFERED_BYTES). */
  slowConsumer: 4008,
  /** This caller already holds SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER connections. */
  tooManyConnections: 4029,
} as const;
