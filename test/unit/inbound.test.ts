import http from 'node:http';
import type { InboundDedup } from '../../lib/config';
import { writeGraphQLResult, type GraphQLHttpResult } from '../../lib/http';
import type { Caller } from '../../lib/identity';
import { createInboundDeduplicator } from '../../gateway/inbound';
import { createGatewayMetrics, type GatewayMetrics } from '../../gateway/metrics';
import { counterValue } from '../../lib/metrics';

const ANONYMOUS: Caller = { kind: 'anonymous' };
const ADA: Caller = { kind: 'user', userId: 'ada', admin: false };
const GRACE: Caller = { kind: 'user', userId: 'grace', admin: false };

const QUERY = { query: 'query Top($first: Int) { topProducts(first: $first) { upc name } }', variables: { first: 2 } };

/** The parts of node:http's IncomingMessage the deduplicator reads. */
const request = (headers: http.IncomingHttpHeaders = {}, method = 'POST') =>
  ({ method, headers: { accept: 'application/json', ...headers } }) as unknown as http.IncomingMessage;

/**
 * An execution the test finishes by hand, recording every start: the spy that shows whether a request ran its
 * own execution or shared another's.
 */
function executions() {
  const started: { finish(body: string): void; fail(error: Error): void }[] = [];
  const execute = (): Promise<GraphQLHttpResult> =>
    new Promise((resolve, reject) => {
      started.push({
        finish: (body) => resolve({ status: 200, headers: { 'content-type': 'application/json' }, body }),
        fail: reject,
      });
    });
  return { execute, started };
}

