/**
 * `npm run -s token -- --sub <userId> [--admin] [--expires-in <seconds>]`: prints a development JWT, signed
 * with JWT_SECRET (or the development default), on stdout and nothing else.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../lib/config';
import { signHs256 } from '../lib/jwt';
import { messageOf } from '../lib/errors';

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        sub: { type: 'string' },
        admin: { type: 'boolean', default: false },
        'expires-in': { type: 'string', default: '86400' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${messageOf(error)}\nusage: npm run -s token -- --sub <userId> [--admin] [--expires-in <seconds>]\n`);
    return 2;
  }
  const expiresIn = Number(values['expires-in']);
  if (!values.sub || !Number.isInteger(expiresIn) || expiresIn <= 0) {
    process.stderr.write('usage: npm run -s token -- --sub <userId> [--admin] [--expires-in <seconds>]\n');
    return 2;
  }
  const config = loadConfig();
  const secret = config.gateway.jwt.secret;
  if (!secret) {
    process.stderr.write('token: no JWT_SECRET is configured (the gateway uses JWT_JWKS_URL); sign tokens with your identity provider\n');
    return 2;
  }
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = { sub: values.sub, iat: now, exp: now + expiresIn };
  if (values.admin) claims.scope = 'admin';
  process.stdout.write(signHs256(claims, secret) + '\n');
  return 0;
}

process.exitCode = main();
