import DataLoader from 'dataloader';
import { tracedBatch } from '../../lib/tracing';
import type { InventoryStore, ProductRow } from './store';

/** Per-request loaders: one SQL statement per batch, values in key order, null for a missing key. */
export function createInventoryLoaders(store: InventoryStore) {
  return {
    productBySku: new DataLoader<string, ProductRow | null>(
      tracedBatch('inventory.productBySku', async (skus) => {
        const rows = await store.bySkus(skus);
        const bySku = new Map(rows.map((row) => [row.sku, row]));
        return skus.map((sku) => bySku.get(sku) ?? null);
      }),
    ),
  };
}
export type InventoryLoaders = ReturnType<typeof createInventoryLoaders>;
