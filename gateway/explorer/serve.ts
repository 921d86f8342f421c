import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { messageOf } from '../../lib/errors';
import { sendGraphQLError, type RouteHandler } from '../../lib/http';
import type { Logger } from '../../lib/logger';
import { buildExplorerAssets, builtAssetsDir, explorerCacheDir, readManifest, type ExplorerManifest } from './build';

/**
 * The offline explorer: GraphiQL, served at `GET /explorer` from the gateway's own bundle (see `./build.ts`),
 * its files under `/explorer/assets/`. Nothing is fetched from another host; the page's Content-Security-Policy
 * says so to the browser too.
 */
export const EXPLORER_PATH = '/explorer';
export const EXPLORER_ASSETS_PREFIX = '/explorer/assets/';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Only the gateway itself: scripts and stylesheets from its own files, fonts and images inlined in the stylesheet,
 * requests to its own endpoint. Inline `style` attributes are how React and CodeMirror position things.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

interface LoadedAssets {
  page: Buffer;
  files: Map<string, Asset>;
}

/** Running from the TypeScript sources (tests, development) rather than from `dist/`. */
const fromSources = path.extname(__filename) === '.ts';

async function assetsDir(): Promise<string> {
  if (!fromSources) {
    if (!readManifest(builtAssetsDir))
      throw new Error(`The explorer's bundle is missing from ${builtAssetsDir}: run npm run build`);
    return builtAssetsDir;
  }
  const dir = explorerCacheDir();
  if (!readManifest(dir)) await buildExplorerAssets(dir);
  return dir;
}

function pageHtml(manifest: ExplorerManifest): string {
  // Relative URLs: the page keeps working behind a proxy that serves the gateway under a path prefix.
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · federation gateway</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="explorer/assets/${manifest.stylesheet}">
<script type="module" src="explorer/assets/${manifest.script}"></script>
</head>
<body>
<div id="explorer"><noscript>The explorer needs JavaScript. The GraphQL endpoint is POST /graphql.</noscript></div>
</body>
</html>
`;
}

async function loadAssets(): Promise<LoadedAssets> {
  const dir = await assetsDir();
  const manifest = readManifest(dir)!;
  const files = new Map<string, Asset>();
  for (const name of fs.readdirSync(dir)) {
    const type = CONTENT_TYPES[path.extname(name)];
    if (!type) continue;
    const body = fs.readFileSync(path.join(dir, name));
    files.set(name, { type, body, gzip: zlib.gzipSync(body, { level: 9 }) });
  }
  return { page: Buffer.from(pageHtml(manifest)), files };
}

const acceptsGzip = (req: http.IncomingMessage) => /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));

export interface ExplorerRoutes {
  page: RouteHandler;
  /** Serves a file under `/explorer/assets/` (its name carries its content hash: cached for a year). */
  asset: RouteHandler;
}

export function createExplorerRoutes(logger: Logger): ExplorerRoutes {
  let loading: Promise<LoadedAssets> | undefined;
  const load = () => {
    loading ??= loadAssets().catch((error: unknown) => {
      // The next request tries again (a build that was missing may have been run since).
      loading = undefined;
      throw error;
    });
    return loading;
  };
  const unavailable = (res: http.ServerResponse, error: unknown) => {
    logger.error('explorer unavailable', { error: messageOf(error) });
    sendGraphQLError(res, 503, 'SERVICE_UNAVAILABLE', `The explorer is unavailable: ${messageOf(error)}`);
  };
  return {
    async page(req, res) {
      let assets: LoadedAssets;
      try {
        assets = await load();
      } catch (error) {
        unavailable(res, error);
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': assets.page.length,
        'cache-control': 'no-cache',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
      });
      res.end(req.method === 'HEAD' ? undefined : assets.page);
    },
    async asset(req, res) {
      let assets: LoadedAssets;
      try {
        assets = await load();
      } catch (error) {
        unavailable(res, error);
        return;
      }
      const pathname = (req.url ?? '').split('?')[0]!;
      const file = assets.files.get(pathname.slice(EXPLORER_ASSETS_PREFIX.length));
      if (!file) {
        sendGraphQLError(res, 404, 'NOT_FOUND', `No explorer asset at ${pathname}`);
        return;
      }
      const gzip = acceptsGzip(req);
      const body = gzip ? file.gzip : file.body;
      res.writeHead(200, {
        'content-type': file.type,
        'content-length': body.length,
        'cache-control': 'public, max-age=31536000, immutable',
        'x-content-type-options': 'nosniff',
        // Added to what is there already (the CORS stage's Origin).
        vary: [res.getHeader('vary'), 'Accept-Encoding'].filter(Boolean).join(', '),
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
  };
}
