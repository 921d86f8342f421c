import type { FormattedExecutionResult, GraphQLFormattedError } from 'graphql';
import type { EntityChange } from '../../lib/events';
import type { Caller } from '../../lib/identity';
import type { RealtimeEvent } from './event-source';

/** Runs a query through the gateway's own path (planner, executor, batching, entity cache) for one caller. */
export type RunQuery = (
  query: string,
  variables: Record<string, unknown>,
  caller: Caller,
) => Promise<FormattedExecutionResult>;

export type Authorisation =
  | {
      kind: 'accepted';
      /** Whether this subscriber may receive the event about entity `key`. */ accepts(
        event: RealtimeEvent,
        key: string,
      ): boolean;
    }
  | { kind: 'refused'; error: GraphQLFormattedError };

/**
 * A subscription root field the gateway serves from broker events. Each event names one entity (an order, a
 * product); for each subscriber the event is for, the subscription's selection runs as a query on the root
 * field that reads that entity (`order(id:)`, `product(sku:)`), so every other subgraph's fields join in as they
 * do for any query, with the subscriber's identity.
 */
export interface RealtimeRootField {
  /** The query root field that reads the entity, and its key argument. */
  queryField: string;
  keyArgument: string;
  /** The entity an event is about, or undefined when the event does not feed this field. */
  keyOf(event: RealtimeEvent): string | undefined;
  /** What the entity cache must forget before the event's query runs, so it reads what the event announced. */
  staleEntities(event: RealtimeEvent, key: string): EntityChange[];
  /** Decided once, at subscribe time: refused (with a code), or a filter applied to every event. */
  authorise(args: Record<string, unknown>, caller: Caller, runQuery: RunQuery): Promise<Authorisation>;
}

const refused = (code: string, message: string, extensions: Record<string, unknown> = {}): Authorisation => ({
  kind: 'refused',
  error: { message, extensions: { code, ...extensions } },
});

/** Stock badges for up to this many products per subscription. */
export const MAX_SKUS_PER_SUBSCRIPTION = 100;

export const REALTIME_ROOT_FIELDS: Readonly<Record<string, RealtimeRootField>> = {
  orderUpdated: {
    queryField: 'order',
    keyArgument: 'id',
    keyOf: (event) => (event.kind === 'order' ? event.order.orderId : undefined),
    staleEntities: (event, key) => [
      { typename: 'Order', key: { id: key } },
      ...(event.kind === 'order'
        ? event.order.items.map((item) => ({ typename: 'Product', key: { sku: item.sku } }))
        : []),
    ],
    async authorise(args, caller, runQuery) {
      if (caller.kind !== 'user') return refused('UNAUTHENTICATED', 'Sign in to subscribe to orders');
      const id = args.id;
      if (typeof id !== 'string') {
        // Every order this caller may see: decided per event from the event's owner, without a query.
        return {
          kind: 'accepted',
          accepts: (event) => caller.admin || (event.kind === 'order' && event.order.userId === caller.userId),
        };
      }
      // The orders subgraph says who may read the order: its owner or an admin, the same rule as `order(id:)`.
      const access = await runQuery('query OrderUpdatedAccess($id: ID!) { order(id: $id) { id } }', { id }, caller);
      const order = (access.data as { order?: unknown } | null | undefined)?.order;
      if (!order) {
        const error = access.errors?.[0];
        return error?.extensions?.code
          ? { kind: 'refused', error: { message: error.message, extensions: { code: error.extensions.code } } }
          : refused('NOT_FOUND', `No order with id ${id}`);
      }
      return { kind: 'accepted', accepts: (_event, key) => key === id };
    },
  },
  stockChanged: {
    queryField: 'product',
    keyArgument: 'sku',
    keyOf: (event) =>
      event.kind === 'entity' && event.change.typename === 'Product' && event.change.key.sku !== undefined
        ? String(event.change.key.sku)
        : undefined,
    staleEntities: (_event, key) => [{ typename: 'Product', key: { sku: key } }],
    async authorise(args) {
      const skus = Array.isArray(args.skus) ? args.skus.map(String) : [];
      if (skus.length === 0 || skus.length > MAX_SKUS_PER_SUBSCRIPTION)
        return refused('BAD_USER_INPUT', `skus must name 1 to ${MAX_SKUS_PER_SUBSCRIPTION} products`, {
          argumentName: 'skus',
        });
      const wanted = new Set(skus);
      return { kind: 'accepted', accepts: (_event, key) => wanted.has(key) };
    },
  },
};
