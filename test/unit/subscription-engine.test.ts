import { buildSchema, parse, type FormattedExecutionResult, type OperationDefinitionNode } from 'graphql';
import { Registry } from 'prom-client';
import type { Caller } from '../../lib/identity';
import { silentLogger } from '../../lib/logger';
import { createSubscriptionEngine, type SubscriberHooks } from '../../gateway/subscriptions/engine';
import type { RealtimeEvent, RealtimeEventSource } from '../../gateway/subscriptions/event-source';
import { createSubscriptionMetrics } from '../../gateway/subscriptions/metrics';

/**
 * The engine between the broker's events and the transports: which subscriber gets which event, the query each
 * event runs, shared executions, and slow consumers. The broker here is an in-process source; the gateway's is
 * Redis (test/integration/subscriptions.test.ts).
 */
const schema = buildSchema(`
  type Query { product(sku: ID!): Product order(id: ID!): Order }
  type Product { sku: ID! stock: Int! }
  type Order { id: ID! }
  type Subscription { stockChanged(skus: [ID!]!): Product! orderUpdated(id: ID): Order! }
`);
const ANONYMOUS: Caller = { kind: 'anonymous' };

function localSource() {
  const handlers = new Set<(event: RealtimeEvent) => void>();
  let sequence = 0;
  const source: RealtimeEventSource = {
    onEvent: (handler) => (handlers.add(handler), () => void handlers.delete(handler)),
    start: async () => undefined,
    close: async () => handlers.clear(),
  };
  const stockChanged = (sku: string) => {
    const event: RealtimeEvent = {
      kind: 'entity',
      streamId: `${++sequence}-0`,
      publishedAt: Date.now(),
      change: { typename: 'Product', key: { sku } },
    };
    for (const handler of [...handlers]) handler(event);
  };
  return { source, stockChanged };
}

function setup(maxQueuedEvents = 10) {
  const { source, stockChanged } = localSource();
  const queries: { query: string; variables: Record<string, unknown>; caller: Caller }[] = [];
  const evicted: unknown[] = [];
  const engine = createSubscriptionEngine({
    source,
    runQuery: async (query, variables, caller) => {
      queries.push({ query, variables, caller });
      return { data: { stockChanged: { sku: variables.realtimeEventKey, stock: queries.length } } };
    },
    evict: async (changes) => void evicted.push(...changes),
    metrics: createSubscriptionMetrics(new Registry()),
    logger: silentLogger,
    maxQueuedEvents,
  });
  const subscribe = async (
    text: string,
    variables: Record<string, unknown>,
    caller: Caller = ANONYMOUS,
    hooks: Partial<SubscriberHooks> = {},
  ) => {
    const document = parse(text);
    const outcome = await engine.subscribe(
      { schema, document, operation: document.definitions[0] as OperationDefinitionNode, variables, caller },
      { transport: 'graphql-ws', onSlow: () => undefined, isBackedUp: () => false, ...hooks },
    );
    if (outcome.kind !== 'subscribed') throw new Error(JSON.stringify(outcome.errors));
    return outcome.events;
  };
  return { engine, stockChanged, queries, evicted, subscribe };
}

const STOCK = 'subscription Stock($skus: [ID!]!, $unused: Int) { stockChanged(skus: $skus) { sku stock } }';
const next = async (events: AsyncIterator<FormattedExecutionResult>) => (await events.next()).value as FormattedExecutionResult;

describe('the subscription engine', () => {
  it('runs each event as a query on the root field that reads the entity, after evicting it from the cache', async () => {
    const { stockChanged, queries, evicted, subscribe, engine } = setup();
    const events = await subscribe(STOCK, { skus: ['A'], unused: 3 });
    stockChanged('B');
    stockChanged('A');
    expect(await next(events)).toMatchObject({ data: { stockChanged: { sku: 'A' } }, extensions: { event: { id: '2-0' } } });
    expect(queries).toEqual([
      {
        query: 'query Stock($realtimeEventKey: ID!) {\n  stockChanged: product(sku: $realtimeEventKey) {\n    sku\n    stock\n  }\n}',
        variables: { realtimeEventKey: 'A' },
        caller: ANONYMOUS,
      },
    ]);
    expect(evicted).toEqual([{ typename: 'Product', key: { sku: 'A' } }]);
    await engine.close();
  });

  it('shares one execution per event among subscribers with the same query, variables and caller', async () => {
    const { stockChanged, queries, subscribe, engine } = setup();
    const alice: Caller = { kind: 'user', userId: '7', admin: false };
    const subscribers = await Promise.all([
      subscribe(STOCK, { skus: ['A'] }),
      subscribe(STOCK, { skus: ['A'] }),
      subscribe(STOCK, { skus: ['A'] }, alice),
    ]);
    stockChanged('A');
    const results = await Promise.all(subscribers.map(next));
    expect(results.map((result) => result.data)).toEqual([
      { stockChanged: { sku: 'A', stock: 1 } },
      { stockChanged: { sku: 'A', stock: 1 } },
      { stockChanged: { sku: 'A', stock: 2 } },
    ]);
    expect(queries.map((query) => query.caller.kind)).toEqual(['anonymous', 'user']);
    await engine.close();
  });

  it('drops a subscriber whose events pile up past SUBSCRIPTIONS_MAX_QUEUED_EVENTS, and one whose connection is backed up', async () => {
    const { stockChanged, subscribe, engine } = setup(2);
    let slow = 0;
    const unread = await subscribe(STOCK, { skus: ['A'] }, ANONYMOUS, { onSlow: () => slow++ });
    let backedUp = 0;
    const blocked = await subscribe(STOCK, { skus: ['B'] }, ANONYMOUS, { onSlow: () => backedUp++, isBackedUp: () => true });
    stockChanged('A');
    stockChanged('A');
    expect(slow).toBe(0);
    stockChanged('A');
    stockChanged('B');
    expect([slow, backedUp]).toEqual([1, 1]);
    expect(engine.active()).toBe(0);
    expect((await unread.next()).done).toBe(true);
    expect((await blocked.next()).done).toBe(true);
    await engine.close();
  });

  it('refuses at subscribe time: too many skus, an anonymous order subscription', async () => {
    const { engine } = setup();
    const refusal = async (text: string, variables: Record<string, unknown>) => {
      const document = parse(text);
      const outcome = await engine.subscribe(
        { schema, document, operation: document.definitions[0] as OperationDefinitionNode, variables, caller: ANONYMOUS },
        { transport: 'sse', onSlow: () => undefined, isBackedUp: () => false },
      );
      return outcome.kind === 'refused' ? [outcome.status, outcome.errors[0]?.extensions?.code] : outcome.kind;
    };
    const skus = Array.from({ length: 101 }, (_, index) => `SKU-${index}`);
    expect(await refusal(STOCK, { skus })).toEqual([400, 'BAD_USER_INPUT']);
    expect(await refusal('subscription { orderUpdated { id } }', {})).toEqual([401, 'UNAUTHENTICATED']);
    await engine.close();
  });

  it('ends every subscription when closed', async () => {
    const { subscribe, engine } = setup();
    const events = await subscribe(STOCK, { skus: ['A'] });
    const pending = events.next();
    await engine.close();
    expect((await pending).done).toBe(true);
  });
});
