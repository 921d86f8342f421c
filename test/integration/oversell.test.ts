import { adminToken, startSystem, token, type Backend, type TestSystem } from '../helpers/system';

const PLACE = `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`;

describe.each<Backend>(['sqlite', 'postgres'])('stock under concurrent orders on %s', (backend) => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem(backend);
  }, 120_000);
  afterAll(async () => system?.close());

  it('sells exactly the last 5 units to 20 concurrent buyers; the other 15 get OUT_OF_STOCK', async () => {
    const sku = `LAST-${backend}`;
    const created = await system.query(
      `mutation($input: CreateProductInput!) { createProduct(input: $input) { sku } }`,
      { input: { sku, name: 'Scarce thing', priceCents: 999, weightGrams: 100, stock: 5 } },
      { token: adminToken() },
    );
    expect(created.errors).toBeUndefined();

    const results = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        system.query<{ placeOrder: { id: string } }>(PLACE, { input: { items: [{ sku, quantity: 1 }] } }, { token: token(String(index + 1)) }),
      ),
    );
    const placed = results.filter((result) => result.data?.placeOrder);
    const refused = results.filter((result) => result.errors?.[0]?.extensions?.code === 'OUT_OF_STOCK');
    expect(placed).toHaveLength(5);
    expect(refused).toHaveLength(15);

    const product = await system.query<{ product: { stock: number; inStock: boolean } }>(`{ product(sku: "${sku}") { stock inStock } }`);
    expect(product.data).toEqual({ product: { stock: 0, inStock: false } });

    // Every sold unit is in exactly one order, and cancelling them all returns exactly 5 units.
    await Promise.all(
      placed.map((result) =>
        system.query(`mutation($id: ID!) { cancelOrder(id: $id) { status } }`, { id: result.data!.placeOrder.id }, { token: adminToken() }),
      ),
    );
    const restored = await system.query<{ product: { stock: number } }>(`{ product(sku: "${sku}") { stock } }`);
    expect(restored.data).toEqual({ product: { stock: 5 } });
  });
});
