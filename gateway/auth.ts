import type http from 'node:http';
import type { Config } from '../lib/config';
import { HttpError } from '../lib/http';
import { ANONYMOUS, type Caller } from '../lib/identity';
import { callerFromClaims, createJwtVerifier, JwksUnavailableError, JwtError, type JwtOptions } from '../lib/jwt';

/**
 * Turns the `Authorization` header into a caller. No header is anonymous; anything else that is not a valid
 * bearer token (bad signature, expired, `alg: none`, wrong issuer) is a 401 UNAUTHENTICATED, never a silent
 * downgrade. When the token cannot be checked because the JWKS endpoint is down or answers garbage, that is
 * ours to fix, not the client's: a 503 SERVICE_UNAVAILABLE. `tuning` is for tests (JWKS cooldowns and timeouts).
 */
export function createAuthenticator(
  jwt: Config['gateway']['jwt'],
  tuning: Omit<JwtOptions, 'secret' | 'jwksUrl' | 'issuer' | 'audience'> = {},
) {
  const verifier = createJwtVerifier({
    ...tuning,
    secret: jwt.secret,
    jwksUrl: jwt.jwksUrl,
    issuer: jwt.issuer,
    audience: jwt.audience,
  });
  // The header's value alone: graphql-ws clients send it in their connection parameters instead.
  const fromHeader = async (header: string | undefined): Promise<Caller> => {
    if (header === undefined || header === '') return ANONYMOUS;
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new HttpError(401, 'UNAUTHENTICATED', 'Authorization header must be "Bearer <token>"');
    try {
      return callerFromClaims(await verifier.verify(match[1]!));
    } catch (error) {
      if (error instanceof JwtError) throw new HttpError(401, 'UNAUTHENTICATED', `Invalid token: ${error.message}`);
      if (error instanceof JwksUnavailableError) {
        throw new HttpError(
          503,
          'SERVICE_UNAVAILABLE',
          'Tokens cannot be verified right now: the signing keys are unavailable',
        );
      }
      throw error;
    }
  };
  return Object.assign((req: http.IncomingMessage): Promise<Caller> => fromHeader(req.headers.authorization), {
    fromHeader,
  });
}

export type Authenticator = ReturnType<typeof createAuthenticator>;
