import { createHmac, createPublicKey, type JsonWebKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import { createAuthenticator } from '../../gateway/auth';
import { HttpError } from '../../lib/http';
import { callerFromClaims, createJwtVerifier, signHs256, type JwtOptions } from '../../lib/jwt';

const SECRET = 'unit-test-secret-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('HS256 verification', () => {
  const verifier = createJwtVerifier({ secret: SECRET });

  it('accepts an HS256 token and maps scope "admin" to an admin caller', async () => {
    const claims = await verifier.verify(signHs256({ sub: '42', scope: 'read admin', exp: now() + 60 }, SECRET));
    expect(callerFromClaims(claims)).toEqual({ kind: 'user', userId: '42', admin: true });
  });

  it.each([
    [
      'alg none',
      () => `${b64({ alg: 'none' })}.${b64({ sub: '1', exp: now() + 60 })}.`,
      /Unsupported algorithm 'none'/,
    ],
    [
      'a wrong secret',
      () => signHs256({ sub: '1', exp: now() + 60 }, 'another-secret-0123456789'),
      /Invalid signature/,
    ],
    ['an expired token', () => signHs256({ sub: '1', exp: now() - 120 }, SECRET), /expired/],
    ['no expiry', () => signHs256({ sub: '1' }, SECRET), /no expiry/],
    [
      'an expiry that is a string',
      () => signHs256({ sub: '1', exp: String(now() + 60) }, SECRET),
      /"exp" claim must be a number/,
    ],
    [
      'a not-before that is a string',
      () => signHs256({ sub: '1', exp: now() + 60, nbf: '0' }, SECRET),
      /"nbf" claim must be a number/,
    ],
    ['no subject', () => signHs256({ exp: now() + 60 }, SECRET), /no subject/],
    ['an empty subject', () => signHs256({ sub: '', exp: now() + 60 }, SECRET), /no subject/],
    [
      'a token that is not yet valid',
      () => signHs256({ sub: '1', exp: now() + 600, nbf: now() + 300 }, SECRET),
      /not yet valid/,
    ],
    ['two parts', () => 'abc.def', /Malformed/],
    [
      'a payload that is not JSON',
      () => `${b64({ alg: 'HS256' })}.${Buffer.from('{').toString('base64url')}.AAAA`,
      /Invalid signature|Malformed/,
    ],
    [
      'a tampered payload',
      () => {
        const [header, , signature] = signHs256({ sub: '1', exp: now() + 60 }, SECRET).split('.');
        return `${header}.${b64({ sub: '1', scope: 'admin', exp: now() + 60 })}.${signature}`;
      },
      /Invalid signature/,
    ],
    [
      'an RS256 token when no JWKS is configured',
      () => `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ sub: '1', exp: now() + 60 })}.AAAA`,
      /Unsupported algorithm 'RS256'/,
    ],
  ])('rejects %s', async (_label, make, message) => {
    await expect(verifier.verify(make())).rejects.toThrow(message);
  });

  it('allows 30 seconds of clock skew on exp and nbf', async () => {
    await expect(verifier.verify(signHs256({ sub: '1', exp: now() - 10 }, SECRET))).resolves.toBeTruthy();
    await expect(
      verifier.verify(signHs256({ sub: '1', exp: now() + 60, nbf: now() + 10 }, SECRET)),
    ).resolves.toBeTruthy();
  });

  it('checks issuer and audience when configured', async () => {
    const strict = createJwtVerifier({ secret: SECRET, issuer: 'https://id.example', audience: 'shop' });
    await expect(
      strict.verify(signHs256({ sub: '1', exp: now() + 60, iss: 'https://id.example', aud: ['shop'] }, SECRET)),
    ).resolves.toBeTruthy();
    await expect(
      strict.verify(signHs256({ sub: '1', exp: now() + 60, iss: 'https://evil.example', aud: 'shop' }, SECRET)),
    ).rejects.toThrow(/issuer/);
    await expect(
      strict.verify(signHs256({ sub: '1', exp: now() + 60, iss: 'https://id.example', aud: 'other' }, SECRET)),
    ).rejects.toThrow(/audience/);
    await expect(strict.verify(signHs256({ sub: '1', exp: now() + 60, aud: 'shop' }, SECRET))).rejects.toThrow(
      /issuer/,
    );
  });
});

