/**
 * The explorer page's script: GraphiQL (CodeMirror editors, schema-aware autocompletion, docs, history) with the
 * query-builder plugin, and one extra field for a bearer token. Bundled with everything it needs by
 * `gateway/explorer/build.ts`: the page loads nothing from anywhere but the gateway.
 */
import { explorerPlugin } from '@graphiql/plugin-explorer';
import { GraphiQL } from 'graphiql';
import { StrictMode, useRef, useState, type ComponentProps } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './app.css';

type Fetcher = ComponentProps<typeof GraphiQL>['fetcher'];

/** `/graphql` next to wherever the page is served, so that it works behind a proxy that adds a path prefix. */
const endpoint = new URL('graphql', window.location.href).href;
const TOKEN_KEY = 'gateway-explorer.token';

const EXAMPLE_QUERY = `# One request, three subgraphs: users -> their orders (orders) -> products with
# stock (inventory) and shippingEstimateCents (orders, computed from inventory's weight).
# Orders are shown to their owner or an admin only: paste a token above, e.g. from
#   npm run -s token -- --sub 1 --admin
# Ctrl-Enter runs the query; Ctrl-Space completes a field.
query UsersOrdersProducts($first: Int = 3) {
  users(first: $first) {
    totalCount
    edges {
      node {
        id
        name
        email
        orders(first: 2) {
          edges {
            node {
              id
              status
              totalCents
              items {
                quantity
                product { sku name stock shippingEstimateCents }
              }
            }
          }
        }
      }
    }
  }
}
`;

const readToken = () => {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
};

/** An answer that is not JSON (a proxy's error page) is shown as a GraphQL error rather than lost. */
async function postGraphQL(body: unknown, headers: Record<string, string>): Promise<unknown> {
  const response = await fetch(endpoint, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { errors: [{ message: `HTTP ${response.status} from ${endpoint}: ${text.slice(0, 500)}` }] };
  }
}

function Explorer() {
  const [token, setToken] = useState(readToken);
  // The fetcher stays the same function as the token changes: GraphiQL introspects again when it changes.
  const tokenRef = useRef(token);
  tokenRef.current = token;
  const fetcherRef = useRef<Fetcher>(async (params, options) => {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    const bearer = tokenRef.current.trim();
    if (bearer) headers.authorization = /^bearer\s/i.test(bearer) ? bearer : `Bearer ${bearer}`;
    // The headers editor has the last word, Authorization included.
    for (const [name, value] of Object.entries(options?.headers ?? {})) headers[name.toLowerCase()] = String(value);
    return postGraphQL(params, headers) as ReturnType<Fetcher>;
  });
  const [plugins] = useState(() => [explorerPlugin()]);

  return (
    <div className="explorer">
      <header className="explorer-bar">
        <label htmlFor="token">Bearer token</label>
        <input
          id="token"
          type="password"
          spellCheck={false}
          autoComplete="off"
          placeholder="none: anonymous (kept in this browser)"
          value={token}
          onChange={(event) => {
            setToken(event.target.value);
            try {
              localStorage.setItem(TOKEN_KEY, event.target.value.trim());
            } catch {
              // Not remembered; it still applies to this page.
            }
          }}
        />
        <span className="explorer-endpoint">
          POST <code>{endpoint}</code>
        </span>
      </header>
      <div className="explorer-graphiql">
        <GraphiQL fetcher={fetcherRef.current} plugins={plugins} defaultQuery={EXAMPLE_QUERY} />
      </div>
    </div>
  );
}

createRoot(document.getElementById('explorer')!).render(
  <StrictMode>
    <Explorer />
  </StrictMode>,
);
