import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import type { ExportResult } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { FetchAttributes } from '../../gateway/fetch/tracing';
import { freePort } from '../../bench/processes';
import { startTracing, stopTracing, TraceAttributes, tracingActive } from '../../lib/tracing';
import {
  adminToken,
  clientFor,
  startSystem,
  testConfig,
  TEST_JWT_SECRET,
  TEST_SERVICE_SECRET,
  type TestSystem,
} from '../helpers/system';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * OpenTelemetry across the gateway and the three subgraphs, all in this process (one SDK, one exporter): the
 * tree of one client request from the client's `traceparent` down to the subgraphs' SQL, then the real OTLP/HTTP
 * export and its flush on shutdown, then tracing off.
 */

/** An in-memory exporter that can be awaited: resolves once the spans exported so far satisfy a condition. */
class AwaitableExporter extends InMemorySpanExporter {
  private readonly waiters = new Set<() => void>();
  override export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    super.export(spans, resultCallback);
    for (const waiter of [...this.waiters]) waiter();
  }
  until(condition: (spans: ReadableSpan[]) => boolean): Promise<ReadableSpan[]> {
    return new Promise((resolve) => {
      const check = () => {
        const spans = this.getFinishedSpans();
        if (!condition(spans)) return;
        this.waiters.delete(check);
        resolve(spans);
      };
      this.waiters.add(check);
      check();
    });
  }
}

const QUERY = `query CrossSubgraph { users(first: 3) { edges { node { name orders(first: 2) { edges { node {
  totalCents items { quantity product { name stock shippingEstimateCents } } } } } } } } }`;

const hex = (bytes: number) => crypto.randomBytes(bytes).toString('hex');
const clientTrace = () => {
  const traceId = hex(16);
  const spanId = hex(8);
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
};

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const isSubgraphRequest = (span: ReadableSpan) =>
  span.kind === SpanKind.SERVER && span.attributes[TraceAttributes.subgraph] !== undefined;
const isCall = (span: ReadableSpan) => span.kind === SpanKind.CLIENT && span.attributes['url.full'] !== undefined;

/** The spans of one client request, once its root and every subgraph request it caused have ended. */
async function traceOf(exporter: AwaitableExporter, traceId: string, clientSpanId: string): Promise<ReadableSpan[]> {
  return exporter.until((all) => {
    const spans = all.filter((span) => span.spanContext().traceId === traceId);
    const root = spans.some((span) => span.kind === SpanKind.SERVER && parentOf(span) === clientSpanId);
    const calls = spans.filter(isCall).length;
    return root && calls > 0 && spans.filter(isSubgraphRequest).length === calls;
  });
}

// One system for every test: whether requests are traced is decided per request, by the SDK started or not.
let system: TestSystem;
beforeAll(async () => {
  system = await startSystem('sqlite');
}, 60_000);
afterAll(async () => {
  await system?.close();
  await stopTracing(1_000);
});

