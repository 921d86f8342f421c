import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { ask, startOurs, startReference, type Ours, type Target } from '../helpers/gateways';
import { startMatrixFederation, type MatrixFederation } from '../helpers/matrix-subgraphs';
import { ACCEPT_INCREMENTAL, mergeIncremental, postIncremental, type IncrementalResponse } from '../helpers/multipart';
import { adminToken, requireRedis, startSystem, token, type TestGateway, type TestSystem } from '../helpers/system';
import { counterValue } from '../../lib/metrics';

/**
 * `@defer` end to end, over real HTTP: the parts of a deferred query arrive in order (the initial payload, then
 * one payload per deferred block, `hasNext: false` last), carry their labels and errors at their paths, and
 * merge, as a client merges them, into exactly the answer to the same query without `@defer`. A client that does
 * not take multipart gets that answer at once. On the matrix federation, the merged answer also equals plain
 * Apollo Gateway's answer to the query without `@defer` (Apollo Gateway cannot defer).
 */

const MULTIPART = 'multipart/mixed; boundary="-"; deferSpec=20220824';
const ORDER = `{ order(id: "5") { id status ... @defer(label: "items") { totalCents items { quantity product { name stock } } } } }`;
const USER_ORDERS = `{ user(id: "2") { name ... @defer(label: "orders") { orders(first: 2) { edges { node { id
  items { product { name ... @defer(label: "stock") { stock } } } } } } } } }`;

const withoutDefer = (query: string) => query.replace(/\s*@defer(\([^)]*\))?/g, '');

/** The parts' framing: the initial first, `hasNext` true until the last part, which is `{hasNext: false}` alone. */
function expectWellFramed(response: IncrementalResponse): void {
  expect(response.status).toBe(200);
  expect(response.contentType).toBe(MULTIPART);
  const { parts } = response;
  expect(parts.length).toBeGreaterThanOrEqual(2);
  expect(parts[0]).toHaveProperty('data');
  expect(parts[0]).not.toHaveProperty('incremental');
  expect(parts.slice(0, -1).map((part) => part.hasNext)).toEqual(parts.slice(0, -1).map(() => true));
  expect(parts.at(-1)).toEqual({ hasNext: false });
  for (const part of parts.slice(1, -1)) expect(Array.isArray(part.incremental)).toBe(true);
}

type Item = {
  data: unknown;
  path: (string | number)[];
  label?: string;
  errors?: { message: string; path?: unknown }[];
};
const itemsOf = (response: IncrementalResponse): Item[] =>
  response.parts.slice(1).flatMap((part) => (part.incremental as Item[] | undefined) ?? []);

