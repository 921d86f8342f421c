import { callerHeaders } from '../../lib/identity';

/**
 * The identity every bench request acts as: user 1, an admin. Our gateway derives it from the bench's JWT;
 * the baseline gateways and subgraph-direct send these signed headers as they are.
 */
export const BENCH_USER_ID = '1';

export function benchCallerHeaders(serviceSecret: string): Record<string, string> {
  return callerHeaders(serviceSecret, { kind: 'user', userId: BENCH_USER_ID, admin: true });
}
