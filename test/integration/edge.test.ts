import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { requireRedis, startSystem, TEST_REDIS_URL, token, type TestGateway, type TestSystem } from '../helpers/system';

/**
 * The gateway's edge over the shop's real subgraphs: what a hostile or careless client gets (a 4xx with a
 * code, quickly, and nothing written), rate limits shared by two replicas on one Redis, trusted documents, and
 * the production defaults (no introspection, explorer or public /metrics).
 */
const PRODUCTION = { NODE_ENV: 'production', LOG_LEVEL: 'error' };
const trustedManifest = path.join(__dirname, '../../schema/trusted-documents.json');

const body = (query: string, extra: Record<string, unknown> = {}) => JSON.stringify({ query, ...extra });
const codeOf = (result: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) =>
  result.body.errors?.[0]?.extensions?.code;

describe('the edge, through the gateway', () => {
  let system: TestSystem;
  let production: TestGateway;
  beforeAll(async () => {
    await requireRedis();
    system = await startSystem('sqlite');
    production = await system.startGateway(PRODUCTION);
  }, 60_000);
  afterAll(async () => system?.close());

  it.each([
    [
      'depth 1,000',
      `{ ${'me { orders(first: 1) { edges { node { user { '.repeat(200)}id${' } } } } }'.repeat(200)} }`,
      'DOCUMENT_LIMIT_EXCEEDED',
    ],
    [
      '10,000 aliases',
      `{ ${Array.from({ length: 10_000 }, (_, i) => `p${i}: product(sku: "SKU-0001") { name }`).join(' ')} }`,
      'DOCUMENT_LIMIT_EXCEEDED',
    ],
    ['20,000 __typename', `{ ${'__typename '.repeat(20_000)} }`, 'DOCUMENT_LIMIT_EXCEEDED'],
    ['2,000 user(id:)', `{ ${'user(id: "1") { id } '.repeat(2_000)} }`, 'DOCUMENT_LIMIT_EXCEEDED'],
    [
      'users and their orders, 100 x 100',
      '{ users(first: 100) { edges { node { orders(first: 100) { edges { node { items { product { name } } } } } } } } }',
      'COST_ESTIMATED_TOO_EXPENSIVE',
    ],
    ['two operations and no name', 'query A { me { id } } query B { me { name } }', 'OPERATION_RESOLUTION_FAILURE'],
    ['a subscription', 'subscription S { __typename }', 'SUBSCRIPTION_OVER_HTTP'],
    ['introspection in production', '{ __schema { types { name } } }', 'GRAPHQL_VALIDATION_FAILED'],
  ])('refuses %s with a 400 and a code', async (_name, query, code) => {
    const result = await production.post(body(query));
    expect(result.status).toBe(400);
    expect(codeOf(result)).toBe(code);
  });

  it('refuses 500 aliased createUser mutations and writes no account', async () => {
    const mutation = `mutation { ${Array.from({ length: 500 }, (_, i) => `u${i}: createUser(input: { name: "x", email: "edge-${i}@example.com" }) { id }`).join(' ')} }`;
    const before = await system.query<{ users: { totalCount: number } }>('{ users(first: 1) { totalCount } }');
    const result = await production.post(body(mutation));
    expect(result.status).toBe(400);
    expect(codeOf(result)).toBe('DOCUMENT_LIMIT_EXCEEDED');
    const after = await system.query<{ users: { totalCount: number } }>('{ users(first: 1) { totalCount } }');
    expect(after.data?.users.totalCount).toBe(before.data?.users.totalCount);
  });

  it('shows the operation cost in development and lets the shop operations through', async () => {
    const development = await system.startGateway({ NODE_ENV: 'development', LOG_LEVEL: 'error' });
    const result = await development.query<unknown>('{ users(first: 5) { edges { node { name } } } }');
    expect(result.errors).toBeUndefined();
    // The connection 1, then 5 edges and 5 users (sized by `first`).
    expect((result.extensions?.gateway as { cost?: number }).cost).toBe(1 + 5 + 5);
  });

  it('serves no explorer and no /metrics on the public port in production, and /metrics with its token', async () => {
    const base = production.url.replace(/\/graphql$/, '');
    expect((await fetch(`${base}/explorer`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const metricsToken = 'edge-test-metrics-token-0123456789';
    const withToken = await system.startGateway({ ...PRODUCTION, METRICS_TOKEN: metricsToken });
    const tokenBase = withToken.url.replace(/\/graphql$/, '');
    expect((await fetch(`${tokenBase}/metrics`)).status).toBe(401);
    expect(
      (await fetch(`${tokenBase}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status,
    ).toBe(401);
    const metrics = await fetch(`${tokenBase}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('gateway_edge_rejections_total');
  });

  describe('rate limits', () => {
    it('hold across two replicas sharing Redis, with 429, Retry-After and RateLimit headers', async () => {
      const env = {
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: `edge-${crypto.randomUUID()}:`,
        RATE_LIMIT: 'true',
        RATE_LIMIT_PER_MINUTE: '6',
        RATE_LIMIT_BURST: '3',
      };
      const a = await system.startGateway(env);
      const b = await system.startGateway(env);
      const query = body('{ products(first: 1) { edges { node { name } } } }');
      const statuses: number[] = [];
      let limited: Response | undefined;
      for (let index = 0; index < 10; index++) {
        const response = await fetch(index % 2 === 0 ? a.url : b.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: query,
        });
        statuses.push(response.status);
        if (response.status === 429) limited ??= response;
        else expect(response.headers.get('ratelimit')).toMatch(/^"request";r=\d+;t=\d+/);
        await response.arrayBuffer();
      }
      // burst + 1 in total across both replicas, not per replica.
      expect(statuses.filter((status) => status === 200)).toHaveLength(4);
      expect(statuses.filter((status) => status === 429)).toHaveLength(6);
      expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited!.headers.get('ratelimit-policy')).toContain('"request";q=6;w=60');
    });

    it('counts each aliased mutation, per signed-in user', async () => {
      const limitedGateway = await system.startGateway({
        RATE_LIMIT: 'true',
        // A mutation budget of 30 a minute, with a burst of 60 x 30 / 600 = 3: four root fields at once.
        RATE_LIMIT_MUTATIONS_PER_MINUTE: '30',
        RATE_LIMIT_PER_MINUTE: '600',
        RATE_LIMIT_BURST: '60',
      });
      const restock = (count: number) =>
        `mutation { ${Array.from({ length: count }, (_, i) => `r${i}: restock(sku: "SKU-0003", quantity: 1) { stock }`).join(' ')} }`;
      const admin = { authorization: `Bearer ${token('1', { admin: true })}` };
      expect((await limitedGateway.post(body(restock(3)), admin)).status).toBe(200);
      const second = await limitedGateway.post(body(restock(2)), admin);
      expect(second.status).toBe(429);
      expect(second.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', policies: ['mutation'] });
      // Another user has a budget of their own.
      const other = { authorization: `Bearer ${token('2', { admin: true })}` };
      expect((await limitedGateway.post(body(restock(1)), other)).status).toBe(200);
    });
  });

  describe('trusted documents', () => {
    let enforcing: TestGateway;
    const manifest = JSON.parse(fs.readFileSync(trustedManifest, 'utf8')) as {
      operations: { id: string; name: string; body: string }[];
    };
    const storefront = manifest.operations.find((operation) => operation.name === 'StorefrontProducts')!;
    beforeAll(async () => {
      enforcing = await system.startGateway({
        TRUSTED_DOCUMENTS: 'enforce',
        TRUSTED_DOCUMENTS_MANIFEST: trustedManifest,
      });
    });

    it('runs a known document sent by its id or by its text', async () => {
      const byId = await enforcing.post(JSON.stringify({ documentId: storefront.id, variables: { first: 2 } }));
      expect(byId.status).toBe(200);
      expect(byId.body.errors).toBeUndefined();
      const byText = await enforcing.post(body(storefront.body, { variables: { first: 2 } }));
      expect(byText.body).toEqual(byId.body);
    });

    it('refuses any other document with 400 PERSISTED_QUERY_NOT_IN_LIST', async () => {
      const result = await enforcing.post(body('{ users(first: 100) { edges { node { email } } } }'));
      expect(result.status).toBe(400);
      expect(codeOf(result)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    });
  });
});
