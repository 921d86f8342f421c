import crypto from 'node:crypto';
import { callerFromClaims, createJwtVerifier, signHs256 } from '../../lib/jwt';

const SECRET = 'unit-test-secret-0123456789';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('JWT verification', () => {
  const verifier = createJwtVerifier({ secret: SECRET });

  it('accepts an HS256 token and maps scope "admin" to an admin caller', async () => {
    const claims = await verifier.verify(signHs256({ sub: '42', scope: 'read admin', exp: now() + 60 }, SECRET));
    expect(callerFromClaims(claims)).toEqual({ kind: 'user', userId: '42', admin: true });
  });

  it.each([
    ['alg none', () => `${b64({ alg: 'none' })}.${b64({ sub: '1', exp: now() + 60 })}.`, /Unsupported algorithm 'none'/],
    ['a wrong secret', () => signHs256({ sub: '1', exp: now() + 60 }, 'another-secret-0123456789'), /Invalid signature/],
    ['an expired token', () => signHs256({ sub: '1', exp: now() - 120 }, SECRET), /expired/],
    ['no expiry', () => signHs256({ sub: '1' }, SECRET), /no expiry/],
    ['no subject', () => signHs256({ exp: now() + 60 }, SECRET), /no subject/],
    ['a token that is not yet valid', () => signHs256({ sub: '1', exp: now() + 600, nbf: now() + 300 }, SECRET), /not yet valid/],
    ['two parts', () => 'abc.def', /Malformed/],
    ['a tampered payload', () => {
      const [header, , signature] = signHs256({ sub: '1', exp: now() + 60 }, SECRET).split('.');
      return `${header}.${b64({ sub: '1', scope: 'admin', exp: now() + 60 })}.${signature}`;
    }, /Invalid signature/],
  ])('rejects %s', async (_label, make, message) => {
    await expect(verifier.verify(make())).rejects.toThrow(message);
  });

  it('checks issuer and audience when configured', async () => {
    const strict = createJwtVerifier({ secret: SECRET, issuer: 'https://id.example', audience: 'shop' });
    await expect(strict.verify(signHs256({ sub: '1', exp: now() + 60, iss: 'https://id.example', aud: ['shop'] }, SECRET))).resolves.toBeTruthy();
    await expect(strict.verify(signHs256({ sub: '1', exp: now() + 60, iss: 'https://evil.example', aud: 'shop' }, SECRET))).rejects.toThrow(/issuer/);
    await expect(strict.verify(signHs256({ sub: '1', exp: now() + 60, iss: 'https://id.example', aud: 'other' }, SECRET))).rejects.toThrow(/audience/);
  });

  it('verifies RS256 tokens against keys from a JWKS URL, and refuses HS256 signed with the public key', async () => {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1' };
    let fetches = 0;
    const jwks = createJwtVerifier({
      jwksUrl: 'https://id.example/jwks.json',
      fetchJwks: async () => {
        fetches++;
        return { keys: [jwk] };
      },
    });
    const header = b64({ alg: 'RS256', kid: 'k1' });
    const payload = b64({ sub: '9', exp: now() + 60 });
    const signature = crypto.sign('sha256', Buffer.from(`${header}.${payload}`), privateKey).toString('base64url');
    await expect(jwks.verify(`${header}.${payload}.${signature}`)).resolves.toMatchObject({ sub: '9' });
    await expect(jwks.verify(`${header}.${payload}.${signature}`)).resolves.toMatchObject({ sub: '9' });
    expect(fetches).toBe(1);
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await expect(jwks.verify(signHs256({ sub: '1', exp: now() + 60 }, pem))).rejects.toThrow(/Unsupported algorithm 'HS256'/);
  });
});
