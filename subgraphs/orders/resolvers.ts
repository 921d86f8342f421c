import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { badInput, forbidden, notFound, unauthenticated } from '../../lib/errors';
import { canActFor, type Caller } from '../../lib/identity';
import type { RequestChanges } from '../common/changes';
import { decodeIntegerCursor, pageSize } from '../common/pagination';
import type { OrderLoaders } from './loaders';
import type { OrderService } from './service';
import type { OrderRow } from './store';

export interface OrdersContext {
  caller: Caller;
  loaders: OrderLoaders;
  orders: OrderService;
  changes: RequestChanges;
}

const MAX_LINES = 100;
const MAX_QUANTITY = 10_000;

const toOrder = (row: OrderRow) => ({
  id: String(row.id),
  userId: row.user_id,
  status: row.status,
  totalCents: row.total_cents,
  createdAt: row.created_at,
});
type Order = ReturnType<typeof toOrder>;

/** Loads an order the caller may see: its owner or an admin. */
async function visibleOrder(id: string, { caller, loaders }: OrdersContext): Promise<Order | null> {
  if (caller.kind === 'anonymous') throw unauthenticated();
  const row = await loaders.orderById.load(id);
  if (!row) return null;
  if (!canActFor(caller, row.user_id)) throw forbidden('Only the owner or an admin may see this order');
  return toOrder(row);
}

export const ordersResolvers: GraphQLResolverMap<OrdersContext> = {
  Query: {
    order: (_root, { id }: { id: string }, context) => visibleOrder(id, context),
  },
  Mutation: {
    placeOrder: async (_root, { input }: { input: { items: { sku: string; quantity: number }[] } }, { caller, orders, changes }) => {
      // Orders belong to users: an anonymous caller must sign in, and a service (orders itself, or any other
      // caller with the service secret) has no account to order for. Refused before anything is written.
      if (caller.kind === 'anonymous') throw unauthenticated('You must be signed in to place an order');
      if (caller.kind !== 'user') throw forbidden('Only a signed-in user can place an order, not a service');
      if (input.items.length === 0) throw badInput('input.items', 'an order needs at least one item');
      if (input.items.length > MAX_LINES) throw badInput('input.items', `an order has at most ${MAX_LINES} lines`);
      const seen = new Set<string>();
      input.items.forEach((item, index) => {
        if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_QUANTITY) {
          throw badInput(`input.items[${index}].quantity`, `quantity must be from 1 to ${MAX_QUANTITY}, got ${item.quantity}`);
        }
        if (item.sku.trim() === '') throw badInput(`input.items[${index}].sku`, 'sku must not be empty');
        if (seen.has(item.sku)) throw badInput(`input.items[${index}].sku`, `sku '${item.sku}' appears twice; combine the lines`);
        seen.add(item.sku);
      });
      return toOrder(await orders.place(caller.userId, input.items, changes));
    },
    cancelOrder: async (_root, { id }: { id: string }, context) => {
      const order = await visibleOrder(id, context);
      if (!order) throw notFound(`No order with id '${id}'`, { argumentName: 'id' });
      return toOrder(await context.orders.cancel(Number(order.id), context.changes));
    },
  },
  Order: {
    __resolveReference: (reference: { id: string }, context: OrdersContext) => visibleOrder(reference.id, context),
    user: (order: Order) => ({ __typename: 'User', id: order.userId }),
    items: async (order: Order, _args, { loaders }) => {
      const rows = await loaders.itemsByOrderId.load(Number(order.id));
      return rows.map((row) => ({
        product: { __typename: 'Product', sku: row.sku },
        quantity: row.quantity,
        unitPriceCents: row.unit_price_cents,
      }));
    },
  },
  User: {
    __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
    orders: async (user: { id: string }, args: { first?: number; after?: string }, { caller, loaders }) => {
      if (!canActFor(caller, user.id)) throw forbidden("Only the user themself or an admin may see a user's orders");
      pageSize(args.first);
      decodeIntegerCursor(args.after);
      const page = await loaders.ordersPageByUser.load({ userId: user.id, first: args.first, after: args.after });
      return { ...page, edges: page.edges.map((edge) => ({ cursor: edge.cursor, node: toOrder(edge.node) })) };
    },
  },
  Product: {
    shippingEstimateCents: (product: { weightGrams: number }) => 499 + 25 * Math.ceil(product.weightGrams / 100),
  },
};
