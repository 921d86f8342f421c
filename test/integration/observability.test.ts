import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createLogger, type LogDestination } from '../../lib/logger';
import { adminToken, startSystem, token, type TestGateway, type TestSystem } from '../helpers/system';
import { parseExposition, type MetricFamily } from '../helpers/exposition';

/**
 * Logs and metrics of a running system: the gateway's access line, the request id from the client through the
 * gateway to a subgraph's own log line, and `/metrics` (prom-client) with bounded, space-free label values.
 */
type LogLine = Record<string, unknown> & { service: string; level: string; msg: string };

/** Every line the system's services log (debug and up), and a way to wait for one that has not come yet. */
function logCapture() {
  const lines: LogLine[] = [];
  const written = new EventEmitter();
  const destination: LogDestination = {
    write(text: string) {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      written.emit('line', line);
    },
  };
  return {
    lines,
    logger: createLogger('test', { level: 'debug', format: 'json' }, destination),
    /** The first line (already written or to come) that `matches`. */
    next(matches: (line: LogLine) => boolean): Promise<LogLine> {
      const found = lines.find(matches);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => {
        const listener = (line: LogLine) => {
          if (!matches(line)) return;
          written.off('line', listener);
          resolve(line);
        };
        written.on('line', listener);
      });
    },
  };
}

const accessLine = (requestId: string) => (line: LogLine) =>
  line.service === 'gateway' && line.msg === 'request' && line.requestId === requestId;

const CROSS = `query UsersAndOrders { users(first: 3) { edges { node { name orders(first: 2) { edges { node {
  totalCents items { quantity product { name } } } } } } } } }`;

