import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildClientSchema, getIntrospectionQuery, printSchema, type IntrospectionQuery } from 'graphql';
import { createGatewayServer } from '../../gateway/server';
import type { Logger } from '../../lib/logger';
import { silentLogger } from '../../lib/logger';
import { startSystem, testConfig, token, type TestSystem } from '../helpers/system';

/** Small things a careful user trips on: the API schema, subgraph URL overrides, batched requests. */
const projectRoot = path.resolve(__dirname, '..', '..');
const supergraphFile = path.join(projectRoot, 'schema/supergraph.graphql');

function recordingLogger(lines: { level: string; message: string; fields?: Record<string, unknown> }[]): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
    child: () => logger,
  };
  return logger;
}

type Entry = { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };

async function postBatch(url: string, batch: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(batch),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as unknown };
}

describe('the front door', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem('sqlite', { DEBUG_EXTENSIONS: 'true' });
  });
  afterAll(() => system?.close());

  describe('the API schema', () => {
    it('has no CacheControlScope, and is exactly the committed schema/api.graphql', async () => {
      const result = await system.query<IntrospectionQuery>(getIntrospectionQuery());
      expect(result.errors).toBeUndefined();
      const names = result.data!.__schema.types.map((type) => type.name);
      expect(names).toContain('Product');
      expect(names).not.toContain('CacheControlScope');
      const committed = fs.readFileSync(path.join(projectRoot, 'schema/api.graphql'), 'utf8');
      expect(printSchema(buildClientSchema(result.data!))).toBe(committed.replace(/^(#.*\n)+\n/, '').trimEnd());
    });

    it('keeps the entity cache policy, which reads @cacheControl from the supergraph', async () => {
      const query = '{ product(sku: "SKU-0001") { sku name priceCents } }';
      await system.query(query);
      const second = await system.query(query);
      expect((second.extensions?.gateway as { entityCacheHits: number }).entityCacheHits).toBeGreaterThan(0);
    });
  });

  describe('SUBGRAPH_URL_<NAME> overrides', () => {
    it('refuse to start when one names no subgraph of the supergraph, listing the ones it has', async () => {
      const config = testConfig({ ...system.env, SUBGRAPH_URL_FOO: 'http://127.0.0.1:9/graphql' });
      await expect(createGatewayServer(config, silentLogger)).rejects.toThrow(
        `SUBGRAPH_URL_FOO: no subgraph named 'foo' in ${supergraphFile}; known: inventory, orders, users`,
      );
    });

    it('on reload, log the unknown override and keep serving the previous supergraph', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'front-door-'));
      const file = path.join(dir, 'supergraph.graphql');
      fs.copyFileSync(supergraphFile, file);
      const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
      const config = testConfig({ ...system.env, SUPERGRAPH_PATH: file });
      const gateway = await createGatewayServer(config, recordingLogger(lines));
      try {
        // Someone renames the users subgraph; SUBGRAPH_URL_USERS now names nothing.
        fs.writeFileSync(file, fs.readFileSync(supergraphFile, 'utf8').replace('name: "users"', 'name: "accounts"'));
        gateway.reloadSupergraph();
        const failure = lines.find((line) => line.level === 'error');
        expect(failure?.message).toMatch(/still serving the previous one/);
        expect(failure?.fields?.error).toBe(
          `SUBGRAPH_URL_USERS: no subgraph named 'users' in ${file}; known: inventory, orders, accounts`,
        );
        expect([...gateway.subgraphUrls().keys()].sort()).toEqual(['inventory', 'orders', 'users']);
      } finally {
        await gateway.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('batched requests', () => {
    const users = '{ users(first: 2) { edges { node { id name } } } }';
    const product = '{ product(sku: "SKU-0002") { sku name } }';

    it('answer an array in order, each entry its own result with its own errors', async () => {
      const { status, body } = await postBatch(system.gatewayUrl, [
        { query: users },
        { query: '{ nope }' },
        { query: product },
        'not an operation',
      ]);
      expect(status).toBe(200);
      const entries = body as Entry[];
      expect(entries).toHaveLength(4);
      expect(entries[0]!.errors).toBeUndefined();
      expect((entries[0]!.data!.users as { edges: unknown[] }).edges).toHaveLength(2);
      expect(entries[1]!.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(entries[2]).toMatchObject({ data: { product: { sku: 'SKU-0002' } } });
      expect(entries[3]!.errors?.[0]?.extensions?.code).toBe('BAD_REQUEST');
    });

    it('refuse more than BATCH_MAX_OPERATIONS operations (and an empty batch) as a whole, with a 400', async () => {
      const gateway = await system.startGateway({ BATCH_MAX_OPERATIONS: '2' });
      const over = await postBatch(gateway.url, [{ query: product }, { query: product }, { query: product }]);
      expect(over.status).toBe(400);
      expect(over.body).toMatchObject({
        errors: [{ extensions: { code: 'BATCH_LIMIT_EXCEEDED', maxOperations: 2, operations: 3 } }],
      });
      expect((await postBatch(gateway.url, [{ query: product }, { query: product }])).status).toBe(200);
      const empty = await postBatch(gateway.url, []);
      expect(empty).toMatchObject({ status: 400, body: { errors: [{ extensions: { code: 'BAD_REQUEST' } }] } });
      const off = await system.startGateway({ BATCH_MAX_OPERATIONS: '0' });
      const refused = await postBatch(off.url, [{ query: product }]);
      expect(refused).toMatchObject({ status: 400, body: { errors: [{ extensions: { code: 'BATCH_LIMIT_EXCEEDED' } }] } });
    });

    it('put every operation through the document limits and the cost limit on its own', async () => {
      const gateway = await system.startGateway({ LIMIT_DEPTH: '4', COST_MAX: '50' });
      const deep = '{ users(first: 1) { edges { node { orders(first: 1) { edges { node { id } } } } } } }';
      const costly = '{ products(first: 100) { edges { node { sku } } } }';
      const { status, body } = await postBatch(gateway.url, [{ query: deep }, { query: product }, { query: costly }]);
      expect(status).toBe(200);
      const entries = body as Entry[];
      expect(entries[0]!.errors?.[0]?.extensions?.code).toBe('DOCUMENT_LIMIT_EXCEEDED');
      expect(entries[1]).toMatchObject({ data: { product: { sku: 'SKU-0002' } } });
      expect(entries[2]!.errors?.[0]?.extensions?.code).toBe('COST_ESTIMATED_TOO_EXPENSIVE');
    });

    it('count every operation against the rate limit, in order: the tail over the budget is refused', async () => {
      const gateway = await system.startGateway({ RATE_LIMIT: 'true', RATE_LIMIT_PER_MINUTE: '1', RATE_LIMIT_BURST: '2' });
      const caller = { authorization: `Bearer ${token(`batch-${process.pid}`)}` };
      const { status, headers, body } = await postBatch(gateway.url, Array(5).fill({ query: product }), caller);
      expect(status).toBe(200);
      const codes = (body as Entry[]).map((entry) => entry.errors?.[0]?.extensions?.code ?? 'ok');
      expect(codes).toEqual(['ok', 'ok', 'ok', 'RATE_LIMITED', 'RATE_LIMITED']);
      expect(Number(headers.get('retry-after'))).toBeGreaterThan(0);
      expect(headers.get('ratelimit-policy')).toBeTruthy();
    });

    it('check every operation against the trusted documents', async () => {
      const gateway = await system.startGateway({ TRUSTED_DOCUMENTS: 'enforce' });
      const manifest = JSON.parse(fs.readFileSync(path.join(projectRoot, 'schema/trusted-documents.json'), 'utf8')) as {
        operations: { id: string; name: string }[];
      };
      const known = manifest.operations.find((operation) => operation.name === 'StorefrontProducts')!;
      const { body } = await postBatch(gateway.url, [{ documentId: known.id }, { query: product }]);
      const entries = body as Entry[];
      expect(entries[0]!.errors).toBeUndefined();
      expect(entries[0]!.data).toBeTruthy();
      expect(entries[1]!.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');
    });
  });
});