describe('createInboundDeduplicator', () => {
  let metrics: GatewayMetrics;
  const inbound = (mode: InboundDedup = 'all') => createInboundDeduplicator(mode, metrics);
  const shared = () => counterValue(metrics.deduplicated, { kind: 'inbound' });

  beforeEach(() => (metrics = createGatewayMetrics()));

  it('lets identical concurrent queries from the same caller share one execution and its response', async () => {
    const dedup = inbound();
    const { execute, started } = executions();
    const first = dedup.run(request(), { ...QUERY }, ADA, execute);
    const second = dedup.run(request(), { ...QUERY }, ADA, execute);
    const third = dedup.run(request(), JSON.parse(JSON.stringify(QUERY)), { ...ADA }, execute);
    expect(started).toHaveLength(1);
    started[0]!.finish('{"data":{"topProducts":[]}}');
    const responses = await Promise.all([first, second, third]);
    expect(responses[1]).toBe(responses[0]);
    expect(responses[2]).toBe(responses[0]);
    expect(responses[0]!.body).toBe('{"data":{"topProducts":[]}}');
    expect(await shared()).toBe(2);
  });

  it('lets identical concurrent anonymous queries share one execution', async () => {
    const dedup = inbound();
    const { execute, started } = executions();
    const both = Promise.all([
      dedup.run(request(), QUERY, ANONYMOUS, execute),
      dedup.run(request(), QUERY, ANONYMOUS, execute),
    ]);
    expect(started).toHaveLength(1);
    started[0]!.finish('{}');
    await both;
  });

  it.each<[string, Caller, Caller]>([
    ['two signed-in users', ADA, GRACE],
    ['a user and an anonymous caller', ADA, ANONYMOUS],
    ['a user and the same user as an admin', ADA, { ...ADA, admin: true }],
    ['a user and a service', ADA, { kind: 'service', service: 'ada' }],
  ])('never shares between %s', async (_case, one, other) => {
    const dedup = inbound();
    const { execute, started } = executions();
    const results = Promise.all([
      dedup.run(request(), QUERY, one, execute),
      dedup.run(request(), QUERY, other, execute),
    ]);
    expect(started).toHaveLength(2);
    started[0]!.finish('{"data":"one"}');
    started[1]!.finish('{"data":"other"}');
    expect((await results).map((result) => result.body)).toEqual(['{"data":"one"}', '{"data":"other"}']);
    expect(await shared()).toBe(0);
  });

  it.each<[string, Record<string, unknown>]>([
    ['other variables', { ...QUERY, variables: { first: 3 } }],
    ['another operation name', { ...QUERY, operationName: 'Top' }],
    ['other extensions', { ...QUERY, extensions: { persistedQuery: { version: 1 } } }],
    ['another document', { ...QUERY, query: `${QUERY.query} ` }],
  ])('does not share between queries with %s', async (_case, body) => {
    const dedup = inbound();
    const { execute, started } = executions();
    const both = Promise.all([dedup.run(request(), QUERY, ADA, execute), dedup.run(request(), body, ADA, execute)]);
    expect(started).toHaveLength(2);
    for (const execution of started) execution.finish('{}');
    await both;
  });

  it.each([
    ['accept', { accept: 'application/graphql-response+json' }],
    ['apollo-query-plan-experimental', { 'apollo-query-plan-experimental': '1' }],
  ])('does not share between requests whose %s header shapes the response differently', async (_header, headers) => {
    const dedup = inbound();
    const { execute, started } = executions();
    const both = Promise.all([
      dedup.run(request(), QUERY, ADA, execute),
      dedup.run(request(headers), QUERY, ADA, execute),
    ]);
    expect(started).toHaveLength(2);
    for (const execution of started) execution.finish('{}');
    await both;
  });

  it('shares between requests that differ only in headers that do not shape the response', async () => {
    const dedup = inbound();
    const { execute, started } = executions();
    const both = Promise.all([
      dedup.run(request({ 'user-agent': 'a', 'x-request-id': '1' }), QUERY, ADA, execute),
      dedup.run(request({ 'user-agent': 'b', 'x-request-id': '2' }), QUERY, ADA, execute),
    ]);
    expect(started).toHaveLength(1);
    started[0]!.finish('{}');
    await both;
  });

  it.each<[string, Record<string, unknown>]>([
    ['a mutation', { query: 'mutation { rename(id: "1", name: "x") { id } }' }],
    ['a subscription', { query: 'subscription { changes { id } }' }],
    [
      'the mutation of a document that also has a query',
      { query: 'query A { a } mutation B { b }', operationName: 'B' },
    ],
    ['a document with two operations and no operation name', { query: 'query A { a } query B { b }' }],
    ['a document that does not parse', { query: '{ topProducts(' }],
    ['a body without a query', { extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } }],
  ])('never shares %s', async (_case, body) => {
    const dedup = inbound();
    const { execute, started } = executions();
    const both = Promise.all([dedup.run(request(), body, ADA, execute), dedup.run(request(), body, ADA, execute)]);
    expect(started).toHaveLength(2);
    for (const execution of started) execution.finish('{}');
    await both;
    expect(await shared()).toBe(0);
  });

  it('shares the query of a document that also has a mutation, when the operation name picks the query', async () => {
    const dedup = inbound();
    const { execute, started } = executions();
    const body = { query: 'query A { a } mutation B { b }', operationName: 'A' };
    const both = Promise.all([dedup.run(request(), body, ADA, execute), dedup.run(request(), body, ADA, execute)]);
    expect(started).toHaveLength(1);
    started[0]!.finish('{}');
    await both;
  });

  it('never shares a GET request', async () => {
    // A GET carries its operation in the URL, which the key does not look at.
    const dedup = inbound();
    const { execute, started } = executions();
    const both = Promise.all([
      dedup.run(request({}, 'GET'), QUERY, ADA, execute),
      dedup.run(request({}, 'GET'), QUERY, ADA, execute),
    ]);
    expect(started).toHaveLength(2);
    for (const execution of started) execution.finish('{}');
    await both;
  });

  it("never shares with mode 'off'", async () => {
    const dedup = inbound('off');
    const { execute, started } = executions();
    const both = Promise.all([
      dedup.run(request(), QUERY, ANONYMOUS, execute),
      dedup.run(request(), QUERY, ANONYMOUS, execute),
    ]);
    expect(started).toHaveLength(2);
    for (const execution of started) execution.finish('{}');
    await both;
  });

  it("with mode 'anonymous', shares anonymous queries only, never a signed-in caller's", async () => {
    const dedup = inbound('anonymous');
    const { execute, started } = executions();
    const signedIn = Promise.all([
      dedup.run(request(), QUERY, ADA, execute),
      dedup.run(request(), QUERY, ADA, execute),
    ]);
    expect(started).toHaveLength(2);
    const anonymous = Promise.all([
      dedup.run(request(), QUERY, ANONYMOUS, execute),
      dedup.run(request(), QUERY, ANONYMOUS, execute),
    ]);
    expect(started).toHaveLength(3);
    for (const execution of started) execution.finish('{}');
    await Promise.all([signedIn, anonymous]);
    expect(await shared()).toBe(1);
  });

  it('does not reuse an execution that has finished', async () => {
    const dedup = inbound();
    const { execute, started } = executions();
    const first = dedup.run(request(), QUERY, ADA, execute);
    started[0]!.finish('{"data":"first"}');
    expect((await first).body).toBe('{"data":"first"}');
    const second = dedup.run(request(), QUERY, ADA, execute);
    expect(started).toHaveLength(2);
    started[1]!.finish('{"data":"second"}');
    expect((await second).body).toBe('{"data":"second"}');
  });

  it('hands a failed execution’s error to everyone sharing it, and does not reuse it', async () => {
    const dedup = inbound();
    const { execute, started } = executions();
    const first = dedup.run(request(), QUERY, ADA, execute);
    const second = dedup.run(request(), QUERY, ADA, execute);
    started[0]!.fail(new Error('gateway overloaded'));
    await expect(first).rejects.toThrow('gateway overloaded');
    await expect(second).rejects.toThrow('gateway overloaded');
    const third = dedup.run(request(), QUERY, ADA, execute);
    expect(started).toHaveLength(2);
    started[1]!.finish('{}');
    await expect(third).resolves.toMatchObject({ status: 200 });
  });

  it('shares between real requests arriving at a node:http server, encoding the shared answer once', async () => {
    const dedup = inbound();
    const { execute, started } = executions();
    const arrived: Promise<GraphQLHttpResult>[] = [];
    let bothArrived!: () => void;
    const ready = new Promise<void>((resolve) => (bothArrived = resolve));
    const server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      req.on('end', () => {
        const running = dedup.run(req, JSON.parse(raw), ANONYMOUS, execute);
        arrived.push(running);
        if (arrived.length === 2) bothArrived();
        void running.then((result) => writeGraphQLResult(res, result));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/graphql`;
      const post = () =>
        fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify(QUERY),
        }).then((response) => response.text());
      const responses = Promise.all([post(), post()]);
      await ready;
      expect(started).toHaveLength(1);
      // Multi-byte text: the content-length is of the bytes, not of the characters.
      const answer = '{"data":{"topProducts":[{"name":"Crème brûlée 🍮"}]}}';
      started[0]!.finish(answer);
      expect(await responses).toEqual([answer, answer]);
      const [first, second] = await Promise.all(arrived);
      expect(second).toBe(first);
      expect(first!.bytes?.toString('utf8')).toBe(answer);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
