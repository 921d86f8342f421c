import {
  getArgumentValues,
  getVariableValues,
  Kind,
  OperationTypeNode,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import { messageOf } from '../../lib/errors';
import type { EntityChange } from '../../lib/events';
import { encodeCaller, type Caller } from '../../lib/identity';
import type { Logger } from '../../lib/logger';
import type { RealtimeEvent, RealtimeEventSource } from './event-source';
import type { SubscriptionMetrics } from './metrics';
import { REALTIME_ROOT_FIELDS, type RealtimeRootField, type RunQuery } from './root-fields';

/**
 * One subscriber's results, as the transports consume them: `return()` (the client unsubscribed or went away)
 * ends the subscription at once, even while it waits for an event. Not declared an AsyncGenerator: that type
 * also wants `Symbol.asyncDispose`, which the build's ES2023 lib does not know.
 */
export type EventStream = AsyncIterableIterator<FormattedExecutionResult, undefined>;
export type Transport = 'graphql-ws' | 'sse';

export interface SubscriptionRequest {
  /** The API schema the document was validated against. */
  schema: GraphQLSchema;
  document: DocumentNode;
  operation: OperationDefinitionNode;
  variables: Record<string, unknown> | undefined;
  caller: Caller;
}

/** What the transport carrying a subscription tells the engine. */
export interface SubscriberHooks {
  transport: Transport;
  /** Events pile up for this subscriber: the transport drops its connection with its slow-consumer signal. */
  onSlow(): void;
  /** True when the connection already holds more unsent bytes than allowed. */
  isBackedUp(): boolean;
}

export type SubscribeOutcome =
  { kind: 'subscribed'; events: EventStream } | { kind: 'refused'; status: number; errors: GraphQLFormattedError[] };

export interface SubscriptionEngineOptions {
  /** The broker's events; started by the first subscription. */
  source: RealtimeEventSource;
  runQuery: RunQuery;
  /** Evicts entities from the gateway's entity cache. */
  evict(changes: EntityChange[]): Promise<void>;
  metrics: SubscriptionMetrics;
  logger: Logger;
  /** Events waiting for one subscriber before it counts as a slow consumer. */
  maxQueuedEvents: number;
}

/** A refusal's HTTP status (SSE answers with it; graphql-ws sends the errors in an `error` message). */
const STATUS_OF_CODE: Record<string, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BAD_USER_INPUT: 400,
  BAD_REQUEST: 400,
};

const EVENT_KEY_VARIABLE = 'realtimeEventKey';

/**
 * Subscriptions at the gateway. A subscription is admitted once (its root field's rule decides who may
 * subscribe and which events each subscriber gets), turned into a query on the root field that reads the event's
 * entity, and then, for every event it accepts, that query runs through the gateway's normal path (query
 * planner, our executor, batching, the entity cache, the subgraphs' own authorisation) with the subscriber's
 * identity. Subscribers with the same query, variables and identity share one execution per event, so a
 * thousand anonymous watchers of one product cost one query per change, not a thousand.
 *
 * Each subscriber has a bounded queue of results in event order; a subscriber whose queue is full (or whose
 * connection holds too many unsent bytes) is dropped through `onSlow` instead of buffering without bound.
 */
