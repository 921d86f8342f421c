import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import type { CacheStore } from './store';

/**
 * Automatic persisted queries kept in the shared cache store: once one replica has seen a query's hash, every
 * replica can serve it by hash. (Query plans stay in each replica's in-process LRU; see the README.)
 */
export function persistedQueryCache(store: CacheStore): KeyValueCache<string> {
  const prefix = 'apq:';
  return {
    get: (key) => store.get(prefix + key),
    set: (key, value, options) => store.set(prefix + key, value, options?.ttl ?? undefined),
    delete: async (key) => {
      await store.deleteKeys([prefix + key]);
      return true;
    },
  };
}