describe('tracing on (OpenTelemetry SDK, in-memory exporter)', () => {
  const exporter = new AwaitableExporter();
  beforeAll(async () => {
    await startTracing(testConfig({}).tracing, 'test', { spanProcessors: [new SimpleSpanProcessor(exporter)] });
  });
  afterAll(() => stopTracing(5_000));

  it("continues the client's trace: request, plan fetches, subgraph calls, subgraph requests, SQL batches", async () => {
    const client = clientTrace();
    const result = await system.query(QUERY, undefined, {
      token: adminToken(),
      headers: { traceparent: client.traceparent },
    });
    expect(result.errors).toBeUndefined();
    const spans = (await traceOf(exporter, client.traceId, client.spanId)).filter(
      (span) => span.spanContext().traceId === client.traceId,
    );
    const byId = new Map(spans.map((span) => [idOf(span), span]));

    // One root, the gateway's server span, child of the client's span.
    const roots = spans.filter((span) => parentOf(span) === client.spanId);
    expect(roots).toHaveLength(1);
    const root = roots[0]!;
    expect(root.kind).toBe(SpanKind.SERVER);
    expect(root.name).toBe('POST /graphql');
    expect(root.attributes).toMatchObject({
      [TraceAttributes.operationName]: 'CrossSubgraph',
      [TraceAttributes.operationType]: 'query',
      [TraceAttributes.statusCode]: 200,
    });
    // Every other span of the trace descends from it.
    for (const span of spans) {
      if (span === root) continue;
      expect(byId.has(parentOf(span)!)).toBe(true);
    }

    // Plan fetches under the request: users first, then orders and inventory.
    const fetches = spans.filter((span) => span.name.startsWith('fetch '));
    expect(fetches.every((span) => parentOf(span) === idOf(root))).toBe(true);
    expect(new Set(fetches.map((span) => span.attributes[TraceAttributes.subgraph]))).toEqual(
      new Set(['users', 'orders', 'inventory']),
    );
    const entityFetches = fetches.filter((span) => span.attributes[FetchAttributes.representations] !== undefined);
    expect(entityFetches.length).toBeGreaterThan(0);
    for (const span of entityFetches) expect(span.attributes[FetchAttributes.representations]).toBeGreaterThan(0);

    // HTTP calls under the fetches they carry, with the batch's size.
    const calls = spans.filter(isCall);
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const call of calls) {
      const parent = byId.get(parentOf(call)!)!;
      expect(parent.name).toBe(`fetch ${call.attributes[TraceAttributes.subgraph]}`);
      expect(call.attributes[FetchAttributes.batchFetches]).toBeGreaterThanOrEqual(1);
      expect(call.attributes[FetchAttributes.batchRepresentations]).toEqual(expect.any(Number));
      expect(call.attributes[TraceAttributes.statusCode]).toBe(200);
    }
    expect(calls.some((call) => (call.attributes[FetchAttributes.batchRepresentations] as number) > 0)).toBe(true);

    // In the subgraphs: each request is the child of the call that sent it (the traceparent it carried).
    const requests = spans.filter(isSubgraphRequest);
    expect(requests.map((span) => parentOf(span)).sort()).toEqual(calls.map(idOf).sort());
    for (const request of requests) {
      const call = byId.get(parentOf(request)!)!;
      expect(request.attributes[TraceAttributes.subgraph]).toBe(call.attributes[TraceAttributes.subgraph]);
      expect(request.attributes[TraceAttributes.operationName]).toEqual(expect.any(String));
    }
    const entityRequests = requests.filter((span) => (span.attributes['subgraph.representations'] as number) > 0);
    expect(entityRequests.length).toBeGreaterThan(0);

    // SQL: one span per statement, under the subgraph request that ran it (through its DataLoader batch).
    const requestOf = (span: ReadableSpan): ReadableSpan | undefined => {
      for (let current = byId.get(parentOf(span)!); current; current = byId.get(parentOf(current)!))
        if (isSubgraphRequest(current)) return current;
      return undefined;
    };
    const statements = spans.filter((span) => span.attributes['db.system.name'] === 'sqlite');
    expect(statements.length).toBeGreaterThanOrEqual(3);
    for (const statement of statements) {
      expect(statement.kind).toBe(SpanKind.CLIENT);
      expect(statement.attributes['db.operation.name']).toBe('SELECT');
      expect(statement.attributes['db.query.text']).toMatch(/^\s*select\s/i);
      expect(requestOf(statement)).toBeDefined();
    }
    const batches = spans.filter((span) => span.attributes['dataloader.batch.size'] !== undefined);
    expect(batches.map((span) => span.name)).toEqual(
      expect.arrayContaining(['batch orders.ordersPageByUser', 'batch inventory.productBySku']),
    );
    const ordersPage = batches.find((span) => span.name === 'batch orders.ordersPageByUser')!;
    // Three users' pages of orders in one batch, one statement.
    expect(ordersPage.attributes['dataloader.batch.size']).toBe(3);
    expect(statements.filter((span) => parentOf(span) === idOf(ordersPage))).toHaveLength(1);
    for (const batch of batches) expect(isSubgraphRequest(byId.get(parentOf(batch)!)!)).toBe(true);
  });

  it('counts entity cache hits on the fetch spans of a repeated request', async () => {
    await system.query(QUERY, undefined, { token: adminToken() });
    const client = clientTrace();
    const result = await system.query(QUERY, undefined, {
      token: adminToken(),
      headers: { traceparent: client.traceparent },
    });
    expect(result.errors).toBeUndefined();
    const done = await exporter.until((all) =>
      all.some((span) => span.spanContext().traceId === client.traceId && parentOf(span) === client.spanId),
    );
    const fetches = done.filter(
      (span) => span.spanContext().traceId === client.traceId && span.name.startsWith('fetch '),
    );
    const hits = fetches.map((span) => (span.attributes[FetchAttributes.entityCacheHits] as number | undefined) ?? 0);
    expect(hits.some((count) => count > 0)).toBe(true);
  });

  it('starts a new trace for a request that carries no traceparent', async () => {
    const before = new Set(exporter.getFinishedSpans().map((span) => span.spanContext().traceId));
    await system.query('query JustUsers { users(first: 1) { edges { node { name } } } }', undefined, {
      token: adminToken(),
    });
    const spans = await exporter.until((all) =>
      all.some((span) => span.attributes[TraceAttributes.operationName] === 'JustUsers' && !parentOf(span)),
    );
    const root = spans.find(
      (span) => span.attributes[TraceAttributes.operationName] === 'JustUsers' && !parentOf(span),
    )!;
    expect(before.has(root.spanContext().traceId)).toBe(false);
  });
});