/** A key pair as an identity provider holds it: the private key signs, the public JWK is published. */
interface SigningKey {
  alg: string;
  kid: string;
  privateKey: KeyLike;
  jwk: JWK;
}

async function signingKey(alg: string, kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const signed = (key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  new SignJWT({ sub: '7', exp: now() + 60, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);

/**
 * A JWKS endpoint on node:http, port 0. It is the spy: `requests` counts every fetch. `mode` makes it publish
 * `keys`, fail with a 500, answer a body that is not JSON, or JSON that is not a key set.
 */
async function startJwksServer() {
  const state = {
    keys: [] as JWK[],
    mode: 'ok' as 'ok' | 'error' | 'garbage' | 'not-a-key-set',
    requests: 0,
  };
  const server = http.createServer((_req, res) => {
    state.requests++;
    if (state.mode === 'error') res.writeHead(500).end('down for maintenance');
    else if (state.mode === 'garbage') res.writeHead(200, { 'content-type': 'application/json' }).end('<html>oops');
    else if (state.mode === 'not-a-key-set')
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"none"}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return {
    state,
    url,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('verification against a JWKS', () => {
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  const keys: Record<string, SigningKey> = {};
  beforeAll(async () => {
    jwks = await startJwksServer();
    for (const alg of ['RS256', 'ES256', 'PS256', 'EdDSA']) keys[alg] = await signingKey(alg, `${alg.toLowerCase()}-1`);
  });
  afterAll(() => jwks.close());
  beforeEach(() => {
    jwks.state.keys = Object.values(keys).map((key) => key.jwk);
    jwks.state.mode = 'ok';
    jwks.state.requests = 0;
  });
  const verifierFor = (options: Partial<JwtOptions> = {}) => createJwtVerifier({ jwksUrl: jwks.url, ...options });

  it.each(['RS256', 'ES256', 'PS256', 'EdDSA'])('verifies %s tokens, fetching the key set once', async (alg) => {
    const verifier = verifierFor();
    const token = await signed(keys[alg]!, { sub: '9' });
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: '9' });
    await expect(verifier.verify(await signed(keys[alg]!, { sub: '10' }))).resolves.toMatchObject({ sub: '10' });
    expect(jwks.state.requests).toBe(1);
  });

  it('checks issuer, audience and expiry on JWKS tokens too', async () => {
    const verifier = verifierFor({ issuer: 'https://id.example', audience: 'shop' });
    const es = keys.ES256!;
    await expect(verifier.verify(await signed(es, { iss: 'https://id.example', aud: 'shop' }))).resolves.toBeTruthy();
    await expect(verifier.verify(await signed(es, { iss: 'https://id.example', aud: 'web' }))).rejects.toThrow(
      /audience/,
    );
    await expect(
      verifier.verify(await signed(es, { iss: 'https://id.example', aud: 'shop', exp: now() - 120 })),
    ).rejects.toThrow(/expired/);
  });

  it('binds each key to its algorithm: an RS256 key does not verify PS256, nor an ES256 kid an RS256 token', async () => {
    const verifier = verifierFor();
    const rsa = keys.RS256!;
    const ps256WithRs256Key = await signed({ ...rsa, alg: 'PS256' });
    await expect(verifier.verify(ps256WithRs256Key)).rejects.toThrow(/No signing key matches/);
    const rs256UnderEcKid = await signed(rsa, {}, { kid: keys.ES256!.kid });
    await expect(verifier.verify(rs256UnderEcKid)).rejects.toThrow(/No signing key matches/);
  });

  it('rejects a token signed by a key that is not in the set, and a forged signature', async () => {
    const verifier = verifierFor({ jwksCooldownMs: 60_000 });
    const stranger = await signingKey('ES256', keys.ES256!.kid);
    await expect(verifier.verify(await signed(stranger))).rejects.toThrow(/Invalid signature/);
    const [header, payload] = (await signed(keys.ES256!)).split('.');
    await expect(verifier.verify(`${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`)).rejects.toThrow(
      /Invalid signature/,
    );
  });

  it('refuses algorithm confusion: HS256 "signed" with the public key', async () => {
    const rsa = keys.RS256!;
    const publicPem = createPublicKey({ key: rsa.jwk as JsonWebKey, format: 'jwk' })
      .export({ format: 'pem', type: 'spki' })
      .toString();
    const unsigned = `${b64({ alg: 'HS256', kid: rsa.kid })}.${b64({ sub: '1', scope: 'admin', exp: now() + 60 })}`;
    const confused = `${unsigned}.${createHmac('sha256', publicPem).update(unsigned).digest('base64url')}`;
    await expect(verifierFor().verify(confused)).rejects.toThrow(/Unsupported algorithm 'HS256'/);
    // With a shared secret configured as well, HS256 is checked against that secret only, never a JWKS key.
    await expect(verifierFor({ secret: SECRET }).verify(confused)).rejects.toThrow(/Invalid signature/);
    await expect(
      verifierFor().verify(`${b64({ alg: 'none', kid: rsa.kid })}.${b64({ sub: '1', exp: now() + 60 })}.`),
    ).rejects.toThrow(/Unsupported algorithm 'none'/);
    expect(jwks.state.requests).toBe(0);
  });

  it('picks up a key rotated in, and the cooldown bounds the fetches that unknown kids cause', async () => {
    const verifier = verifierFor({ jwksCooldownMs: 1000 });
    const old = keys.ES256!;
    await verifier.verify(await signed(old));
    expect(jwks.state.requests).toBe(1);

    const rotated = await signingKey('ES256', 'es256-2');
    jwks.state.keys = [old.jwk, rotated.jwk];
    // Within the cooldown nobody fetches again, however many tokens name a kid we do not know.
    const unknownKids = await Promise.all(
      Array.from({ length: 20 }, async (_, i) =>
        verifier.verify(await signed(old, {}, { kid: `unknown-${i}` })).catch((error: Error) => error.message),
      ),
    );
    expect(new Set(unknownKids)).toEqual(new Set(['No signing key matches the token (kid, alg)']));
    await expect(verifier.verify(await signed(rotated))).rejects.toThrow(/No signing key matches/);
    expect(jwks.state.requests).toBe(1);

    await sleep(1100);
    await expect(verifier.verify(await signed(rotated, { sub: 'new' }))).resolves.toMatchObject({ sub: 'new' });
    await expect(verifier.verify(await signed(old, { sub: 'old' }))).resolves.toMatchObject({ sub: 'old' });
    expect(jwks.state.requests).toBe(2);

    // A burst of unknown kids right after the refresh costs nothing more.
    await Promise.all(
      Array.from({ length: 20 }, async () =>
        verifier.verify(await signed(old, {}, { kid: 'nope' })).catch(() => undefined),
      ),
    );
    expect(jwks.state.requests).toBe(2);
  });

  it('stops accepting a key rotated out once the cached set is older than its maximum age', async () => {
    const verifier = verifierFor({ jwksMaxAgeMs: 200 });
    const old = keys.ES256!;
    await expect(verifier.verify(await signed(old))).resolves.toBeTruthy();
    jwks.state.keys = [keys.RS256!.jwk];
    await sleep(250);
    await expect(verifier.verify(await signed(old))).rejects.toThrow(/No signing key matches/);
    expect(jwks.state.requests).toBe(2);
  });
});

describe('the authenticator when the JWKS endpoint fails', () => {
  let jwks: Awaited<ReturnType<typeof startJwksServer>>;
  let key: SigningKey;
  beforeAll(async () => {
    jwks = await startJwksServer();
    key = await signingKey('ES256', 'es256-1');
  });
  afterAll(() => jwks.close());
  beforeEach(() => {
    jwks.state.keys = [key.jwk];
    jwks.state.requests = 0;
  });

  const authenticatorFor = (url: string, tuning = {}) =>
    createAuthenticator(
      { secret: SECRET, jwksUrl: url, issuer: undefined, audience: undefined },
      { jwksTimeoutMs: 1000, ...tuning },
    );
  const request = (token: string) => ({ headers: { authorization: `Bearer ${token}` } }) as http.IncomingMessage;
  const outcome = (promise: Promise<unknown>) =>
    promise.then(
      () => 'ok',
      (error: unknown) =>
        error instanceof HttpError ? `${error.status} ${error.code}` : `unexpected: ${String(error)}`,
    );

  it.each([
    ['answers 500', 'error'],
    ['answers a body that is not JSON', 'garbage'],
    ['answers JSON that is not a key set', 'not-a-key-set'],
  ] as const)('answers 503 SERVICE_UNAVAILABLE, not 401 or 500, when the JWKS endpoint %s', async (_label, mode) => {
    jwks.state.mode = mode;
    const authenticate = authenticatorFor(jwks.url);
    await expect(outcome(authenticate(request(await signed(key))))).resolves.toBe('503 SERVICE_UNAVAILABLE');
    jwks.state.mode = 'ok';
  });

  it('answers 503 when nothing listens at the JWKS URL', async () => {
    const gone = await startJwksServer();
    await gone.close();
    const authenticate = authenticatorFor(gone.url);
    await expect(outcome(authenticate(request(await signed(key))))).resolves.toBe('503 SERVICE_UNAVAILABLE');
  });

  it('still answers 401 to a bad token while the JWKS endpoint is down, and HS256 tokens still work', async () => {
    jwks.state.mode = 'error';
    const authenticate = authenticatorFor(jwks.url);
    const none = `${b64({ alg: 'none' })}.${b64({ sub: '1', exp: now() + 60 })}.`;
    await expect(outcome(authenticate(request(none)))).resolves.toBe('401 UNAUTHENTICATED');
    await expect(outcome(authenticate(request('garbage')))).resolves.toBe('401 UNAUTHENTICATED');
    await expect(outcome(authenticate(request(signHs256({ sub: '1', exp: now() + 60 }, SECRET))))).resolves.toBe('ok');
    expect(jwks.state.requests).toBe(0);
    jwks.state.mode = 'ok';
  });

  it('does not fetch on every request during an outage, and recovers after the retry delay', async () => {
    jwks.state.mode = 'error';
    const authenticate = authenticatorFor(jwks.url, { jwksRetryAfterMs: 1000 });
    const token = await signed(key);
    const first = await Promise.all(Array.from({ length: 10 }, () => outcome(authenticate(request(token)))));
    expect(new Set(first)).toEqual(new Set(['503 SERVICE_UNAVAILABLE']));
    expect(jwks.state.requests).toBe(1);
    await expect(outcome(authenticate(request(token)))).resolves.toBe('503 SERVICE_UNAVAILABLE');
    expect(jwks.state.requests).toBe(1);

    jwks.state.mode = 'ok';
    await sleep(1100);
    await expect(outcome(authenticate(request(token)))).resolves.toBe('ok');
    expect(jwks.state.requests).toBe(2);
  });

  it('keeps accepting tokens whose key it holds while a refresh fails; an unknown kid is then a 503', async () => {
    const authenticate = authenticatorFor(jwks.url, { jwksCooldownMs: 0, jwksRetryAfterMs: 60_000 });
    await expect(outcome(authenticate(request(await signed(key))))).resolves.toBe('ok');
    jwks.state.mode = 'error';
    await expect(outcome(authenticate(request(await signed(key, {}, { kid: 'rotated-in' }))))).resolves.toBe(
      '503 SERVICE_UNAVAILABLE',
    );
    await expect(outcome(authenticate(request(await signed(key))))).resolves.toBe('ok');
    await expect(outcome(authenticate(request(await signed(key, {}, { kid: 'rotated-in' }))))).resolves.toBe(
      '503 SERVICE_UNAVAILABLE',
    );
    expect(jwks.state.requests).toBe(2);
    jwks.state.mode = 'ok';
  });
});
