/**
 * Entity change events: after every committed write, the subgraph that owns the data announces which entities
 * changed (typename and key fields), so every gateway replica can evict what it cached about them.
 */
export interface EntityChange {
  typename: string;
  /** The entity's @key fields and their values, e.g. { sku: 'SKU-0001' }. */
  key: Record<string, string | number>;
}

/** Where changes are announced. Publishing never throws: a lost event costs freshness up to a TTL, not a write. */
export interface ChangePublisher {
  publish(changes: EntityChange[]): Promise<void>;
  close(): Promise<void>;
}

/** Where gateways hear about changes. */
export interface ChangeSubscriber {
  /** Calls `handler` for every batch of changes published after this call (and any missed during a reconnect). */
  subscribe(handler: (changes: EntityChange[]) => void): Promise<void>;
  close(): Promise<void>;
}

/** The response extension that carries a write's changes back to the gateway that sent it. */
export const CHANGES_EXTENSION = 'entityChanges';