describe('@defer on our shop', () => {
  let system: TestSystem;
  const auth = { authorization: `Bearer ${adminToken()}` };
  beforeAll(async () => {
    await requireRedis();
    system = await startSystem('sqlite');
  }, 60_000);
  afterAll(async () => system?.close());

  const plain = async (query: string, variables?: Record<string, unknown>, caller = adminToken()) => {
    const { status: _status, ...answer } = await system.query(query, variables, { token: caller });
    return answer;
  };

  it('sends the order at once, then its items under their label, and the parts merge into the non-deferred answer', async () => {
    const response = await postIncremental(system.gatewayUrl, { query: ORDER }, auth);
    expectWellFramed(response);
    expect(response.parts[0]).toEqual({ data: { order: { id: '5', status: expect.any(String) } }, hasNext: true });
    expect(response.parts).toHaveLength(3);
    const [item] = itemsOf(response);
    expect(item).toEqual({
      data: { totalCents: expect.any(Number), items: expect.any(Array) },
      path: ['order'],
      label: 'items',
    });
    expect(mergeIncremental(response.parts)).toEqual(await plain(withoutDefer(ORDER)));
  });

  it('sends the slow shipping estimates after the order, one item per product', async () => {
    const query = `{ order(id: "5") { id status items { quantity product { name ... @defer(label: "shipping") { shippingEstimateCents } } } } }`;
    const response = await postIncremental(system.gatewayUrl, { query }, auth);
    expectWellFramed(response);
    const initial = response.parts[0] as { data: { order: { items: { product: Record<string, unknown> }[] } } };
    for (const item of initial.data.order.items) expect(item.product).toEqual({ name: expect.any(String) });
    const items = itemsOf(response);
    expect(items.map((item) => item.path)).toEqual(
      initial.data.order.items.map((_, index) => ['order', 'items', index, 'product']),
    );
    for (const item of items)
      expect(item).toMatchObject({ label: 'shipping', data: { shippingEstimateCents: expect.any(Number) } });
    expect(mergeIncremental(response.parts)).toEqual(await plain(withoutDefer(query)));
  });

  it('delivers nested defers after their parent, one item per list element, at concrete paths', async () => {
    const response = await postIncremental(system.gatewayUrl, { query: USER_ORDERS }, auth);
    expectWellFramed(response);
    expect(response.parts[0]).toEqual({ data: { user: { name: expect.any(String) } }, hasNext: true });
    const labels = response.parts.slice(1, -1).map((part) => (part.incremental as Item[]).map((item) => item.label));
    expect(labels[0]).toEqual(['orders']);
    expect(new Set(labels[1])).toEqual(new Set(['stock']));
    const stockItems = itemsOf(response).filter((item) => item.label === 'stock');
    expect(stockItems.length).toBeGreaterThan(1);
    for (const item of stockItems) {
      expect(item.path).toEqual([
        'user',
        'orders',
        'edges',
        expect.any(Number),
        'node',
        'items',
        expect.any(Number),
        'product',
      ]);
      expect(item.data).toEqual({ stock: expect.any(Number) });
    }
    expect(mergeIncremental(response.parts)).toEqual(await plain(withoutDefer(USER_ORDERS)));
  });

  it('gives a client that does not accept multipart the whole answer as one JSON', async () => {
    for (const query of [ORDER, USER_ORDERS]) {
      const response = await fetch(system.gatewayUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...auth },
        body: JSON.stringify({ query }),
      });
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.json()).toEqual(await plain(withoutDefer(query)));
    }
  });

  it('does not defer @defer(if: false), and follows @defer(if: $variable)', async () => {
    const literal = `{ order(id: "5") { id ... @defer(if: false, label: "never") { totalCents } } }`;
    const once = await postIncremental(system.gatewayUrl, { query: literal }, auth);
    expect(once.contentType).toMatch(/^application\/json/);
    expect(once.parts).toEqual([await plain(withoutDefer(literal))]);

    const conditional = `query ($later: Boolean!) { order(id: "5") { id ... @defer(if: $later, label: "total") { totalCents } } }`;
    const deferred = await postIncremental(system.gatewayUrl, { query: conditional, variables: { later: true } }, auth);
    expectWellFramed(deferred);
    expect(itemsOf(deferred).map((item) => item.label)).toEqual(['total']);
    const inline = await postIncremental(system.gatewayUrl, { query: conditional, variables: { later: false } }, auth);
    expect(inline.contentType).toMatch(/^application\/json/);
    for (const response of [deferred, inline])
      expect(mergeIncremental(response.parts)).toEqual(await plain(withoutDefer(literal)));
  });

  it("keeps the caller's rights in deferred blocks: only their own e-mail", async () => {
    const query = `{ users(first: 3) { edges { node { id ... @defer(label: "contact") { name email } } } } }`;
    const caller = token('2');
    const response = await postIncremental(system.gatewayUrl, { query }, { authorization: `Bearer ${caller}` });
    expectWellFramed(response);
    const items = itemsOf(response);
    expect(items.map((item) => item.path)).toEqual([0, 1, 2].map((index) => ['users', 'edges', index, 'node']));
    expect(items.map((item) => (item.data as { email: string | null }).email === null)).toEqual([true, false, true]);
    expect(mergeIncremental(response.parts)).toEqual(await plain(withoutDefer(query), undefined, caller));
  });

  it('answers in one payload what the planner cannot defer (an @requires field reached through a list)', async () => {
    const query = `{ order(id: "5") { id status ... @defer(label: "shipping") { items { product { shippingEstimateCents } } } } }`;
    const response = await postIncremental(system.gatewayUrl, { query }, auth);
    expect(response.contentType).toMatch(/^application\/json/);
    expect(response.parts).toEqual([await plain(withoutDefer(query))]);
  });

  it('batches each deferred block: one request per subgraph per wave', async () => {
    const gateway: TestGateway = await system.startGateway({ ENTITY_CACHE: 'false' });
    try {
      const inventory = () => counterValue(gateway.gateway.metrics.subgraphRequests, { subgraph: 'inventory' });
      const before = await inventory();
      const response = await postIncremental(gateway.url, { query: USER_ORDERS }, auth);
      expectWellFramed(response);
      // The "orders" block asks inventory for every product's name at once, the "stock" block for every stock.
      expect((await inventory()) - before).toBe(2);
    } finally {
      await gateway.close();
    }
  });

  describe('with inventory held', () => {
    let proxy: FaultProxy;
    let gateway: TestGateway;
    beforeAll(async () => {
      proxy = await startFaultProxy(system.subgraphs.inventory.url);
      gateway = await system.startGateway({
        SUBGRAPH_URL_INVENTORY: proxy.url,
        SUBGRAPH_TIMEOUT_MS: '60000',
        ENTITY_CACHE: 'false',
      });
    });
    afterAll(async () => {
      await gateway?.close();
      await proxy?.close();
    });

    it('sends the initial payload before a deferred block is answered, and the block fails at its path', async () => {
      proxy.set('hang');
      const query = `{ order(id: "5") { id status ... @defer(label: "names") { items { product { name } } } } }`;
      // Inventory answers nothing until the initial payload is in: only then are its connections cut.
      const response = await postIncremental(gateway.url, { query }, auth, (part, index) => {
        if (index === 0) proxy.set('reset');
      });
      proxy.set('pass');
      expectWellFramed(response);
      expect(response.parts[0]).toEqual({ data: { order: { id: '5', status: expect.any(String) } }, hasNext: true });
      const [item] = itemsOf(response);
      expect(item?.label).toBe('names');
      expect(item?.path).toEqual(['order']);
      expect(item?.errors?.length).toBeGreaterThan(0);
    });
  });
});