async function scrape(gatewayUrl: string): Promise<Map<string, MetricFamily>> {
  const response = await fetch(gatewayUrl.replace(/\/graphql$/, '/metrics'));
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

describe('logs and metrics', () => {
  const logs = logCapture();
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem('sqlite', { DEDUP_INBOUND: 'off' }, logs.logger);
  });
  afterAll(() => system?.close());

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(system.gatewayUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });

  it('logs one info access line per request: id, operation name and hash, status, duration, hashed caller, subgraph requests, cache hits and misses', async () => {
    const cold = await post({ query: CROSS }, { authorization: `Bearer ${adminToken()}`, 'x-request-id': 'cold-1' });
    expect(cold.status).toBe(200);
    const warm = await post({ query: CROSS }, { authorization: `Bearer ${adminToken()}`, 'x-request-id': 'warm-1' });
    expect(warm.status).toBe(200);
    const [first, second] = await Promise.all([logs.next(accessLine('cold-1')), logs.next(accessLine('warm-1'))]);
    expect(first).toEqual({
      level: 'info',
      time: expect.any(String),
      service: 'gateway',
      msg: 'request',
      requestId: 'cold-1',
      operationName: 'UsersAndOrders',
      operationHash: crypto.createHash('sha256').update(CROSS).digest('hex'),
      status: 200,
      durationMs: expect.any(Number),
      caller: expect.stringMatching(/^user:[0-9a-f]{16}$/),
      subgraphRequests: expect.any(Number),
      entityCacheHits: expect.any(Number),
      entityCacheMisses: expect.any(Number),
    });
    expect(first.subgraphRequests).toBeGreaterThanOrEqual(3);
    expect(first.entityCacheMisses).toBeGreaterThan(0);
    expect(second.entityCacheHits).toBeGreaterThan(0);
    expect(second.subgraphRequests).toBeLessThan(first.subgraphRequests as number);
    // The same caller hashes the same way; another caller does not; the id itself never appears.
    expect(second.caller).toBe(first.caller);
    await post({ query: '{ me { id } }' }, { authorization: `Bearer ${token('42')}`, 'x-request-id': 'user-42' });
    const other = await logs.next(accessLine('user-42'));
    expect(other.caller).toMatch(/^user:[0-9a-f]{16}$/);
    expect(other.caller).not.toBe(first.caller);
    expect(JSON.stringify(other)).not.toContain('"42"');
    expect(other.operationName).toBeNull();
  });

  it('logs the error codes of a failed request, and its status', async () => {
    const response = await post({ query: '{ users(first: ' }, { 'x-request-id': 'broken-1' });
    expect(response.status).toBe(400);
    const line = await logs.next(accessLine('broken-1'));
    expect(line).toMatchObject({ status: 400, errorCodes: ['GRAPHQL_PARSE_FAILED'], caller: 'anonymous' });
  });

  it('takes a well-formed x-request-id from the client, echoes it, and sends it to the subgraphs, which log it', async () => {
    const response = await post(
      { query: '{ users(first: 1) { edges { node { name } } } }' },
      { 'x-request-id': 'abc.DEF_123:4-5' },
    );
    expect(response.headers.get('x-request-id')).toBe('abc.DEF_123:4-5');
    const subgraph = await logs.next(
      (line) => line.service === 'users' && line.msg === 'request' && line.requestId === 'abc.DEF_123:4-5',
    );
    expect(subgraph).toMatchObject({
      level: 'debug',
      status: 200,
      caller: 'anonymous',
      durationMs: expect.any(Number),
    });
  });

  it('makes a new request id when the client sends none or a malformed one, and forwards that one', async () => {
    const none = await post({ query: '{ users(first: 1) { edges { node { name } } } }' });
    const generated = none.headers.get('x-request-id')!;
    expect(generated).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await logs.next((line) => line.service === 'users' && line.requestId === generated);
    for (const malformed of ['has spaces', 'x'.repeat(129), 'semi;colon', '"quoted"']) {
      const replaced = (await post({ query: '{ __typename }' }, { 'x-request-id': malformed })).headers.get(
        'x-request-id',
      )!;
      expect(replaced).not.toBe(malformed);
      expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
      await logs.next(accessLine(replaced));
    }
  });

  it('exports request duration by operation name, status and error code, with label values free of spaces', async () => {
    const families = await scrape(system.gatewayUrl);
    const count = families
      .get('gateway_request_duration_seconds')!
      .samples.filter((sample) => sample.name.endsWith('_count'));
    expect(count).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { operation_name: 'UsersAndOrders', status: '200', code: 'none' } }),
        expect.objectContaining({
          labels: { operation_name: 'anonymous', status: '400', code: 'GRAPHQL_PARSE_FAILED' },
        }),
      ]),
    );
    const subgraphs = families.get('gateway_subgraph_request_duration_seconds')!.samples;
    expect(new Set(subgraphs.map((sample) => sample.labels.subgraph))).toEqual(
      new Set(['users', 'orders', 'inventory']),
    );
    for (const family of families.values())
      for (const sample of family.samples)
        for (const [name, value] of Object.entries(sample.labels))
          expect({ metric: sample.name, name, value, spaceless: !/\s/.test(value) }).toMatchObject({ spaceless: true });
  });

  it('exports the process metrics on the gateway and on each subgraph', async () => {
    const gateway = await scrape(system.gatewayUrl);
    const users = await scrape(system.subgraphs.users.url);
    for (const families of [gateway, users])
      for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds'])
        expect({ name, exported: families.has(name) }).toEqual({ name, exported: true });
    const received = users.get('subgraph_http_requests_total')!.samples[0]!;
    expect(received.labels).toEqual({ subgraph: 'users' });
    expect(received.value).toBeGreaterThan(0);
    expect(users.get('subgraph_request_duration_seconds')!.type).toBe('histogram');
  });

  describe('with METRICS_OPERATION_NAMES=20', () => {
    let bounded: TestGateway;
    beforeAll(async () => {
      bounded = await system.startGateway({ METRICS_OPERATION_NAMES: '20' });
    });

    it('labels 500 distinct operation names with at most 21 values (the first 20, then other)', async () => {
      for (let wave = 0; wave < 10; wave++)
        await Promise.all(
          Array.from({ length: 50 }, async (_, index) => {
            const name = `Distinct${wave * 50 + index}`;
            const result = await bounded.query(`query ${name} { __typename }`);
            expect(result.status).toBe(200);
          }),
        );
      const families = await scrape(bounded.url);
      const names = new Set(
        families
          .get('gateway_request_duration_seconds')!
          .samples.filter((sample) => sample.name.endsWith('_count'))
          .map((sample) => sample.labels.operation_name),
      );
      expect(names.size).toBeLessThanOrEqual(21);
      expect(names.has('other')).toBe(true);
      const total = families
        .get('gateway_request_duration_seconds')!
        .samples.filter((sample) => sample.name.endsWith('_count'))
        .reduce((sum, sample) => sum + sample.value, 0);
      expect(total).toBe(500);
    });
  });
});
