import { adminToken, startSystem, type TestSystem } from '../helpers/system';

/**
 * The offline explorer on GET /explorer: one self-contained page that must work with no internet, and whose
 * embedded introspection and example queries must stay valid as the supergraph changes. CI has no browser, so
 * the page is checked as text and the queries it embeds are run against the real gateway.
 */

/** Anything that would make a browser fetch from another host: src=, href=, url(), @import or fetch() of an absolute or protocol-relative URL. */
function networkReferences(html: string): string[] {
  const pattern = /(?:\b(?:src|href)\s*=|\burl\(|@import|\bfetch\()\s*["'`]?\s*(?:[a-z][a-z0-9+.-]*:)?\/\//gi;
  return [...html.matchAll(pattern)].map((match) => match[0]);
}

/** The text of a `<script type="application/graphql" id="...">` block, as the page itself reads it. */
function embeddedQuery(html: string, id: string): string {
  const block = new RegExp(`<script type="application/graphql" id="${id}">([\\s\\S]*?)</script>`).exec(html);
  if (!block) throw new Error(`The page has no <script type="application/graphql" id="${id}"> block`);
  return block[1]!.trim();
}

interface ExampleResult {
  users: {
    edges: {
      node: {
        name: string;
        orders: {
          edges: {
            node: {
              totalCents: number;
              items: { product: { sku: string; name: string; stock: number; shippingEstimateCents: number } }[];
            };
          }[];
        };
      };
    }[];
  };
}

describe('the offline explorer', () => {
  let system: TestSystem;
  let response: Response;
  let page: string;
  beforeAll(async () => {
    system = await startSystem('sqlite');
    response = await fetch(system.gatewayUrl.replace(/\/graphql$/, '/explorer'));
    page = await response.text();
  }, 120_000);
  afterAll(async () => {
    await system?.close();
  });

  it('is served as one HTML page', () => {
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page).toMatch(/^<!doctype html>/i);
  });

  it('finds network references the way the offline check below relies on', () => {
    expect(networkReferences(`<script src="https://cdn.example/x.js"></script><a href='//cdn.example'>`)).toHaveLength(
      2,
    );
    expect(
      networkReferences(
        `a { background: url( "http://x/y.png") } @import '//fonts.example/f.css'; fetch(\`https://x\`)`,
      ),
    ).toHaveLength(3);
    expect(networkReferences(`fetch(endpoint); <link rel="icon" href="data:,">`)).toEqual([]);
  });

  it('loads nothing from the network: no external script, stylesheet, font, image or URL', () => {
    expect(networkReferences(page)).toEqual([]);
    expect(page).not.toMatch(/<script\b[^>]*\bsrc\s*=/i);
    expect(page).not.toMatch(/<link\b[^>]*\brel\s*=\s*["']?stylesheet/i);
    expect(page).not.toMatch(/@import|@font-face/i);
    expect(page).not.toMatch(/https?:\/\//i);
  });

  it('posts to ./graphql, relative to where it is served, in an endpoint field the user can edit', () => {
    expect(page).toMatch(/<input id="endpoint"[^>]*value="\.\/graphql"/);
  });

  it('labels every input, textarea and select', () => {
    const ids = [...page.matchAll(/<(?:input|textarea|select)\b[^>]*\bid="([^"]+)"/g)].map((match) => match[1]!);
    expect(ids.length).toBeGreaterThanOrEqual(6);
    for (const id of ids) expect({ id, labelled: page.includes(`<label for="${id}"`) }).toEqual({ id, labelled: true });
  });

  it('embeds an introspection query that the gateway answers with the whole schema', async () => {
    const result = await system.query<{
      __schema: { queryType: { name: string }; mutationType: { name: string }; types: { name: string }[] };
    }>(embeddedQuery(page, 'introspection-query'));
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    const schema = result.data!.__schema;
    expect(schema.queryType.name).toBe('Query');
    expect(schema.mutationType.name).toBe('Mutation');
    expect(schema.types.map((type) => type.name)).toEqual(
      expect.arrayContaining(['User', 'Order', 'Product', 'OrderItem']),
    );
  });

  it('embeds an example query that crosses all three subgraphs and runs for an admin without errors', async () => {
    const result = await system.query<ExampleResult>(embeddedQuery(page, 'example-query'), {}, { token: adminToken() });
    expect(result.status).toBe(200);
    expect(result.errors).toBeUndefined();
    const users = result.data!.users.edges;
    expect(users.length).toBeGreaterThan(0);
    const items = users.flatMap((user) => user.node.orders.edges.flatMap((order) => order.node.items));
    expect(items.length).toBeGreaterThan(0);
    for (const { product } of items) {
      expect(product).toEqual({
        sku: expect.any(String),
        name: expect.any(String),
        stock: expect.any(Number),
        shippingEstimateCents: expect.any(Number),
      });
    }
  });
});
