import type http from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { sendJson } from '../lib/http';

/**
 * What a browser sees at `GET /` (and at `GET /graphql` without a query), through Apollo Server's landing page
 * plugin API: a bar linking to the offline explorer (`/explorer`, GraphiQL from the gateway's own files) above
 * Apollo Sandbox. Sandbox loads from Apollo's CDN; offline the page says so and points to the explorer, where
 * Apollo's own landing page would only say that it cannot be loaded.
 */
const SANDBOX_SCRIPT = 'https://embeddable-sandbox.cdn.apollographql.com/v2/embeddable-sandbox.umd.production.min.js';

const LANDING_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Federation gateway</title>
<link rel="icon" href="data:,">
<style>
  html, body { height: 100%; margin: 0; }
  body { display: flex; flex-direction: column; font: 14px/1.45 system-ui, sans-serif; color: #1d2330; }
  header { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: baseline; padding: 8px 14px; border-bottom: 1px solid #dde1e7; }
  header h1 { font-size: 15px; margin: 0; }
  #sandbox { flex: 1; min-height: 0; position: relative; }
  #sandbox iframe { width: 100%; height: 100%; border: 0; }
  #sandbox-status { padding: 24px 14px; max-width: 46em; }
</style>
</head>
<body>
<header>
  <h1>Federation gateway</h1>
  <span>GraphQL endpoint: <code>POST /graphql</code></span>
  <a id="explorer-link" href="explorer">GraphiQL explorer (works offline)</a>
</header>
<main id="sandbox">
  <p id="sandbox-status">Loading Apollo Sandbox from Apollo's CDN…</p>
</main>
<script>
  function sandboxFailed() {
    document.getElementById('sandbox-status').innerHTML =
      'Apollo Sandbox cannot be loaded: it comes from Apollo\\'s CDN, and this browser cannot reach it (offline?). ' +
      'The <a href="explorer">GraphiQL explorer</a> is served by the gateway itself and works without internet.';
  }
  function startSandbox() {
    if (!window.EmbeddedSandbox) return sandboxFailed();
    document.getElementById('sandbox-status').remove();
    new window.EmbeddedSandbox({
      target: '#sandbox',
      initialEndpoint: new URL('graphql', window.location.href).href,
      includeCookies: false,
    });
  }
</script>
<script src="${SANDBOX_SCRIPT}" onload="startSandbox()" onerror="sandboxFailed()"></script>
</body>
</html>
`;

export function landingPagePlugin(): ApolloServerPlugin {
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return { html: LANDING_PAGE };
        },
      };
    },
  };
}

/**
 * A GET without a query that Apollo would refuse as a possible cross-site request forgery (or, in production
 * where there is no landing page, with nothing useful): say instead what the gateway serves and where.
 */
export function isBareGet(req: http.IncomingMessage, explorer: boolean): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const url = new URL(req.url ?? '/', 'http://gateway');
  if (url.searchParams.has('query') || url.searchParams.has('extensions')) return false;
  // A browser gets the landing page from Apollo where there is one.
  return !(explorer && String(req.headers.accept ?? '').includes('text/html'));
}

export function sendServiceInfo(res: http.ServerResponse, explorer: boolean): void {
  sendJson(res, 200, {
    graphql: 'POST /graphql (JSON body: query, variables, operationName), or GET /graphql?query=...',
    explorer: explorer
      ? 'GET /explorer (GraphiQL); GET / in a browser: Apollo Sandbox'
      : 'disabled (the default when NODE_ENV=production); EXPLORER=true turns on /explorer and the Sandbox landing page',
    health: 'GET /healthz (liveness), GET /readyz (readiness)',
  });
}