/** A collector stand-in: accepts OTLP/HTTP JSON posts (or, hanging, never answers them). */
async function startCollector(mode: 'answer' | 'hang') {
  const bodies: { path: string; body: string }[] = [];
  let received: () => void = () => undefined;
  const firstPost = new Promise<void>((resolve) => (received = resolve));
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
      received();
      if (mode === 'answer') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    firstPost,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The gateway as a process of its own, configured by the OTEL_* variables: the exporter loads `http` by a
 * dynamic import, which Jest's module sandbox cannot run, and this is also how it is deployed.
 */
async function startGatewayProcess(env: Record<string, string>) {
  const port = await freePort();
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(ROOT, 'gateway', 'index.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_FORMAT: 'json',
      JWT_SECRET: TEST_JWT_SECRET,
      SERVICE_SECRET: TEST_SERVICE_SECRET,
      RATE_LIMIT: 'false',
      GATEWAY_PORT: String(port),
      ...system.env,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const changed = new Set<() => void>();
  const take = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const check of [...changed]) check();
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => [...changed].forEach((check) => check()));
  const waitForOutput = (pattern: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pattern.test(output)) resolve();
        else if (child.exitCode !== null) reject(new Error(`gateway exited before ${pattern}:\n${output}`));
        else return;
        changed.delete(check);
      };
      changed.add(check);
      check();
    });
  await waitForOutput(/listening on/);
  return {
    ...clientFor(`http://127.0.0.1:${port}/graphql`),
    output: () => output,
    /** SIGTERM: the graceful shutdown, whose last step flushes the spans. */
    async stop(): Promise<number | null> {
      child.kill('SIGTERM');
      return exited;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

describe('OTLP over HTTP export (a gateway process)', () => {
  let gateway: Awaited<ReturnType<typeof startGatewayProcess>> | undefined;
  let collector: Awaited<ReturnType<typeof startCollector>> | undefined;
  afterEach(async () => {
    gateway?.kill();
    await collector?.close();
  });

  it('sends the spans to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces, the last ones flushed on SIGTERM', async () => {
    collector = await startCollector('answer');
    gateway = await startGatewayProcess({ OTEL_EXPORTER_OTLP_ENDPOINT: `${collector.url}/` });
    expect(gateway.output()).toContain(`tracing to ${collector.url}/v1/traces`);
    const client = clientTrace();
    const result = await gateway.query(QUERY, undefined, {
      token: adminToken(),
      headers: { traceparent: client.traceparent },
    });
    expect(result.errors).toBeUndefined();
    // Exports are batched on a timer (5 s by default): these spans leave at the shutdown, not before.
    expect(await gateway.stop()).toBe(0);
    const traces = collector.bodies.filter((post) => post.path === '/v1/traces').map((post) => post.body);
    expect(traces.length).toBeGreaterThan(0);
    const exported = traces.join('\n');
    expect(exported).toContain(client.traceId);
    expect(exported).toMatch(/"service\.name","value":\{"stringValue":"gateway"\}/);
    expect(exported).toContain('"CrossSubgraph"');
    expect(exported).toContain('"fetch inventory"');
  });

  it('still shuts down within SHUTDOWN_TIMEOUT_MS when the collector never answers', async () => {
    collector = await startCollector('hang');
    gateway = await startGatewayProcess({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.url}/custom/traces`,
      SHUTDOWN_TIMEOUT_MS: '1000',
    });
    await gateway.query('{ users(first: 1) { edges { node { name } } } }', undefined, { token: adminToken() });
    const [code] = await Promise.all([gateway.stop(), collector.firstPost]);
    expect(code).toBe(0);
    expect(collector.bodies[0]!.path).toBe('/custom/traces');
    expect(gateway.output()).toContain('not exported before the shutdown deadline');
  });
});

describe('tracing off', () => {
  let proxy: { url: string; headers: http.IncomingHttpHeaders[]; close(): Promise<void> };
  let gateway: Awaited<ReturnType<TestSystem['startGateway']>>;
  beforeAll(async () => {
    proxy = await startRecordingProxy(system.subgraphs.users.url);
    gateway = await system.startGateway({ SUBGRAPH_URL_USERS: proxy.url });
  });
  afterAll(async () => {
    await gateway?.close();
    await proxy?.close();
  });

  const USERS = '{ users(first: 1) { edges { node { name } } } }';

  it('sends no traceparent of its own', async () => {
    expect(tracingActive()).toBe(false);
    proxy.headers.length = 0;
    const result = await gateway.query(USERS, undefined, { token: adminToken() });
    expect(result.errors).toBeUndefined();
    expect(proxy.headers).toHaveLength(1);
    expect(proxy.headers[0]!.traceparent).toBeUndefined();
  });

  it("forwards the client's traceparent and tracestate unchanged", async () => {
    proxy.headers.length = 0;
    const client = clientTrace();
    const result = await gateway.query(USERS, undefined, {
      token: adminToken(),
      headers: { traceparent: client.traceparent, tracestate: 'vendor=value' },
    });
    expect(result.errors).toBeUndefined();
    expect(proxy.headers).toHaveLength(1);
    expect(proxy.headers[0]!.traceparent).toBe(client.traceparent);
    expect(proxy.headers[0]!.tracestate).toBe('vendor=value');
  });

  it('forwards nothing for a malformed traceparent', async () => {
    proxy.headers.length = 0;
    await gateway.query(USERS, undefined, { token: adminToken(), headers: { traceparent: 'not-a-trace' } });
    expect(proxy.headers[0]!.traceparent).toBeUndefined();
  });
});

/** An HTTP proxy in front of a subgraph that records the headers of every request it passes on. */
async function startRecordingProxy(target: string) {
  const headers: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      headers.push(req.headers);
      const forwarded: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers))
        if (typeof value === 'string' && !['host', 'connection', 'content-length', 'accept-encoding'].includes(name))
          forwarded[name] = value;
      fetch(target, { method: req.method, headers: forwarded, body: Buffer.concat(chunks) })
        .then(async (response) => {
          res.writeHead(response.status, {
            'content-type': response.headers.get('content-type') ?? 'application/json',
          });
          res.end(Buffer.from(await response.arrayBuffer()));
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    headers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('OTEL_* settings (lib/config.ts)', () => {
  const tracingOf = (env: Record<string, string>) => testConfig(env).tracing;

  it('is off unless an endpoint is set, and off again with OTEL_SDK_DISABLED', () => {
    expect(tracingOf({}).endpoint).toBeUndefined();
    expect(tracingOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).endpoint).toBe(
      'http://collector:4318/v1/traces',
    );
    expect(
      tracingOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).endpoint,
    ).toBeUndefined();
  });

  it('takes the traces endpoint as it is, before the base endpoint', () => {
    expect(
      tracingOf({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp',
      }),
    ).toEqual({
      endpoint: 'https://traces.example/otlp',
      serviceName: undefined,
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
    });
    expect(
      tracingOf({ OTEL_SERVICE_NAME: 'edge', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }),
    ).toMatchObject({ serviceName: 'edge', sampler: 'traceidratio', samplerRatio: 0.25 });
  });

  it('names the variable and the value it refuses', () => {
    expect(() => testConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT: expected a http: or https: URL, got 'collector:4318'/,
    );
    expect(() => testConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'not a url' })).toThrow(
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected a URL, got 'not a url'/,
    );
    expect(() => testConfig({ OTEL_TRACES_SAMPLER: 'sometimes' })).toThrow(/OTEL_TRACES_SAMPLER: expected one of/);
    expect(() => testConfig({ OTEL_TRACES_SAMPLER_ARG: '1.5' })).toThrow(
      /OTEL_TRACES_SAMPLER_ARG: expected a number from 0 to 1, got '1.5'/,
    );
    expect(() => testConfig({ OTEL_SDK_DISABLED: 'maybe' })).toThrow(/OTEL_SDK_DISABLED: expected true or false/);
  });
});
