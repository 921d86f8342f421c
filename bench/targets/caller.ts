import { callerHeaders, type Caller } from '../../lib/identity';

/**
 * The identity every bench request acts as: user 1, an admin. Our gateway derives it from the bench's JWT;
 * the baseline gateways and subgraph-direct sign it onto each subgraph request themselves.
 */
export const BENCH_USER_ID = '1';
const BENCH_CALLER: Caller = { kind: 'user', userId: BENCH_USER_ID, admin: true };

/** The caller headers of one subgraph request: signed for its exact body, and dated now (they expire). */
export function benchCallerHeaders(serviceSecret: string, body: string): Record<string, string> {
  return callerHeaders(serviceSecret, BENCH_CALLER, body);
}
