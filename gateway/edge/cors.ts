import type http from 'node:http';

/**
 * Cross-origin requests from browsers (CORS). The gateway answers preflights itself, before Apollo Server sees
 * them (Apollo's CSRF prevention would refuse an `OPTIONS` that carries no JSON content type), and marks every
 * response to an allowed origin so that a page on that origin may read it.
 *
 * CORS only tells browsers what they may read; it is not an access control on the server. Requests from a
 * disallowed origin still run; what stops a forged "simple" request (a form post, an `<img>` GET) from doing
 * anything is Apollo Server's CSRF prevention, which stays on and refuses requests that a browser would send
 * without a preflight.
 */
export interface CorsOptions {
  /**
   * Which origins may read responses: `'*'` (any, the origin is echoed back), exact origins
   * (`https://shop.example`), and regular expressions (CORS_ORIGINS anchors them to the whole origin). Default:
   * any outside production, none in production.
   */
  origins: readonly (string | RegExp)[];
  /** `Access-Control-Allow-Credentials: true` (cookies, TLS client certificates). Default false. */
  credentials: boolean;
  /** Request headers a cross-origin page may send (`Access-Control-Allow-Headers`). */
  allowHeaders: readonly string[];
  /** Response headers a cross-origin page may read beyond the CORS-safelisted ones (`Access-Control-Expose-Headers`). */
  exposeHeaders: readonly string[];
  /** How long a browser may reuse a preflight's answer, in seconds (Chromium caps it at 7,200). Default 600. */
  maxAgeSeconds: number;
}

const ALLOWED_METHODS = 'GET, POST, OPTIONS';

export interface Cors {
  /**
   * Marks the response to an allowed origin; answers a preflight itself (204) and returns true, when the caller
   * must not handle the request further.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** Whether a page on `origin` may read the gateway's responses. */
  allows(origin: string): boolean;
}

export function createCors(options: CorsOptions): Cors {
  const any = options.origins.includes('*');
  const exact = new Set(options.origins.filter((origin): origin is string => typeof origin === 'string'));
  const patterns = options.origins.filter((origin): origin is RegExp => origin instanceof RegExp);
  const allows = (origin: string) => any || exact.has(origin) || patterns.some((pattern) => pattern.test(origin));
  const allowHeaders = options.allowHeaders.join(', ');
  const exposeHeaders = options.exposeHeaders.join(', ');
  const maxAge = String(options.maxAgeSeconds);

  return {
    allows,
    handle(req, res) {
      // Whether a response carries CORS headers depends on the Origin header: shared caches must key on it.
      res.setHeader('vary', 'Origin');
      const origin = req.headers.origin;
      const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
      const allowed = origin !== undefined && allows(origin);
      if (allowed) {
        // The origin itself, never `*`: a literal `*` cannot go with credentials, and echoing keeps one code path.
        res.setHeader('access-control-allow-origin', origin);
        if (options.credentials) res.setHeader('access-control-allow-credentials', 'true');
      }
      if (!preflight) {
        if (allowed && exposeHeaders) res.setHeader('access-control-expose-headers', exposeHeaders);
        return false;
      }
      // A disallowed origin's preflight gets no permissions, and the browser refuses the request it announced
      // (the usual answer of CORS middleware: nothing for a client to fix but the configuration).
      if (allowed) {
        res.setHeader('access-control-allow-methods', ALLOWED_METHODS);
        if (allowHeaders) res.setHeader('access-control-allow-headers', allowHeaders);
        res.setHeader('access-control-max-age', maxAge);
      }
      res.writeHead(204, { 'content-length': '0' });
      res.end();
      return true;
    },
  };
}
