import http from 'node:http';
import { listen, type ListeningServer } from '../../lib/http';
import { launchBrowser, type TestBrowser } from '../helpers/browser';
import { adminToken, startSystem, type TestSystem } from '../helpers/system';

/**
 * Cross-origin calls from a real browser: a page on one origin (a second local server) calls the gateway on
 * another with `fetch`, a JSON POST with an Authorization header, which makes Chromium send a preflight first.
 * The allowed origin gets the data and can read the exposed headers; another origin is refused by the browser.
 */

interface CallResult {
  ok: boolean;
  status?: number;
  body?: { data?: { me: { id: string; email: string } | null }; errors?: unknown[] };
  rateLimitPolicy?: string | null;
  error?: string;
}

describe('CORS in Chromium', () => {
  let system: TestSystem;
  let browser: TestBrowser;
  let pageServer: ListeningServer;
  let gatewayFront: ListeningServer;
  /** Methods of the requests that reached the gateway, in order. */
  const reached: string[] = [];
  let allowedPage: string;
  let otherPage: string;
  let gatewayUrl: string;

  beforeAll(async () => {
    pageServer = await listen(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>shop</title><p>A storefront on another origin</p>');
      },
      0,
      '127.0.0.1',
    );
    // The same server under two names is two origins.
    allowedPage = `http://127.0.0.1:${pageServer.port}`;
    otherPage = `http://localhost:${pageServer.port}`;
    system = await startSystem('sqlite');
    const gateway = await system.startGateway({
      CORS_ORIGINS: allowedPage,
      // On, to see that the page can read the RateLimit headers it is allowed to.
      RATE_LIMIT: 'true',
    });
    // In front of the gateway's own listener, to see which requests (preflights included) reach it.
    gatewayFront = await listen(
      (req: http.IncomingMessage, res: http.ServerResponse) => {
        reached.push(req.method!);
        gateway.gateway.listener(req, res);
      },
      0,
      '127.0.0.1',
    );
    gatewayUrl = `http://localhost:${gatewayFront.port}/graphql`;
    browser = await launchBrowser({ intercept: false });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await gatewayFront?.close();
    await pageServer?.close();
    await system?.close();
  });

  const callFrom = async (origin: string): Promise<CallResult> => {
    await browser.page.goto(origin);
    return browser.page.evaluate(
      async ({ url, token }): Promise<CallResult> => {
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ query: '{ me { id email } }' }),
          });
          return {
            ok: true,
            status: response.status,
            body: (await response.json()) as CallResult['body'],
            rateLimitPolicy: response.headers.get('ratelimit-policy'),
          };
        } catch (error) {
          return { ok: false, error: String(error) };
        }
      },
      { url: gatewayUrl, token: adminToken() },
    );
  };

  it('lets a page on an allowed origin call the gateway with a token, after a preflight', async () => {
    reached.length = 0;
    const result = await callFrom(allowedPage);
    expect(result).toMatchObject({ ok: true, status: 200, body: { data: { me: { id: '1' } } } });
    expect(result.body!.data!.me!.email).toContain('@');
    expect(result.rateLimitPolicy).toMatch(/\w/);
    expect(reached).toEqual(['OPTIONS', 'POST']);
    expect(browser.externalRequests).toEqual([]);
  }, 60_000);

  it('is refused by the browser for a page on another origin: the preflight gets no permission', async () => {
    reached.length = 0;
    const result = await callFrom(otherPage);
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(/Failed to fetch/);
    // The request the preflight announced was never sent.
    expect(reached).toEqual(['OPTIONS']);
  }, 60_000);

  it('keeps Apollo’s CSRF prevention for requests that need no preflight', async () => {
    const response = await fetch(`${gatewayUrl}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { origin: allowedPage },
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toMatch(/Cross-Site Request Forgery/);
    expect(response.headers.get('access-control-allow-origin')).toBe(allowedPage);
  });
});
