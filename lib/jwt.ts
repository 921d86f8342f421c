import crypto from 'node:crypto';
import type { Caller } from './identity';

/**
 * JSON Web Token verification on node:crypto alone: HS256 with a shared secret, or RS256/ES256 with keys
 * from a JWKS URL. The algorithm comes from our configuration, never from the token, so `alg: none` and
 * algorithm-confusion tokens are rejected.
 */
export class JwtError extends Error {
  override name = 'JwtError';
}

export interface JwtOptions {
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** Allowed clock skew in seconds. */
  clockToleranceSeconds?: number;
  fetchJwks?: (url: string) => Promise<{ keys: crypto.JsonWebKey[] }>;
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

const ASYMMETRIC: Record<string, { hash: string; dsaEncoding?: 'ieee-p1363' }> = {
  RS256: { hash: 'sha256' },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
};

export function createJwtVerifier(options: JwtOptions) {
  const tolerance = options.clockToleranceSeconds ?? 30;
  const jwks = options.jwksUrl ? createJwksCache(options.jwksUrl, options.fetchJwks ?? defaultFetchJwks) : undefined;

  async function verify(token: string): Promise<JwtClaims> {
    const parts = token.split('.');
    if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) {
      throw new JwtError('Malformed token');
    }
    const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
    const header = decodeJson(headerPart, 'header');
    const alg = header.alg;
    const signed = Buffer.from(`${headerPart}.${payloadPart}`);
    const signature = Buffer.from(signaturePart, 'base64url');
    if (alg === 'HS256' && options.secret) {
      const expected = crypto.createHmac('sha256', options.secret).update(signed).digest();
      if (expected.length !== signature.length || !crypto.timingSafeEqual(expected, signature)) {
        throw new JwtError('Invalid signature');
      }
    } else if (typeof alg === 'string' && ASYMMETRIC[alg] && jwks) {
      const key = await jwks.key(typeof header.kid === 'string' ? header.kid : undefined, alg);
      const { hash, dsaEncoding } = ASYMMETRIC[alg];
      const ok = crypto.verify(hash, signed, dsaEncoding ? { key, dsaEncoding } : key, signature);
      if (!ok) throw new JwtError('Invalid signature');
    } else {
      throw new JwtError(`Unsupported algorithm '${String(alg)}'`);
    }
    const claims = decodeJson(payloadPart, 'payload') as JwtClaims;
    const now = Math.floor(Date.now() / 1000);
    if (typeof claims.exp !== 'number') throw new JwtError('Token has no expiry (exp)');
    if (now > claims.exp + tolerance) throw new JwtError('Token expired');
    if (typeof claims.nbf === 'number' && now + tolerance < claims.nbf) throw new JwtError('Token not yet valid');
    if (options.issuer !== undefined && claims.iss !== options.issuer) throw new JwtError('Wrong issuer');
    if (options.audience !== undefined) {
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!audiences.includes(options.audience)) throw new JwtError('Wrong audience');
    }
    if (typeof claims.sub !== 'string' || claims.sub === '') throw new JwtError('Token has no subject (sub)');
    return claims;
  }

  return { verify };
}

export function callerFromClaims(claims: JwtClaims): Caller {
  const raw = claims.scope ?? claims.scp;
  const scopes = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? raw.split(' ') : [];
  return { kind: 'user', userId: String(claims.sub), admin: scopes.includes('admin') };
}

export function signHs256(claims: Record<string, unknown>, secret: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = crypto.createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

function decodeJson(part: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new JwtError(`Malformed token ${what}`);
}

async function defaultFetchJwks(url: string): Promise<{ keys: crypto.JsonWebKey[] }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new JwtError(`JWKS fetch failed with HTTP ${response.status}`);
  return (await response.json()) as { keys: crypto.JsonWebKey[] };
}

/** Keys by `kid`, refreshed when an unknown kid appears, at most once every 30 seconds. */
function createJwksCache(url: string, fetchJwks: (url: string) => Promise<{ keys: crypto.JsonWebKey[] }>) {
  let keys = new Map<string, crypto.KeyObject>();
  let fetchedAt = 0;
  let inFlight: Promise<void> | undefined;
  const refresh = async (): Promise<void> => {
    const body = await fetchJwks(url);
    const next = new Map<string, crypto.KeyObject>();
    for (const jwk of body.keys ?? []) {
      const kid = typeof jwk.kid === 'string' ? jwk.kid : '';
      next.set(kid, crypto.createPublicKey({ key: jwk, format: 'jwk' }));
    }
    keys = next;
    fetchedAt = Date.now();
  };
  return {
    async key(kid: string | undefined, _alg: string): Promise<crypto.KeyObject> {
      const find = () => (kid === undefined ? keys.values().next().value : keys.get(kid));
      let key = find();
      if (!key && Date.now() - fetchedAt > 30_000) {
        inFlight ??= refresh().finally(() => (inFlight = undefined));
        await inFlight;
        key = find();
      }
      if (!key) throw new JwtError(`No signing key for kid '${kid ?? ''}'`);
      return key;
    },
  };
}
