import { CHANGES_EXTENSION, isEntityChange, type EntityChange } from '../../lib/events';
import { callerHeaders, type Caller } from '../../lib/identity';
import { messageOf } from '../../lib/errors';
import { injectActiveTraceContext } from '../../lib/tracing';

/**
 * The orders service's direct line to inventory, for the internal (`@inaccessible`) reservation mutations.
 * It signs its requests as the `orders` service; inventory accepts reservations from no one else.
 */
export interface ReservedLine {
  sku: string;
  quantity: number;
  unitPriceCents: number;
}

export type InventoryResult<T> =
  /** `changes`: the products whose stock inventory changed (and published), to forward to our own caller. */
  | { ok: true; value: T; changes: EntityChange[] }
  /** Inventory answered and said no (out of stock, unknown sku): nothing was reserved. */
  | { ok: false; kind: 'rejected'; code: string; message: string; extensions: Record<string, unknown> }
  /** No usable answer (down, timed out, 5xx): whether the write happened is unknown. */
  | { ok: false; kind: 'unavailable'; reason: string };

const RESERVATION_FIELDS = 'reservationId status lines { sku quantity unitPriceCents }';

export interface InventoryClient {
  /** Takes the stock, HELD until inventory's deadline (RESERVATION_HOLD_MS) unless confirmed. */
  reserve(reservationId: string, items: { sku: string; quantity: number }[]): Promise<InventoryResult<ReservedLine[]>>;
  /** Keeps a HELD reservation for good; rejected (CONFLICT) when it expired or was released first. */
  confirm(reservationId: string): Promise<InventoryResult<ReservedLine[]>>;
  /** Gives the stock back (HELD or CONFIRMED); for an id inventory has not seen, leaves a tombstone. */
  release(reservationId: string): Promise<InventoryResult<ReservedLine[]>>;
}

/** How long orders waits for inventory by default; an order's lease is derived from it. */
export const DEFAULT_INVENTORY_TIMEOUT_MS = 5_000;

export function createInventoryClient(options: { url: string; serviceSecret: string; timeoutMs?: number }): InventoryClient {
  const self: Caller = { kind: 'service', service: 'orders' };
  async function call(query: string, variables: Record<string, unknown>, field: string): Promise<InventoryResult<ReservedLine[]>> {
    const request = JSON.stringify({ query, variables });
    // Signed per request: the signature covers this body and expires (SIGNATURE_MAX_AGE_MS).
    const headers = { 'content-type': 'application/json', ...callerHeaders(options.serviceSecret, self, request) };
    // The reservation continues the order's trace in inventory (when tracing is on).
    injectActiveTraceContext(headers);
    let response: Response;
    try {
      response = await fetch(options.url, {
        method: 'POST',
        headers,
        body: request,
        signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_INVENTORY_TIMEOUT_MS),
      });
    } catch (error) {
      return { ok: false, kind: 'unavailable', reason: messageOf(error) };
    }
    if (response.status >= 500) return { ok: false, kind: 'unavailable', reason: `HTTP ${response.status}` };
    let body: {
      data?: Record<string, { lines: ReservedLine[] } | null> | null;
      errors?: { message: string; extensions?: Record<string, unknown> }[];
      extensions?: Record<string, unknown>;
    };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      return { ok: false, kind: 'unavailable', reason: `HTTP ${response.status} with a body that is not JSON` };
    }
    const error = body.errors?.[0];
    if (error) {
      const code = typeof error.extensions?.code === 'string' ? error.extensions.code : 'INTERNAL_SERVER_ERROR';
      if (code === 'INTERNAL_SERVER_ERROR') return { ok: false, kind: 'unavailable', reason: error.message };
      return { ok: false, kind: 'rejected', code, message: error.message, extensions: error.extensions ?? {} };
    }
    const result = body.data?.[field];
    if (!result) return { ok: false, kind: 'unavailable', reason: 'empty response' };
    const changes = body.extensions?.[CHANGES_EXTENSION];
    return { ok: true, value: result.lines, changes: Array.isArray(changes) ? changes.filter(isEntityChange) : [] };
  }
  return {
    reserve: (reservationId, items) =>
      call(
        `mutation Reserve($input: ReserveStockInput!) { reserveStock(input: $input) { ${RESERVATION_FIELDS} } }`,
        { input: { reservationId, items } },
        'reserveStock',
      ),
    confirm: (reservationId) =>
      call(
        `mutation Confirm($id: ID!) { confirmReservation(reservationId: $id) { ${RESERVATION_FIELDS} } }`,
        { id: reservationId },
        'confirmReservation',
      ),
    release: (reservationId) =>
      call(
        `mutation Release($id: ID!) { releaseStock(reservationId: $id) { ${RESERVATION_FIELDS} } }`,
        { id: reservationId },
        'releaseStock',
      ),
  };
}
