import type http from 'node:http';
import type { Config } from '../lib/config';
import { HttpError } from '../lib/http';
import { ANONYMOUS, type Caller } from '../lib/identity';
import { callerFromClaims, createJwtVerifier, JwtError } from '../lib/jwt';

/**
 * Turns the `Authorization` header into a caller. No header is anonymous; anything else that is not a valid
 * bearer token (bad signature, expired, `alg: none`, wrong issuer) is a 401, never a silent downgrade.
 */
export function createAuthenticator(jwt: Config['gateway']['jwt']) {
  const verifier = createJwtVerifier({
    secret: jwt.secret,
    jwksUrl: jwt.jwksUrl,
    issuer: jwt.issuer,
    audience: jwt.audience,
  });
  return async function authenticate(req: http.IncomingMessage): Promise<Caller> {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return ANONYMOUS;
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw new HttpError(401, 'UNAUTHENTICATED', 'Authorization header must be "Bearer <token>"');
    try {
      return callerFromClaims(await verifier.verify(match[1]!));
    } catch (error) {
      if (error instanceof JwtError) throw new HttpError(401, 'UNAUTHENTICATED', `Invalid token: ${error.message}`);
      throw error;
    }
  };
}
