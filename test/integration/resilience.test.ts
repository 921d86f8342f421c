import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy';
import { ask, startOurs, startReference, type Ours, type Target } from '../helpers/gateways';
import { startSpyFederation, type SpyFederation } from '../helpers/spy-subgraphs';
import { counterValue } from '../../lib/metrics';

/**
 * Subgraphs that fail, behind a proxy that resets or hangs their connections: one retry for a query that could
 * not connect (never for a mutation, never after a timeout), a circuit breaker that fails a dead subgraph at
 * once with partial data and probes it back, and entities served past their TTL while their subgraph is down.
 */
const TOP = '{ topProducts(first: 3) { upc name price } }';
const WITH_REVIEWS = '{ latestReviews { id product { name } } }';

describe('resilient subgraph calls', () => {
  let spies: SpyFederation;
  let reference: Target;
  let products: FaultProxy;
  const started: Ours[] = [];
  const start = async (env: Record<string, string>) => {
    const ours = await startOurs(spies.supergraphPath, {
      SUBGRAPH_URL_PRODUCTS: products.url,
      SUBGRAPH_TIMEOUT_MS: '300',
      DEDUP_INBOUND: 'off',
      DEDUP_INFLIGHT: 'false',
      ...env,
    });
    started.push(ours);
    return ours;
  };

  beforeAll(async () => {
    spies = await startSpyFederation();
    reference = await startReference(spies.supergraphPath);
    products = await startFaultProxy(spies.urls.products!);
  }, 30_000);
  afterEach(() => products.set('pass'));
  afterAll(async () => {
    await Promise.all(started.map((ours) => ours.close()));
    await reference?.close();
    await products?.close();
    await spies?.close();
  });

  it('asks a query again once when its connection was reset, and answers as if nothing happened', async () => {
    const ours = await start({ ENTITY_CACHE: 'false', CIRCUIT_BREAKER_FAILURES: '0' });
    const expected = await ask(reference.url, TOP);
    expect(await ask(ours.url, TOP)).toMatchObject({ data: expected.data });
    // The subgraph restarts: open connections are cut and the next one is reset; the retry's passes.
    products.set('reset');
    products.set('pass');
    products.resetNext(1);
    const answer = await ask(ours.url, TOP);
    expect(answer).toMatchObject({ status: 200, data: expected.data, errors: undefined });
    expect(await counterValue(ours.gateway.metrics.subgraphRetries, { subgraph: 'products' })).toBe(1);
  });

  it('does not retry after a timeout, and fails that part with SUBGRAPH_TIMEOUT', async () => {
    const ours = await start({ ENTITY_CACHE: 'false', CIRCUIT_BREAKER_FAILURES: '0' });
    products.set('hang');
    products.resetCounts();
    const answer = await ask(ours.url, TOP);
    expect(answer.errors?.map((error) => error.code)).toEqual(['SUBGRAPH_TIMEOUT']);
    expect(products.connections).toBe(1);
    expect(await counterValue(ours.gateway.metrics.subgraphRetries, { subgraph: 'products' })).toBe(0);
  });

  it('opens the circuit after repeated failures: the dead subgraph fails at once, the others still answer', async () => {
    const ours = await start({
      ENTITY_CACHE: 'false',
      SUBGRAPH_RETRY: 'false',
      CIRCUIT_BREAKER_FAILURES: '3',
      CIRCUIT_BREAKER_RESET_MS: '60000',
    });
    products.set('reset');
    for (let attempt = 0; attempt < 3; attempt++) await ask(ours.url, WITH_REVIEWS);
    products.resetCounts();
    const answer = await ask(ours.url, WITH_REVIEWS);
    // Partial data: reviews answered, every product null with SUBGRAPH_UNAVAILABLE, and no connection tried.
    const reviews = (answer.data as { latestReviews: { id: string; product: unknown }[] }).latestReviews;
    expect(reviews.length).toBeGreaterThan(0);
    expect(reviews.every((review) => review.product === null)).toBe(true);
    expect(answer.errors?.[0]).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
    expect(products.connections).toBe(0);
    expect(await counterValue(ours.gateway.metrics.shortCircuited, { subgraph: 'products' })).toBeGreaterThan(0);
    expect(await counterValue(ours.gateway.metrics.circuitTransitions, { subgraph: 'products', state: 'open' })).toBe(
      1,
    );
  });

  it('lets one probe through when half-open, and closes the circuit when it succeeds', async () => {
    const ours = await start({
      ENTITY_CACHE: 'false',
      SUBGRAPH_RETRY: 'false',
      CIRCUIT_BREAKER_FAILURES: '2',
      CIRCUIT_BREAKER_RESET_MS: '100',
    });
    products.set('reset');
    for (let attempt = 0; attempt < 2; attempt++) await ask(ours.url, TOP);
    expect(await counterValue(ours.gateway.metrics.circuitTransitions, { subgraph: 'products', state: 'open' })).toBe(
      1,
    );
    products.set('pass');
    // Until the reset time has passed the circuit stays open; then one probe closes it.
    const expected = await ask(reference.url, TOP);
    const deadline = Date.now() + 5_000;
    let answer = await ask(ours.url, TOP);
    while (answer.errors && Date.now() < deadline) answer = await ask(ours.url, TOP);
    expect(answer).toMatchObject({ data: expected.data, errors: undefined });
    expect(
      await counterValue(ours.gateway.metrics.circuitTransitions, { subgraph: 'products', state: 'half-open' }),
    ).toBe(1);
    expect(await counterValue(ours.gateway.metrics.circuitTransitions, { subgraph: 'products', state: 'closed' })).toBe(
      1,
    );
  });

  it('serves cached entities past their TTL while their subgraph is down, marked, within the stale window', async () => {
    const cache = {
      ENTITY_CACHE: 'true',
      ENTITY_CACHE_TTL: 'Product=1',
      CIRCUIT_BREAKER_FAILURES: '0',
      SUBGRAPH_RETRY: 'false',
    };
    const ours = await start({ ...cache, STALE_IF_ERROR_SECONDS: '60' });
    const strict = await start({ ...cache, STALE_IF_ERROR_SECONDS: '0' });
    const query = '{ latestReviews { id product { name price } } }';
    const fresh = await ask(ours.url, query);
    expect(fresh.errors).toBeUndefined();
    expect(await ask(strict.url, query)).toMatchObject({ data: fresh.data });
    // The TTL (1 s) must pass for the entries to be stale: that wait is what is being tested.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    products.set('reset');
    const stale = await ask(ours.url, query);
    expect(stale.data).toEqual(fresh.data);
    expect(stale.errors).toBeUndefined();
    // Counted per entity position: the 12 reviews' products (3 distinct).
    expect(stale.extensions?.staleIfError).toEqual({ entities: 12 });
    expect(await counterValue(ours.gateway.metrics.staleServed, { subgraph: 'products' })).toBe(12);
    // Without stale-if-error, the same outage is an error.
    const answer = await ask(strict.url, query);
    expect(answer.errors?.[0]).toMatchObject({ code: 'SUBGRAPH_UNAVAILABLE' });
  });
});
