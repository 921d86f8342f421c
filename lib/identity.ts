import crypto from 'node:crypto';

/**
 * Who is calling, as every service sees it. The gateway derives it from the client's JWT; a service calling
 * another service (orders reserving stock in inventory) presents itself as `service`.
 */
export type Caller =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string; admin: boolean }
  | { kind: 'service'; service: string };

export const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' });

/** Forwarded identity, and its HMAC under SERVICE_SECRET: subgraphs trust only a caller the gateway signed. */
export const CALLER_HEADER = 'x-caller';
export const CALLER_SIGNATURE_HEADER = 'x-caller-signature';

export function encodeCaller(caller: Caller): string | undefined {
  switch (caller.kind) {
    case 'anonymous':
      return undefined;
    case 'user':
      return `user:${encodeURIComponent(caller.userId)}${caller.admin ? ':admin' : ''}`;
    case 'service':
      return `service:${encodeURIComponent(caller.service)}`;
  }
}

export function decodeCaller(value: string): Caller | undefined {
  const [kind, id, flag, ...rest] = value.split(':');
  if (!id || rest.length > 0) return undefined;
  const decoded = decodeURIComponent(id);
  if (kind === 'user' && (flag === undefined || flag === 'admin')) {
    return { kind: 'user', userId: decoded, admin: flag === 'admin' };
  }
  if (kind === 'service' && flag === undefined) return { kind: 'service', service: decoded };
  return undefined;
}

export function signCallerValue(secret: string, value: string): string {
  return crypto.createHmac('sha256', secret).update(value).digest('base64url');
}

const signatures = new Map<string, string>();

/** The headers that carry `caller` to a subgraph; none for an anonymous caller. Signatures are memoised. */
export function callerHeaders(secret: string, caller: Caller): Record<string, string> {
  const value = encodeCaller(caller);
  if (value === undefined) return {};
  const memo = `${secret}\u0000${value}`;
  let signature = signatures.get(memo);
  if (signature === undefined) {
    signature = signCallerValue(secret, value);
    if (signatures.size >= 10_000) signatures.clear();
    signatures.set(memo, signature);
  }
  return { [CALLER_HEADER]: value, [CALLER_SIGNATURE_HEADER]: signature };
}

/**
 * Reads the forwarded caller. No header is anonymous; a header with a missing or wrong signature is an
 * attempt to impersonate someone and is reported as `invalid`, never downgraded to anonymous.
 */
export function readCaller(
  secret: string,
  header: string | undefined,
  signature: string | undefined,
): Caller | 'invalid' {
  if (header === undefined || header === '') return ANONYMOUS;
  if (!signature) return 'invalid';
  const expected = Buffer.from(signCallerValue(secret, header));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return 'invalid';
  return decodeCaller(header) ?? 'invalid';
}

export function isAdmin(caller: Caller): boolean {
  return caller.kind === 'user' && caller.admin;
}

/** The user themself, or an admin. */
export function canActFor(caller: Caller, userId: string): boolean {
  return caller.kind === 'user' && (caller.admin || caller.userId === userId);
}
