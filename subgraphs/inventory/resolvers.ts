import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { badInput, conflict, forbidden, notFound, unauthenticated } from '../../lib/errors';
import { isAdmin, type Caller } from '../../lib/identity';
import type { RequestChanges } from '../common/changes';
import { isUniqueViolation } from '../common/database';
import { decodeCursor, pageSize, toConnection } from '../common/pagination';
import type { InventoryLoaders } from './loaders';
import { productChanged, type InventoryStore, type ProductRow } from './store';

export interface InventoryContext {
  caller: Caller;
  loaders: InventoryLoaders;
  store: InventoryStore;
  changes: RequestChanges;
}

const MAX_QUANTITY = 1_000_000;
const SKU = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const toProduct = (row: ProductRow) => ({
  sku: row.sku,
  name: row.name,
  priceCents: row.price_cents,
  weightGrams: row.weight_grams,
  stock: row.stock,
  inStock: row.stock > 0,
});

function requireAdmin(caller: Caller): void {
  if (caller.kind === 'anonymous') throw unauthenticated();
  if (!isAdmin(caller)) throw forbidden('Only an admin may change the catalogue');
}

/** Reservations are internal: only the orders service, with its signed service identity, may touch them. */
function requireOrdersService(caller: Caller): void {
  if (caller.kind !== 'service' || caller.service !== 'orders') throw forbidden('Only the orders service may reserve stock');
}

function requireInteger(argumentName: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badInput(argumentName, `${argumentName} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

interface CreateProductInput {
  sku: string;
  name: string;
  priceCents: number;
  weightGrams: number;
  stock: number;
}

export const inventoryResolvers: GraphQLResolverMap<InventoryContext> = {
  Query: {
    product: async (_root, { sku }: { sku: string }, { loaders }) => {
      const row = await loaders.productBySku.load(sku);
      return row ? toProduct(row) : null;
    },
    products: async (_root, args: { first?: number; after?: string }, { store }) => {
      const size = pageSize(args.first);
      const [rows, total] = await Promise.all([store.page(decodeCursor(args.after), size + 1), store.count()]);
      return toConnection(rows, size, total, (row) => row.sku, toProduct);
    },
  },
  Mutation: {
    createProduct: async (_root, { input }: { input: CreateProductInput }, { caller, store, changes }) => {
      requireAdmin(caller);
      const name = input.name.trim();
      if (!SKU.test(input.sku)) throw badInput('input.sku', `'${input.sku}' is not a valid sku (letters, digits, . _ -; up to 64)`);
      if (name.length < 1 || name.length > 200) throw badInput('input.name', 'name must be 1 to 200 characters');
      requireInteger('input.priceCents', input.priceCents, 0, 100_000_000);
      requireInteger('input.weightGrams', input.weightGrams, 1, 10_000_000);
      requireInteger('input.stock', input.stock, 0, MAX_QUANTITY);
      try {
        const row = await store.insert({
          sku: input.sku,
          name,
          price_cents: input.priceCents,
          weight_grams: input.weightGrams,
          stock: input.stock,
        });
        changes.record(productChanged(row.sku));
        return toProduct(row);
      } catch (error) {
        if (isUniqueViolation(error)) throw conflict(`A product with sku '${input.sku}' already exists`, { argumentName: 'input.sku' });
        throw error;
      }
    },
    restock: async (_root, { sku, quantity }: { sku: string; quantity: number }, { caller, store, changes }) => {
      requireAdmin(caller);
      requireInteger('quantity', quantity, 1, MAX_QUANTITY);
      const row = await store.restock(sku, quantity);
      if (!row) throw notFound(`No product with sku '${sku}'`, { argumentName: 'sku' });
      changes.record(productChanged(row.sku));
      return toProduct(row);
    },
    reserveStock: async (
      _root,
      { input }: { input: { reservationId: string; items: { sku: string; quantity: number }[] } },
      { caller, store, changes },
    ) => {
      requireOrdersService(caller);
      if (input.items.length === 0) throw badInput('input.items', 'a reservation needs at least one line');
      const seen = new Set<string>();
      input.items.forEach((item, index) => {
        requireInteger(`input.items[${index}].quantity`, item.quantity, 1, MAX_QUANTITY);
        if (seen.has(item.sku)) throw badInput(`input.items[${index}].sku`, `sku '${item.sku}' appears twice`);
        seen.add(item.sku);
      });
      const { reservation, stockChanged } = await store.reserve(input.reservationId, input.items);
      changes.record(...stockChanged.map(productChanged));
      return reservation;
    },
    confirmReservation: async (_root, { reservationId }: { reservationId: string }, { caller, store, changes }) => {
      requireOrdersService(caller);
      const outcome = await store.confirm(reservationId);
      if (outcome.ok) return outcome.reservation;
      changes.record(...outcome.stockChanged.map(productChanged));
      if (outcome.reason === 'UNKNOWN') throw notFound(`No reservation '${reservationId}'`, { argumentName: 'reservationId' });
      throw conflict(`Reservation '${reservationId}' was ${outcome.reason === 'EXPIRED' ? 'expired' : 'released'}; it cannot be confirmed`, {
        reservationStatus: outcome.reservation.status,
      });
    },
    releaseStock: async (_root, { reservationId }: { reservationId: string }, { caller, store, changes }) => {
      requireOrdersService(caller);
      const { reservation, stockChanged } = await store.release(reservationId);
      changes.record(...stockChanged.map(productChanged));
      return reservation;
    },
  },
  Product: {
    __resolveReference: async (reference: { sku: string }, { loaders }: InventoryContext) => {
      const row = await loaders.productBySku.load(reference.sku);
      return row ? toProduct(row) : null;
    },
  },
};
