import { adminToken, startSystem, type TestSystem } from '../helpers/system';

/**
 * DataLoader everywhere a list fans out: the SQL statements each subgraph runs for a page of users with their
 * orders' items' products must not grow with the number of users.
 */
const QUERY = `query($first: Int!) { users(first: $first) { edges { node { name orders(first: 5) { totalCount edges { node {
  totalCents user { name } items { quantity product { name stock shippingEstimateCents } } } } } } } } }`;

describe('SQL statements per subgraph', () => {
  let system: TestSystem;
  beforeAll(async () => {
    system = await startSystem('sqlite');
  }, 60_000);
  afterAll(async () => system?.close());

  const statementsFor = async (first: number) => {
    const { users, orders, inventory } = system.subgraphs;
    const before = [users, orders, inventory].map((subgraph) => subgraph.database.statementCount());
    const result = await system.query<{ users: { edges: { node: { orders: { edges: unknown[] } } }[] } }>(QUERY, { first }, { token: adminToken() });
    expect(result.errors).toBeUndefined();
    expect(result.data!.users.edges).toHaveLength(first);
    const after = [users, orders, inventory].map((subgraph) => subgraph.database.statementCount());
    const [usersCount, ordersCount, inventoryCount] = after.map((count, index) => count - before[index]!);
    return { users: usersCount, orders: ordersCount, inventory: inventoryCount };
  };

  it('batches 100 users with their orders, items and products into a constant number of statements', async () => {
    const small = await statementsFor(2);
    const large = await statementsFor(100);
    expect(large).toEqual(small);
    // users: the page and its count, then one batch of __resolveReference for Order.user;
    // orders: one statement for every user's page of orders, one for all their items;
    // inventory: one statement for every product referenced.
    expect(large).toEqual({ users: 3, orders: 2, inventory: 1 });
  });
});