export function createSubscriptionEngine(options: SubscriptionEngineOptions) {
  const { source, runQuery, metrics, logger, maxQueuedEvents } = options;
  const byField = new Map<string, Set<Subscriber>>();
  let unsubscribe: (() => void) | undefined;
  let closed = false;

  interface Subscriber {
    field: string;
    rule: RealtimeRootField;
    accepts(event: RealtimeEvent, key: string): boolean;
    query: string;
    variables: Record<string, unknown>;
    caller: Caller;
    groupKey: string;
    push(result: Promise<FormattedExecutionResult | undefined>): void;
    end(): void;
  }

  const onEvent = (event: RealtimeEvent) => {
    for (const [field, subscribers] of byField) {
      if (subscribers.size === 0) continue;
      const rule = REALTIME_ROOT_FIELDS[field]!;
      const key = rule.keyOf(event);
      if (key === undefined) continue;
      let evicted: Promise<void> | undefined;
      const shared = new Map<string, Promise<FormattedExecutionResult | undefined>>();
      for (const subscriber of subscribers) {
        if (!subscriber.accepts(event, key)) continue;
        // The change stream's own eviction may not have happened yet: forget the event's entities first, so
        // the query reads what the event announced.
        evicted ??= options.evict(rule.staleEntities(event, key)).catch(() => undefined);
        let result = shared.get(subscriber.groupKey);
        if (!result) {
          const variables = { ...subscriber.variables, [EVENT_KEY_VARIABLE]: key };
          const caller = subscriber.caller;
          result = evicted
            .then(() => runQuery(subscriber.query, variables, caller))
            .then((answer) => ({ ...answer, extensions: { ...answer.extensions, event: { id: event.streamId } } }))
            .catch((error: unknown) => {
              logger.error('a subscription event query failed', { field, error: messageOf(error) });
              return { errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] };
            });
          shared.set(subscriber.groupKey, result);
        }
        subscriber.push(result);
      }
    }
  };

  async function subscribe(request: SubscriptionRequest, hooks: SubscriberHooks): Promise<SubscribeOutcome> {
    const refuse = (code: string, message: string, extensions: Record<string, unknown> = {}): SubscribeOutcome => ({
      kind: 'refused',
      status: STATUS_OF_CODE[code] ?? 400,
      errors: [{ message, extensions: { code, ...extensions } }],
    });
    if (closed) return refuse('SERVICE_UNAVAILABLE', 'This gateway is shutting down; subscribe again');
    const { schema, operation, caller } = request;
    const roots = operation.selectionSet.selections;
    const root = roots[0];
    if (roots.length !== 1 || root?.kind !== Kind.FIELD)
      return refuse('BAD_REQUEST', 'A subscription selects exactly one root field, without fragments');
    const field = root.name.value;
    const rule = REALTIME_ROOT_FIELDS[field];
    const fieldDefinition = schema.getSubscriptionType()?.getFields()[field];
    if (!rule || !fieldDefinition)
      return refuse('BAD_REQUEST', `The gateway does not serve the subscription field ${field}`);

    if (operation.variableDefinitions?.some((definition) => definition.variable.name.value === EVENT_KEY_VARIABLE))
      return refuse('BAD_REQUEST', `The variable name $${EVENT_KEY_VARIABLE} is reserved in subscriptions`);
    const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {});
    if (coerced.errors)
      return {
        kind: 'refused',
        status: 400,
        errors: coerced.errors.map((error) => ({ message: error.message, extensions: { code: 'BAD_USER_INPUT' } })),
      };
    const args = getArgumentValues(fieldDefinition, root, coerced.coerced);
    const authorisation = await rule.authorise(args, caller, runQuery);
    if (authorisation.kind === 'refused') {
      const code = String(authorisation.error.extensions?.code ?? 'FORBIDDEN');
      return { kind: 'refused', status: STATUS_OF_CODE[code] ?? 400, errors: [authorisation.error] };
    }
    const { query, variables } = eventQuery(request, root, rule);

    unsubscribe ??= source.onEvent(onEvent);
    await source.start();
    if (closed) return refuse('SERVICE_UNAVAILABLE', 'This gateway is shutting down; subscribe again');

    const queue: Promise<FormattedExecutionResult | undefined>[] = [];
    let wake: (() => void) | undefined;
    let done = false;
    const subscribers = byField.get(field) ?? new Set<Subscriber>();
    byField.set(field, subscribers);
    const subscriber: Subscriber = {
      field,
      rule,
      accepts: authorisation.accepts,
      query,
      variables,
      caller,
      groupKey: `${query}\u0000${JSON.stringify(variables)}\u0000${encodeCaller(caller) ?? 'anonymous'}`,
      push(result) {
        if (done) return;
        if (queue.length >= maxQueuedEvents || hooks.isBackedUp()) {
          metrics.slowConsumers.inc({ transport: hooks.transport });
          subscriber.end();
          hooks.onSlow();
          return;
        }
        queue.push(result);
        wake?.();
      },
      end() {
        if (done) return;
        done = true;
        queue.length = 0;
        subscribers.delete(subscriber);
        metrics.active.dec({ transport: hooks.transport, field });
        wake?.();
      },
    };
    subscribers.add(subscriber);
    metrics.active.inc({ transport: hooks.transport, field });

    const events: EventStream = {
      async next() {
        while (queue.length === 0 && !done) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const next = queue.shift();
        const result = next && (await next);
        if (!result || done) return { done: true, value: undefined };
        metrics.events.inc({ transport: hooks.transport, field });
        // The supergraph was reloaded without this field (or its selection): this subscription cannot go on.
        if (result.errors?.some((error) => error.extensions?.code === 'GRAPHQL_VALIDATION_FAILED')) subscriber.end();
        return { done: false, value: result };
      },
      async return() {
        subscriber.end();
        return { done: true, value: undefined };
      },
      async throw() {
        subscriber.end();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
    return { kind: 'subscribed', events };
  }

  return {
    subscribe,
    /** Subscriptions running now. */
    active: () => [...byField.values()].reduce((sum, subscribers) => sum + subscribers.size, 0),
    /** Ends every subscription (their transports close them) and stops reading events. */
    async close() {
      closed = true;
      for (const subscribers of byField.values()) for (const subscriber of [...subscribers]) subscriber.end();
      unsubscribe?.();
      await source.close();
    },
  };
}

