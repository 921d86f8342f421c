import { ConfigError, loadConfig } from '../../lib/config';
import { listen, type ListeningServer } from '../../lib/http';
import { createCors, type CorsOptions } from '../../gateway/edge/cors';

/** A real server with the CORS stage in front of a handler that records what reached it. */
async function serve(options: Partial<CorsOptions>) {
  const reached: string[] = [];
  const cors = createCors({
    origins: [],
    credentials: false,
    allowHeaders: ['authorization', 'content-type'],
    exposeHeaders: ['x-request-id', 'retry-after'],
    maxAgeSeconds: 600,
    ...options,
  });
  const server: ListeningServer = await listen(
    (req, res) => {
      if (cors.handle(req, res)) return;
      reached.push(req.method!);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    },
    0,
    '127.0.0.1',
  );
  return { server, reached, cors };
}

const preflight = (origin: string) => ({
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' },
});

describe('CORS (gateway/edge/cors)', () => {
  const servers: ListeningServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });
  const start = async (options: Partial<CorsOptions>) => {
    const started = await serve(options);
    servers.push(started.server);
    return started;
  };

  it('answers an allowed origin’s preflight itself: 204, the origin echoed, methods, headers, max age', async () => {
    const { server, reached } = await start({ origins: ['https://shop.example'] });
    const response = await fetch(server.url, preflight('https://shop.example'));
    expect(response.status).toBe(204);
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'access-control-allow-origin': 'https://shop.example',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    expect(response.headers.get('access-control-allow-credentials')).toBeNull();
    expect(reached).toEqual([]);
  });

  it('gives a disallowed origin’s preflight no permission, so the browser never sends the request', async () => {
    const { server, reached } = await start({ origins: ['https://shop.example'] });
    const response = await fetch(server.url, preflight('https://evil.example'));
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(response.headers.get('access-control-allow-methods')).toBeNull();
    expect(reached).toEqual([]);
  });

  it('marks an allowed origin’s request and exposes the configured headers; leaves the rest unmarked but served', async () => {
    const { server, reached } = await start({ origins: ['https://shop.example'], credentials: true });
    const allowed = await fetch(server.url, { method: 'POST', headers: { origin: 'https://shop.example' } });
    expect(Object.fromEntries(allowed.headers)).toMatchObject({
      'access-control-allow-origin': 'https://shop.example',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-request-id, retry-after',
      vary: 'Origin',
    });
    const other = await fetch(server.url, { method: 'POST', headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.headers.get('vary')).toBe('Origin');
    const sameOrigin = await fetch(server.url, { method: 'POST' });
    expect(sameOrigin.headers.get('access-control-allow-origin')).toBeNull();
    // An OPTIONS that is not a preflight is the application's.
    await fetch(server.url, { method: 'OPTIONS', headers: { origin: 'https://shop.example' } });
    expect(reached).toEqual(['POST', 'POST', 'POST', 'OPTIONS']);
  });

  it('matches patterns and `*`, echoing the origin rather than a literal `*`', async () => {
    const { cors } = await start({ origins: [/^https:\/\/[a-z]+\.shop\.example$/] });
    expect(cors.allows('https://eu.shop.example')).toBe(true);
    expect(cors.allows('https://eu.shop.example.evil.net')).toBe(false);
    const { server } = await start({ origins: ['*'] });
    const response = await fetch(server.url, preflight('http://anything.test:8080'));
    expect(response.headers.get('access-control-allow-origin')).toBe('http://anything.test:8080');
  });
});

describe('CORS settings (lib/config)', () => {
  const production = { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32), SERVICE_SECRET: 'y'.repeat(32) };
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };

  it('allows every origin outside production and none in production by default', () => {
    expect(loadConfig({}).gateway.cors.origins).toEqual(['*']);
    expect(loadConfig(production).gateway.cors.origins).toEqual([]);
    expect(loadConfig(production).gateway.cors).toMatchObject({
      credentials: false,
      maxAgeSeconds: 600,
      exposeHeaders: ['x-request-id', 'ratelimit', 'ratelimit-policy', 'retry-after'],
    });
    expect(loadConfig(production).gateway.cors.allowHeaders).toEqual(
      expect.arrayContaining(['authorization', 'content-type']),
    );
  });

  it('reads exact origins and /patterns/, anchored to the whole origin', () => {
    const cors = loadConfig({
      ...production,
      CORS_ORIGINS: 'https://Shop.example, /https:\\/\\/[a-z]+\\.shop\\.example/i',
      CORS_ALLOW_HEADERS: 'Authorization,Content-Type,X-Custom',
      CORS_EXPOSE_HEADERS: 'x-request-id',
      CORS_CREDENTIALS: 'true',
      CORS_MAX_AGE: '60',
    }).gateway.cors;
    expect(cors.origins[0]).toBe('https://shop.example');
    const pattern = cors.origins[1] as RegExp;
    expect(pattern.test('https://EU.shop.example')).toBe(true);
    expect(pattern.test('https://eu.shop.example.evil.net')).toBe(false);
    expect(cors).toMatchObject({
      allowHeaders: ['authorization', 'content-type', 'x-custom'],
      exposeHeaders: ['x-request-id'],
      credentials: true,
      maxAgeSeconds: 60,
    });
  });

  it('refuses bad values with a message naming the variable and the value', () => {
    expect(problems({ CORS_ORIGINS: '/https://(/' })).toEqual([
      expect.stringMatching(/^CORS_ORIGINS: '\/https:\/\/\(\/' is not a valid regular expression/),
    ]);
    expect(problems({ CORS_ORIGINS: 'shop.example' })).toEqual([
      expect.stringMatching(/^CORS_ORIGINS: expected .* got 'shop\.example'$/),
    ]);
    expect(problems({ CORS_ALLOW_HEADERS: 'authorization, bad header' })).toEqual([
      "CORS_ALLOW_HEADERS: expected comma-separated header names, got 'bad header'",
    ]);
    expect(problems({ CORS_MAX_AGE: '-1' })).toEqual([expect.stringMatching(/^CORS_MAX_AGE: .*got '-1'$/)]);
    expect(problems({ ...production, CORS_ORIGINS: '*', CORS_CREDENTIALS: 'true' })).toEqual([
      expect.stringMatching(/^CORS_CREDENTIALS: true with CORS_ORIGINS='\*' is refused/),
    ]);
  });
});