describe('@defer on the matrix federation, against Apollo Gateway without @defer', () => {
  let federation: MatrixFederation;
  let reference: Target;
  let ours: Ours;
  beforeAll(async () => {
    federation = await startMatrixFederation();
    reference = await startReference(federation.supergraphPath);
    ours = await startOurs(federation.supergraphPath, {});
  }, 60_000);
  afterAll(async () => {
    await Promise.all([reference?.close(), ours?.close()]);
    await federation?.close();
  });

  const SCENARIOS: [string, string][] = [
    [
      'a failing price, deferred',
      `{ products(skus: ["A", "B", "ERR1"]) { name ... @defer(label: "price") { price } } }`,
    ],
    [
      'reviews with their products deferred, a second defer unlabelled',
      `{ reviews { body ... @defer(label: "product") { product { name price } } } products { sku ... @defer { name weight } } }`,
    ],
  ];

  it.each(SCENARIOS)("%s: the merged parts equal Apollo Gateway's answer", async (_name, query) => {
    const response = await postIncremental(ours.url, { query });
    expectWellFramed(response);
    // A defer without a label is delivered without one, not under the planner's made-up name.
    for (const item of itemsOf(response)) expect(item.label ?? 'none').not.toMatch(/^qp__/);
    const merged = mergeIncremental(response.parts) as {
      data: unknown;
      errors?: { message: string; path?: unknown; extensions?: { code?: unknown } }[];
    };
    const apollo = await ask(reference.url, withoutDefer(query));
    expect(merged.data).toEqual(apollo.data);
    const comparable = (errors: { message: string; path?: unknown; code?: unknown }[] | undefined) =>
      (errors ?? []).map(({ message, path, code }) => ({ message, path, code }));
    expect(comparable(merged.errors?.map((error) => ({ ...error, code: error.extensions?.code })))).toEqual(
      comparable(apollo.errors),
    );
  });

  it('puts the failing price in the increment, at its path', async () => {
    const response = await postIncremental(ours.url, { query: SCENARIOS[0]![1] });
    const items = itemsOf(response);
    expect(items.map((item) => item.path)).toEqual([0, 1, 2].map((index) => ['products', index]));
    expect(items[2]).toEqual({
      data: { price: null },
      path: ['products', 2],
      label: 'price',
      errors: [expect.objectContaining({ message: 'No price for ERR1', path: ['products', 2, 'price'] })],
    });
    expect(items[0]?.errors).toBeUndefined();
  });

  it('is accepted with the Accept header Apollo Client sends', async () => {
    const response = await postIncremental(
      ours.url,
      { query: SCENARIOS[0]![1] },
      { accept: ACCEPT_INCREMENTAL.replace(' ', '') },
    );
    expectWellFramed(response);
  });
});
