import { adminToken, startSystem, type TestSystem } from '../helpers/system';

describe('when a subgraph is down', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem('sqlite');
  }, 60_000);
  afterAll(async () => system?.close());

  const base = () => system.gatewayUrl.replace(/\/graphql$/, '');

  it('reports ready while every subgraph answers', async () => {
    const response = await fetch(`${base()}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', subgraphs: { users: 'up', orders: 'up', inventory: 'up' } });
  });

  it('serves the rest of the graph with a clear error, and reports not ready', async () => {
    await system.stopSubgraph('inventory');
    const result = await system.query<{ user: { name: string; orders: { edges: { node: { totalCents: number } }[] } }; product: null }>(
      `{ user(id: "2") { name orders(first: 1) { edges { node { totalCents } } } } product(sku: "SKU-0001") { name } }`,
      {},
      { token: adminToken() },
    );
    expect(result.status).toBe(200);
    expect(result.data!.user.name).toEqual(expect.any(String));
    expect(result.data!.user.orders.edges[0]!.node.totalCents).toBeGreaterThan(0);
    expect(result.data!.product).toBeNull();
    expect(result.errors!.map((error) => error.extensions!.code)).toContain('SUBGRAPH_UNAVAILABLE');
    expect(result.errors!.every((error) => !('stacktrace' in (error.extensions ?? {})))).toBe(true);

    const ready = await fetch(`${base()}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'unavailable', subgraphs: { inventory: 'down', users: 'up' } });
    expect((await fetch(`${base()}/healthz`)).status).toBe(200);
  });

  it('places no order when inventory is unreachable', async () => {
    const result = await system.query(
      `mutation { placeOrder(input: { items: [{ sku: "SKU-0001", quantity: 1 }] }) { id } }`,
      {},
      { token: adminToken() },
    );
    expect(result.errors![0]!.extensions!.code).toBe('SERVICE_UNAVAILABLE');
    expect(result.data).toBeNull();
  });

  it('counts subgraph requests and errors in /metrics', async () => {
    const text = await (await fetch(`${base()}/metrics`)).text();
    expect(text).toMatch(/gateway_subgraph_requests_total\{subgraph="users"\} [1-9]/);
    expect(text).toMatch(/gateway_subgraph_errors_total\{subgraph="inventory"\} [1-9]/);
    expect(text).toMatch(/gateway_request_duration_seconds_count\{[^}]*status="200"[^}]*\} [1-9]/);
  });
});
