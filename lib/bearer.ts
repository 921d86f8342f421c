import crypto from 'node:crypto';

/**
 * Constant-time comparison of an `Authorization: Bearer` header with the expected token (METRICS_TOKEN): both are
 * hashed first, so neither their length nor their first differing byte shows in the time taken.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) return false;
  const given = crypto.createHash('sha256').update(match[1]!).digest();
  const expected = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(given, expected);
}