export type SubscriptionEngine = ReturnType<typeof createSubscriptionEngine>;

/**
 * The subscription as a query on the root field that reads the event's entity:
 * `subscription S($id: ID) { orderUpdated(id: $id) { status } }` becomes
 * `query S($realtimeEventKey: ID!) { orderUpdated: order(id: $realtimeEventKey) { status } }`, keeping the
 * selection, its fragments and the variables it still uses, so the answer has the subscription's shape.
 */
function eventQuery(
  request: SubscriptionRequest,
  root: FieldNode,
  rule: RealtimeRootField,
): { query: string; variables: Record<string, unknown> } {
  const keyVariable = { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: EVENT_KEY_VARIABLE } } as const;
  const field: FieldNode = {
    ...root,
    alias: { kind: Kind.NAME, value: root.alias?.value ?? root.name.value },
    name: { kind: Kind.NAME, value: rule.queryField },
    arguments: [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: rule.keyArgument }, value: keyVariable }],
  };
  const fragments = request.document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION);
  const used = new Set<string>();
  for (const node of [field, ...fragments])
    visit(node, {
      Variable(variable) {
        used.add(variable.name.value);
      },
    });
  const kept = (request.operation.variableDefinitions ?? []).filter((definition) =>
    used.has(definition.variable.name.value),
  );
  const operation: OperationDefinitionNode = {
    ...request.operation,
    operation: OperationTypeNode.QUERY,
    variableDefinitions: [
      ...kept,
      {
        kind: Kind.VARIABLE_DEFINITION,
        variable: keyVariable,
        type: { kind: Kind.NON_NULL_TYPE, type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'ID' } } },
      },
    ],
    selectionSet: { kind: Kind.SELECTION_SET, selections: [field] },
  };
  const variables: Record<string, unknown> = {};
  for (const definition of kept) {
    const name = definition.variable.name.value;
    if (request.variables && name in request.variables) variables[name] = request.variables[name];
  }
  return { query: print({ kind: Kind.DOCUMENT, definitions: [operation, ...fragments] }), variables };
}
