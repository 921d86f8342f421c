import {
  ANONYMOUS,
  CALLER_HEADER,
  CALLER_SIGNATURE_HEADER,
  callerHeaders,
  MAX_CLOCK_SKEW_MS,
  verifyCaller,
  type Caller,
} from '../../lib/identity';

const SECRET = 'identity-secret-0123456789';
const MAX_AGE_MS = 60_000;
const NOW = 1_800_000_000_000;
const BODY = JSON.stringify({
  query: 'mutation { placeOrder(input: { items: [{ sku: "SKU-0001", quantity: 1 }] }) { id } }',
});
const USER: Caller = { kind: 'user', userId: '42', admin: false };

const verify = (headers: Record<string, string | undefined>, body: string | Buffer = BODY, now = NOW) =>
  verifyCaller(SECRET, headers, body, now, MAX_AGE_MS);

describe('signed subgraph requests', () => {
  it.each<Caller>([
    { kind: 'user', userId: '42', admin: false },
    { kind: 'user', userId: 'auth0|a:b', admin: true },
    { kind: 'service', service: 'orders' },
    { kind: 'anonymous' },
  ])('round-trips %j through signed headers', (caller) => {
    expect(verify(callerHeaders(SECRET, caller, BODY, NOW))).toEqual({ ok: true, caller });
  });

  it('signs anonymous callers too, as `anonymous`', () => {
    const headers = callerHeaders(SECRET, ANONYMOUS, BODY, NOW);
    expect(headers[CALLER_HEADER]).toBe('anonymous');
    expect(verify(headers)).toEqual({ ok: true, caller: ANONYMOUS });
  });

  it('writes the header as v1,t=<ms>,s=<43 base64url characters>', () => {
    expect(callerHeaders(SECRET, USER, BODY, NOW)[CALLER_SIGNATURE_HEADER]).toMatch(
      /^v1,t=1800000000000,s=[A-Za-z0-9_-]{43}$/,
    );
  });

  it('verifies the same bytes whether the body is a string or a Buffer', () => {
    expect(verify(callerHeaders(SECRET, USER, BODY, NOW), Buffer.from(BODY))).toMatchObject({ ok: true });
  });

  it('refuses a request with no signature, or no caller, as missing', () => {
    expect(verify({})).toMatchObject({
      ok: false,
      reason: 'missing',
      message: expect.stringMatching(/Missing x-caller/),
    });
    expect(verify({ [CALLER_HEADER]: 'user:1:admin' })).toMatchObject({ ok: false, reason: 'missing' });
    const { [CALLER_SIGNATURE_HEADER]: signature } = callerHeaders(SECRET, USER, BODY, NOW);
    expect(verify({ [CALLER_SIGNATURE_HEADER]: signature })).toMatchObject({ ok: false, reason: 'missing' });
  });

  it.each([
    ['no version', (s: string) => s.replace('v1,', '')],
    ['another version', (s: string) => s.replace('v1,', 'v2,')],
    ['a short MAC', (s: string) => s.slice(0, -1)],
    ['a timestamp that is not a number', (s: string) => s.replace(/t=\d+/, 't=soon')],
    ['the old format (a bare MAC)', (s: string) => s.split('s=')[1]!],
  ])('refuses a signature with %s as malformed', (_label, alter) => {
    const headers = callerHeaders(SECRET, USER, BODY, NOW);
    const result = verify({ ...headers, [CALLER_SIGNATURE_HEADER]: alter(headers[CALLER_SIGNATURE_HEADER]!) });
    expect(result).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('refuses a tampered body', () => {
    const headers = callerHeaders(SECRET, USER, BODY, NOW);
    expect(verify(headers, BODY.replace('quantity: 1', 'quantity: 9'))).toMatchObject({
      ok: false,
      reason: 'bad-signature',
      message: expect.stringMatching(/^Bad x-caller-signature/),
    });
    expect(verify(headers, `${BODY} `)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('refuses a tampered caller: neither promoted to admin, nor passed off as someone else, nor anonymous', () => {
    const headers = callerHeaders(SECRET, USER, BODY, NOW);
    for (const forged of ['user:42:admin', 'user:1', 'service:orders', 'anonymous']) {
      expect(verify({ ...headers, [CALLER_HEADER]: forged })).toMatchObject({ ok: false, reason: 'bad-signature' });
    }
  });

  it('refuses a signature moved to another time', () => {
    const headers = callerHeaders(SECRET, USER, BODY, NOW - 1000);
    const moved = headers[CALLER_SIGNATURE_HEADER]!.replace(`t=${NOW - 1000}`, `t=${NOW}`);
    expect(verify({ ...headers, [CALLER_SIGNATURE_HEADER]: moved })).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('refuses a signature made with another secret', () => {
    expect(verify(callerHeaders('another-secret-0123456789', USER, BODY, NOW))).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('accepts a signature up to the maximum age, and refuses it as expired after', () => {
    expect(verify(callerHeaders(SECRET, USER, BODY, NOW - MAX_AGE_MS))).toMatchObject({ ok: true });
    expect(verify(callerHeaders(SECRET, USER, BODY, NOW - MAX_AGE_MS - 1))).toEqual({
      ok: false,
      reason: 'expired',
      message: 'Expired x-caller-signature: signed 60001 ms ago, the limit is 60000 ms',
    });
  });

  it('tolerates a few seconds of clock skew, and refuses a signature dated further in the future', () => {
    expect(verify(callerHeaders(SECRET, USER, BODY, NOW + MAX_CLOCK_SKEW_MS))).toMatchObject({ ok: true });
    expect(verify(callerHeaders(SECRET, USER, BODY, NOW + MAX_CLOCK_SKEW_MS + 1))).toMatchObject({
      ok: false,
      reason: 'future',
      message: expect.stringMatching(/in the future/),
    });
  });

  it('signs the same request differently at different times, and different bodies differently', () => {
    const at = (t: number, body = BODY) =>
      callerHeaders(SECRET, USER, body, t)[CALLER_SIGNATURE_HEADER]!.split('s=')[1];
    expect(at(NOW)).toBe(at(NOW));
    expect(at(NOW)).not.toBe(at(NOW + 1));
    expect(at(NOW)).not.toBe(at(NOW, `${BODY} `));
  });
});
