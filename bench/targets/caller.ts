import { callerFromClaims, createJwtVerifier } from '../../lib/jwt';
import { ANONYMOUS, callerHeaders, type Caller } from '../../lib/identity';

/**
 * The identity bench requests act as when they carry no token of their own: user 1, an admin. Our gateway
 * derives callers from the bench's JWTs; the baseline gateways and subgraph-direct sign them onto each subgraph
 * request themselves.
 */
export const BENCH_USER_ID = '1';
const BENCH_CALLER: Caller = { kind: 'user', userId: BENCH_USER_ID, admin: true };

/** The caller headers of one subgraph request: signed for its exact body, and dated now (they expire). */
export function benchCallerHeaders(serviceSecret: string, body: string, caller: Caller = BENCH_CALLER): Record<string, string> {
  return callerHeaders(serviceSecret, caller, body);
}

/** How many distinct tokens a baseline remembers; the realistic workload uses 1,000. */
const REMEMBERED_TOKENS = 10_000;

/**
 * What a baseline gateway does with the client's `Authorization: Bearer <JWT>`: verify it (HS256 under the
 * bench's JWT secret, as our gateway does) and act as its caller; anonymous without one. A verified token is
 * remembered, so a baseline pays for each distinct token once, as a production JWT plugin with a cache would.
 * A bad token is anonymous rather than refused: the baselines only stand in for forwarding auth.
 */
export function createBenchCallerResolver(jwtSecret: string): (authorization: string | undefined) => Promise<Caller> {
  const verifier = createJwtVerifier({ secret: jwtSecret });
  const known = new Map<string, Caller>();
  return async (authorization) => {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    if (!token) return ANONYMOUS;
    const cached = known.get(token);
    if (cached) return cached;
    try {
      const caller = callerFromClaims(await verifier.verify(token));
      if (known.size >= REMEMBERED_TOKENS) known.clear();
      known.set(token, caller);
      return caller;
    } catch {
      return ANONYMOUS;
    }
  };
}
