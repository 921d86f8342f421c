import crypto from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type KeyLike,
} from 'jose';
import type { Caller } from './identity';

/**
 * JSON Web Token verification on `jose`: HS256 with a shared secret, and RS256, ES256, PS256 and EdDSA with keys
 * from a JWKS URL. Which algorithms are accepted comes from our configuration, never from the token, so
 * `alg: none` and algorithm confusion (HS256 "signed" with a public key) are refused before any key is looked at.
 */

/** The token is not acceptable (bad signature, expired, wrong issuer...): the client's fault, a 401. */
export class JwtError extends Error {
  override name = 'JwtError';
}

/** The signing keys could not be had (JWKS endpoint down, slow or answering garbage): our fault, a 503. */
export class JwksUnavailableError extends Error {
  override name = 'JwksUnavailableError';
}

export interface JwtOptions {
  /** HS256 secret; absent: HS256 tokens are refused. */
  secret?: string;
  /** JWKS URL for the asymmetric algorithms; absent: only HS256. */
  jwksUrl?: string;
  /** Required `iss`, when set. */
  issuer?: string;
  /** Required in `aud`, when set. */
  audience?: string;
  /** Allowed clock skew for `exp` and `nbf`, in seconds. Default 30. */
  clockToleranceSeconds?: number;
  /**
   * Least time between two JWKS fetches, so tokens with an unknown `kid` cannot make us fetch on every request;
   * a key rotated in is picked up by the first such token after it. Default 30,000 ms.
   */
  jwksCooldownMs?: number;
  /** Keys older than this are fetched again before use (so a removed key stops working). Default 600,000 ms. */
  jwksMaxAgeMs?: number;
  /** A JWKS fetch slower than this fails. Default 5,000 ms. */
  jwksTimeoutMs?: number;
  /**
   * After a failed JWKS fetch, how long requests that would need a fetch are answered 503 at once instead of
   * each trying again (tokens whose key we already hold keep working). Default 5,000 ms.
   */
  jwksRetryAfterMs?: number;
}

export interface JwtClaims {
  sub?: unknown;
  scope?: unknown;
  scp?: unknown;
  exp?: unknown;
  nbf?: unknown;
  iss?: unknown;
  aud?: unknown;
  [claim: string]: unknown;
}

/** What a JWKS may sign with. Each key serves only the algorithms its type (and its `alg`, when set) allows. */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'PS256', 'EdDSA'];

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<KeyLike | Uint8Array>;

export function createJwtVerifier(options: JwtOptions) {
  // A KeyObject made once: given bytes, jose makes one on every verification (a measurable share of a
  // request that is otherwise answered from a shared result).
  const secret = options.secret === undefined ? undefined : crypto.createSecretKey(Buffer.from(options.secret, 'utf8'));
  const jwks = options.jwksUrl === undefined ? undefined : createJwksKeys(options.jwksUrl, options);
  const algorithms = [...(secret ? ['HS256'] : []), ...(jwks ? ASYMMETRIC_ALGORITHMS : [])];
  // jose checks `alg` against `algorithms` before it asks for a key, so each branch sees only its own algorithms.
  const resolveKey: KeyResolver = async (header, token) => (header.alg === 'HS256' ? secret! : jwks!(header, token));

  async function verify(token: string): Promise<JwtClaims> {
    let claims: JwtClaims;
    try {
      const verified = await jwtVerify(token, resolveKey, {
        algorithms,
        issuer: options.issuer,
        audience: options.audience,
        clockTolerance: options.clockToleranceSeconds ?? 30,
        requiredClaims: ['exp', 'sub'],
      });
      claims = verified.payload;
    } catch (error) {
      throw describe(error, token);
    }
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new JwtError('Token has no subject (sub)');
    return claims;
  }

  return { verify };
}

/**
 * Keys from a JWKS URL through jose's `createRemoteJWKSet`, which matches the token's `kid` and `alg` to a key,
 * caches the set, and refetches it for an unknown `kid` at most once per cooldown. What it does not do is hold
 * back after a failed fetch: every request would try again. So after a failure, for `jwksRetryAfterMs`, requests
 * are served from the keys we had (if still fresh) and anything that would need a fetch is a 503 at once.
 */
function createJwksKeys(url: string, options: JwtOptions): KeyResolver {
  const remote = createRemoteJWKSet(new URL(url), {
    cooldownDuration: options.jwksCooldownMs ?? 30_000,
    cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
    timeoutDuration: options.jwksTimeoutMs ?? 5_000,
  });
  const retryAfterMs = options.jwksRetryAfterMs ?? 5_000;
  let outage: { until: number; reason: string; keys: ReturnType<typeof createLocalJWKSet> | undefined } | undefined;

  return async (header, token) => {
    if (outage && Date.now() < outage.until) {
      const unavailable = new JwksUnavailableError(`JWKS at ${url} is unavailable: ${outage.reason}`);
      if (!outage.keys) throw unavailable;
      try {
        return await outage.keys(header, token);
      } catch (error) {
        // A key we do not hold may be one rotated in since: we cannot tell until the JWKS answers again.
        throw error instanceof errors.JWKSNoMatchingKey ? unavailable : error;
      }
    }
    try {
      return await remote(header, token);
    } catch (error) {
      // No key for this token in a set we just fetched, or several without a `kid` to choose: the token's fault.
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      const held = remote.fresh ? remote.jwks() : undefined;
      outage = { until: Date.now() + retryAfterMs, reason, keys: held && createLocalJWKSet(held) };
      throw new JwksUnavailableError(`JWKS at ${url} is unavailable: ${reason}`, { cause: error });
    }
  };
}

/** jose's errors in our words (the tests and clients read these), JWKS trouble passed on as it is. */
function describe(error: unknown, token: string): Error {
  if (error instanceof JwksUnavailableError || !(error instanceof errors.JOSEError)) return error as Error;
  if (error instanceof errors.JWTExpired) return new JwtError('Token expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing' && error.claim === 'exp') return new JwtError('Token has no expiry (exp)');
    if (error.reason === 'missing' && error.claim === 'sub') return new JwtError('Token has no subject (sub)');
    if (error.claim === 'nbf' && error.reason === 'check_failed') return new JwtError('Token not yet valid');
    if (error.claim === 'iss') return new JwtError('Wrong issuer');
    if (error.claim === 'aud') return new JwtError('Wrong audience');
    return new JwtError(`Invalid claim: ${error.message}`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new JwtError('Invalid signature');
  if (error instanceof errors.JOSEAlgNotAllowed) return new JwtError(`Unsupported algorithm '${headerAlg(token)}'`);
  if (error instanceof errors.JWKSNoMatchingKey) return new JwtError('No signing key matches the token (kid, alg)');
  return new JwtError(`Malformed token: ${error.message}`);
}

function headerAlg(token: string): string {
  try {
    return String(decodeProtectedHeader(token).alg);
  } catch {
    return 'unknown';
  }
}

export function callerFromClaims(claims: JwtClaims): Caller {
  const raw = claims.scope ?? claims.scp;
  const scopes = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(' ') : [];
  return { kind: 'user', userId: String(claims.sub), admin: scopes.includes('admin') };
}

/**
 * An HS256 token for tests, the bench and `npm run token`. Synchronous on node:crypto (jose's signer is async),
 * and checked against jose's verifier by the tests.
 */
export function signHs256(claims: Record<string, unknown>, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = crypto.createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
