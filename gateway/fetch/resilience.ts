/**
 * What the gateway does when a subgraph fails, per subgraph:
 *
 * - **One retry, with jitter, for a query that could not connect.** A refused or reset connection means the
 *   subgraph never ran the request (or ran a read), so asking again is safe; a mutation is never retried (it
 *   may have been applied), nor a request that timed out (the subgraph is slow, not gone: asking again doubles
 *   its load). The jitter spreads the retries of many requests that failed together.
 * - **A circuit breaker.** After `failures` consecutive failures (connection errors, timeouts, answers that
 *   are not GraphQL) the circuit opens: for `resetMs` every fetch to that subgraph fails at once with
 *   SUBGRAPH_UNAVAILABLE (partial data from the others, no connection attempt, no timeout to wait out). Then
 *   it is half-open: one request goes through as a probe while the others still fail at once; the probe's
 *   success closes the circuit, its failure opens it for another `resetMs`.
 *
 * Stale-if-error (serving cached entities past their TTL when the subgraph fails) lives with the entity
 * cache, which has the entities; see `EntityCache.resolve`.
 */

export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 5 (CIRCUIT_BREAKER_FAILURES); 0 never opens it. */
  failures: number;
  /** How long the circuit stays open before one probe. Default 5000 ms (CIRCUIT_BREAKER_RESET_MS). */
  resetMs: number;
  now?: () => number;
  /** Told of every change of state, for metrics and logs. */
  onChange?: (state: CircuitState['kind']) => void;
}

export type CircuitState =
  { kind: 'closed'; failures: number } | { kind: 'open'; until: number } | { kind: 'half-open'; probing: boolean };

/** May a request go now: yes; yes as the one probe of a half-open circuit; or no (the circuit is open). */
export type Admission = 'yes' | 'probe' | 'no';

export interface CircuitBreaker {
  admit(): Admission;
  succeeded(): void;
  failed(): void;
  state(): CircuitState['kind'];
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const now = options.now ?? Date.now;
  let state: CircuitState = { kind: 'closed', failures: 0 };
  const move = (next: CircuitState) => {
    const changed = next.kind !== state.kind;
    state = next;
    if (changed) options.onChange?.(next.kind);
  };
  return {
    admit() {
      switch (state.kind) {
        case 'closed':
          return 'yes';
        case 'open':
          if (now() < state.until) return 'no';
          move({ kind: 'half-open', probing: true });
          return 'probe';
        case 'half-open':
          if (state.probing) return 'no';
          state.probing = true;
          return 'probe';
      }
    },
    succeeded() {
      if (state.kind !== 'closed' || state.failures !== 0) move({ kind: 'closed', failures: 0 });
    },
    failed() {
      switch (state.kind) {
        case 'closed':
          if (options.failures > 0 && state.failures + 1 >= options.failures)
            move({ kind: 'open', until: now() + options.resetMs });
          else state = { kind: 'closed', failures: state.failures + 1 };
          return;
        case 'half-open':
          move({ kind: 'open', until: now() + options.resetMs });
          return;
        case 'open':
          return;
      }
    },
    state: () => state.kind,
  };
}

/** A delay between `base` and twice `base` ms: full jitter around the base. */
export const jitteredDelay = (baseMs: number, random: () => number = Math.random): number =>
  Math.round(baseMs + random() * baseMs);
