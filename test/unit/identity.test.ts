import { callerHeaders, CALLER_HEADER, CALLER_SIGNATURE_HEADER, readCaller, type Caller } from '../../lib/identity';

const SECRET = 'identity-secret';

describe('forwarded caller identity', () => {
  it.each<Caller>([
    { kind: 'user', userId: '42', admin: false },
    { kind: 'user', userId: 'auth0|a:b', admin: true },
    { kind: 'service', service: 'orders' },
  ])('round-trips %j through signed headers', (caller) => {
    const headers = callerHeaders(SECRET, caller);
    expect(readCaller(SECRET, headers[CALLER_HEADER], headers[CALLER_SIGNATURE_HEADER])).toEqual(caller);
  });

  it('sends no headers for an anonymous caller, and reads none as anonymous', () => {
    expect(callerHeaders(SECRET, { kind: 'anonymous' })).toEqual({});
    expect(readCaller(SECRET, undefined, undefined)).toEqual({ kind: 'anonymous' });
  });

  it('treats an unsigned, wrongly signed or altered identity as invalid, never as anonymous', () => {
    const headers = callerHeaders(SECRET, { kind: 'user', userId: '1', admin: false });
    expect(readCaller(SECRET, 'user:1:admin', undefined)).toBe('invalid');
    expect(readCaller(SECRET, 'user:1:admin', headers[CALLER_SIGNATURE_HEADER])).toBe('invalid');
    expect(readCaller('another-secret', headers[CALLER_HEADER], headers[CALLER_SIGNATURE_HEADER])).toBe('invalid');
  });
});
