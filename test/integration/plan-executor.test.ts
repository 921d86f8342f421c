import { Supergraph, operationFromDocument } from '@apollo/federation-internals';
import { QueryPlanner, type FetchNode, type PlanNode, type SubscriptionNode } from '@apollo/query-planner';
import fs from 'node:fs';
import { Kind, parse, print, type FieldNode } from 'graphql';
import { startSpyFederation, type SpyFederation, type SpyRequest } from '../helpers/spy-subgraphs';
import { ask, startOurs, startReference, type Answer, type Ours, type Target } from '../helpers/gateways';
import { counterValue } from '../../lib/metrics';

/**
 * Our query plan executor (`PLAN_EXECUTOR=waves`, the default) over the spy federation, against plain Apollo
 * Gateway as the reference: the round trips it promises (one HTTP request per subgraph per plan wave, each
 * distinct entity asked once per client request), what it leaves to Apollo's executor and says so in
 * `/metrics`, variable validation, and Condition nodes chosen per request.
 */
const DEEP = `{ latestReviews { body author { username name reviews { body product { name price shippingEstimate } } }
  product { name shippingEstimate reviews { author { name } } } } }`;
// Wave 1 asks accounts for the names of u1..u3 (latestReviews' authors); wave 2 asks the same subgraph for the
// same selection of the same users (the authors of the top products' reviews): the request memo answers it.
const REVISIT = `{ latestReviews { author { name } } topProducts { reviews { author { name } } } }`;
const INCLUDE = `query Include($flag: Boolean!) { topProducts(first: 3) { upc name shippingEstimate @include(if: $flag) } }`;

/** What a client relies on, without response extensions (which differ by design in development). */
const visible = ({ status, data, errors }: Answer) => ({ status, data, errors });

/** `gateway_plan_executions_total` samples from the `/metrics` text, by their label set. */
async function planExecutions(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const samples: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^gateway_plan_executions_total(\{[^}]*\})? (\d+)$/.exec(line);
    if (match) samples[match[1] ?? ''] = Number(match[2]);
  }
  return samples;
}
const WAVES = '{executor="waves"}';

/**
 * The plan's waves, assigned exactly as the executor promises: a Sequence's children one after another, a
 * Parallel's children all from the same wave, Flatten passing through, a Condition by its variable.
 */
function planWaves(
  node: PlanNode | SubscriptionNode | undefined,
  variables: Record<string, unknown> = {},
): FetchNode[][] {
  const waves: FetchNode[][] = [];
  const place = (current: PlanNode | SubscriptionNode, start: number): number => {
    switch (current.kind) {
      case 'Fetch':
        (waves[start] ??= []).push(current);
        return start + 1;
      case 'Flatten':
        return place(current.node, start);
      case 'Sequence':
        return current.nodes.reduce((wave, child) => place(child, wave), start);
      case 'Parallel':
        return current.nodes.reduce((end, child) => Math.max(end, place(child, start)), start);
      case 'Condition': {
        const branch = variables[current.condition] ? current.ifClause : current.elseClause;
        return branch ? place(branch, start) : start;
      }
      default:
        throw new Error(`unexpected plan node ${current.kind}`);
    }
  };
  if (node) place(node, 0);
  return waves;
}

const subgraphsByWave = (waves: FetchNode[][]) =>
  waves.map((wave) => [...new Set(wave.map((fetch) => fetch.serviceName))].sort());
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** JSON with object keys in name order at every level, so equal representations compare equal. */
const stableJson = (value: unknown): string =>
  value === null || typeof value !== 'object'
    ? JSON.stringify(value)
    : Array.isArray(value)
      ? `[${value.map(stableJson).join(',')}]`
      : `{${Object.keys(value as Record<string, unknown>)
          .sort()
          .map((key) => `${JSON.stringify(key)}:${stableJson((value as Record<string, unknown>)[key])}`)
          .join(',')}}`;

interface EntitySent {
  subgraph: string;
  selection: string;
  representation: string;
}
const asKey = ({ subgraph, selection, representation }: EntitySent) => `${subgraph} ${selection} ${representation}`;

/** Every (subgraph, entity selection, representation) one spy request carried, merged documents included. */
function entitiesSent(subgraph: string, request: SpyRequest): EntitySent[] {
  const sent: EntitySent[] = [];
  for (const definition of parse(request.query).definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const selection of definition.selectionSet.selections) {
      if (selection.kind !== Kind.FIELD || selection.name.value !== '_entities') continue;
      const argument = (selection as FieldNode).arguments?.find(
        (candidate) => candidate.name.value === 'representations',
      );
      if (argument?.value.kind !== Kind.VARIABLE) throw new Error('representations should be a variable');
      const representations = request.variables[argument.value.name.value];
      if (!Array.isArray(representations)) throw new Error(`no representations for $${argument.value.name.value}`);
      const fields = print(selection.selectionSet!);
      for (const representation of representations)
        sent.push({ subgraph, selection: fields, representation: stableJson(representation) });
    }
  }
  return sent;
}

const allEntitiesSent = (spies: SpyFederation) =>
  Object.entries(spies.requests).flatMap(([name, requests]) =>
    requests.flatMap((request) => entitiesSent(name, request)),
  );
const requestCounts = (spies: SpyFederation) =>
  Object.fromEntries(Object.entries(spies.requests).map(([name, requests]) => [name, requests.length]));
const totalRequests = (spies: SpyFederation) => sum(Object.values(spies.requests).map((requests) => requests.length));

describe('query plan executor (waves)', () => {
  let spies: SpyFederation;
  let reference: Target;
  let planner: QueryPlanner;
  let supergraph: Supergraph;
  const ours = {} as Record<'waves' | 'unbatched' | 'apollo' | 'development', Ours>;
  // Batching on (one request per subgraph per wave needs it), nothing else that could hide a request.
  const quiet = { BATCHING: 'true', DEDUP_INFLIGHT: 'false', ENTITY_CACHE: 'false', DEDUP_INBOUND: 'off' };

  const planOf = (query: string) => planner.buildQueryPlan(operationFromDocument(supergraph.apiSchema(), parse(query)));

  beforeAll(async () => {
    spies = await startSpyFederation();
    reference = await startReference(spies.supergraphPath);
    ours.waves = await startOurs(spies.supergraphPath, quiet);
    ours.unbatched = await startOurs(spies.supergraphPath, { ...quiet, BATCHING: 'false' });
    ours.apollo = await startOurs(spies.supergraphPath, { ...quiet, PLAN_EXECUTOR: 'apollo' });
    ours.development = await startOurs(spies.supergraphPath, { ...quiet, NODE_ENV: 'development' });
    supergraph = Supergraph.build(fs.readFileSync(spies.supergraphPath, 'utf8'));
    planner = new QueryPlanner(supergraph);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([reference?.close(), ...Object.values(ours).map((target) => target.close())]);
    await spies?.close();
  });
  beforeEach(() => spies.reset());

  describe('round trips', () => {
    it('sends the deep scenario as one request per subgraph per plan wave', async () => {
      const waves = planWaves(planOf(DEEP).node);
      // The plan as the executor sees it: reviews; then accounts and products (two Sequences and two Flattens
      // start together); then shipping, for both @requires fetches at once.
      expect(subgraphsByWave(waves)).toEqual([['reviews'], ['accounts', 'products'], ['shipping']]);
      expect(waves.map((wave) => wave.length)).toEqual([1, 4, 2]);
      const expectedRequests = sum(subgraphsByWave(waves).map((wave) => wave.length));

      const expected = await ask(reference.url, DEEP);
      const apolloRequests = totalRequests(spies);
      spies.reset();
      expect(visible(await ask(ours.waves.url, DEEP))).toEqual(visible(expected));
      expect(totalRequests(spies)).toBe(expectedRequests);
      expect(requestCounts(spies)).toEqual({ reviews: 1, accounts: 1, products: 1, shipping: 1 });
      // Apollo Gateway sends a request per fetch.
      expect(apolloRequests).toBe(sum(waves.map((wave) => wave.length)));
      expect(totalRequests(spies)).toBeLessThan(apolloRequests);
    });

    it('without batching, sends one request per plan fetch, wave after wave', async () => {
      const waves = planWaves(planOf(DEEP).node);
      const expected = await ask(reference.url, DEEP);
      spies.reset();
      expect(visible(await ask(ours.unbatched.url, DEEP))).toEqual(visible(expected));
      expect(totalRequests(spies)).toBe(sum(waves.map((wave) => wave.length)));
      expect(requestCounts(spies)).toEqual({ reviews: 1, accounts: 2, products: 2, shipping: 2 });
    });

    it('with Apollo executor and batching, never sends fewer requests than the waves', async () => {
      const byWaves = sum(subgraphsByWave(planWaves(planOf(DEEP).node)).map((wave) => wave.length));
      const expected = await ask(reference.url, DEEP);
      spies.reset();
      expect(visible(await ask(ours.apollo.url, DEEP))).toEqual(visible(expected));
      expect(totalRequests(spies)).toBeGreaterThanOrEqual(byWaves);
    });

    it('sends each distinct (subgraph, selection, representation) at most once per client request', async () => {
      await ask(reference.url, DEEP);
      const apolloSent = allEntitiesSent(spies);
      spies.reset();
      await ask(ours.waves.url, DEEP);
      const sent = allEntitiesSent(spies).map(asKey);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.length).toBe(new Set(sent).size);
      // Not vacuous: Apollo Gateway sends the same entities several times; ours sends each entity it needs to
      // each subgraph (its selections carry the key fields too, so only subgraph and representation compare).
      expect(apolloSent.length).toBeGreaterThan(new Set(apolloSent.map(asKey)).size);
      const pairs = (list: EntitySent[]) =>
        new Set(list.map(({ subgraph, representation }) => `${subgraph} ${representation}`));
      expect(pairs(allEntitiesSent(spies))).toEqual(pairs(apolloSent));
    });

    it('answers a later wave from the request memo when an earlier wave fetched the same entities', async () => {
      const waves = planWaves(planOf(REVISIT).node);
      expect(subgraphsByWave(waves)).toEqual([['products', 'reviews'], ['accounts', 'reviews'], ['accounts']]);
      const byWaves = sum(subgraphsByWave(waves).map((wave) => wave.length));

      const expected = await ask(reference.url, REVISIT);
      spies.reset();
      const memoBefore = await counterValue(ours.development.gateway.metrics.deduplicated, { kind: 'request_memo' });
      const answer = await ask(ours.development.url, REVISIT);
      expect(visible(answer)).toEqual(visible(expected));
      // The third wave's accounts fetch never leaves the gateway.
      expect(totalRequests(spies)).toBe(byWaves - 1);
      expect(spies.requests.accounts).toHaveLength(1);
      const sent = allEntitiesSent(spies).map(asKey);
      expect(sent.length).toBe(new Set(sent).size);
      const stats = answer.extensions?.gateway as { entityMemoHits: number; subgraphRequests: number };
      // The 12 reviews of the top products are by u1..u3, all three already known.
      expect(stats.entityMemoHits).toBe(12);
      expect(stats.subgraphRequests).toBe(byWaves - 1);
      expect(
        (await counterValue(ours.development.gateway.metrics.deduplicated, { kind: 'request_memo' })) - memoBefore,
      ).toBe(12);
    });

    it('does not memoise across client requests', async () => {
      await ask(ours.waves.url, REVISIT);
      const first = requestCounts(spies);
      spies.reset();
      await ask(ours.waves.url, REVISIT);
      expect(requestCounts(spies)).toEqual(first);
    });
  });

  describe('what runs where, in /metrics', () => {
    it('counts a query as waves, and introspection as apollo with its reason', async () => {
      const before = await planExecutions(ours.waves.metricsUrl);
      const query = `{ topProducts(first: 1) { name } }`;
      expect(visible(await ask(ours.waves.url, query))).toEqual(visible(await ask(reference.url, query)));
      const afterQuery = await planExecutions(ours.waves.metricsUrl);
      expect((afterQuery[WAVES] ?? 0) - (before[WAVES] ?? 0)).toBe(1);

      const introspection = `{ __schema { queryType { name } } }`;
      expect(visible(await ask(ours.waves.url, introspection))).toEqual(
        visible(await ask(reference.url, introspection)),
      );
      const after = await planExecutions(ours.waves.metricsUrl);
      const reason = '{executor="apollo",reason="introspection"}';
      expect((after[reason] ?? 0) - (afterQuery[reason] ?? 0)).toBe(1);
      expect(after[WAVES]).toBe(afterQuery[WAVES]);
    });

    it('leaves a response name of Object.prototype to Apollo, and answers it the same', async () => {
      const query = `{ topProducts(first: 2) { constructor: name toString: upc } }`;
      const before = await planExecutions(ours.waves.metricsUrl);
      expect(visible(await ask(ours.waves.url, query))).toEqual(visible(await ask(reference.url, query)));
      const after = await planExecutions(ours.waves.metricsUrl);
      const reason = `{executor="apollo",reason="reserved_response_name"}`;
      expect((after[reason] ?? 0) - (before[reason] ?? 0)).toBe(1);
    });

    it('counts nothing as waves with PLAN_EXECUTOR=apollo', async () => {
      for (const query of [DEEP, `{ topProducts(first: 1) { name } }`, `{ __schema { queryType { name } } }`]) {
        expect(visible(await ask(ours.apollo.url, query))).toEqual(visible(await ask(reference.url, query)));
      }
      const samples = await planExecutions(ours.apollo.metricsUrl);
      expect(samples[WAVES] ?? 0).toBe(0);
      expect(await counterValue(ours.apollo.gateway.metrics.planExecutions, { executor: 'waves' })).toBe(0);
    });
  });

  describe('Apollo-Query-Plan-Experimental', () => {
    it('in development, answers the same data through Apollo, with the plan', async () => {
      const expected = await ask(reference.url, DEEP);
      const before = await planExecutions(ours.development.metricsUrl);
      const answer = await ask(ours.development.url, DEEP, undefined, { 'Apollo-Query-Plan-Experimental': 'true' });
      expect(visible(answer)).toEqual(visible(expected));
      expect(String(answer.extensions?.__queryPlanExperimental)).toContain('Fetch(service: "shipping")');
      const after = await planExecutions(ours.development.metricsUrl);
      const reason = '{executor="apollo",reason="query_plan_requested"}';
      expect((after[reason] ?? 0) - (before[reason] ?? 0)).toBe(1);
      expect(after[WAVES]).toBe(before[WAVES]);
      // The same query without the header is ours again.
      const plain = await ask(ours.development.url, DEEP);
      expect(visible(plain)).toEqual(visible(expected));
      expect(plain.extensions?.__queryPlanExperimental).toBeUndefined();
      expect((await planExecutions(ours.development.metricsUrl))[WAVES]).toBe((before[WAVES] ?? 0) + 1);
    });

    it('outside development, is ignored', async () => {
      const before = await counterValue(ours.waves.gateway.metrics.planExecutions, { executor: 'waves' });
      const answer = await ask(ours.waves.url, DEEP, undefined, { 'Apollo-Query-Plan-Experimental': 'true' });
      expect(visible(answer)).toEqual(visible(await ask(reference.url, DEEP)));
      expect(answer.extensions?.__queryPlanExperimental).toBeUndefined();
      expect(await counterValue(ours.waves.gateway.metrics.planExecutions, { executor: 'waves' })).toBe(before + 1);
    });
  });

  describe('variables', () => {
    const FIRST = `query Top($first: Int!) { topProducts(first: $first) { name shippingEstimate } }`;

    it.each<[string, Record<string, unknown> | undefined]>([
      ['a string for Int!', { first: 'three' }],
      ['null for Int!', { first: null }],
      ['no value for Int!', undefined],
      ['a float for Int!', { first: 1.5 }],
    ])('rejects %s as Apollo Gateway does, before any fetch', async (_name, variables) => {
      const expected = await ask(reference.url, FIRST, variables);
      expect(expected.errors?.[0]?.code).toBe('BAD_USER_INPUT');
      spies.reset();
      for (const target of [ours.waves, ours.apollo]) {
        expect(visible(await ask(target.url, FIRST, variables))).toEqual(visible(expected));
      }
      expect(totalRequests(spies)).toBe(0);
    });

    it('passes valid and defaulted variables through', async () => {
      const defaulted = `query Top($first: Int = 2) { topProducts(first: $first) { upc shippingEstimate } }`;
      for (const [query, variables] of [
        [FIRST, { first: 3 }],
        [defaulted, undefined],
        [defaulted, { first: 4 }],
      ] as const) {
        const expected = await ask(reference.url, query, variables);
        expect(expected.errors).toBeUndefined();
        expect(visible(await ask(ours.waves.url, query, variables))).toEqual(visible(expected));
      }
    });

    it('picks the operation named in the request, per request', async () => {
      const document = `query A { topProducts(first: 1) { name } } query B { latestReviews { id author { name } } }`;
      for (const operationName of ['A', 'B', 'A']) {
        const expected = await ask(reference.url, document, undefined, {}, operationName);
        expect(expected.errors).toBeUndefined();
        expect(visible(await ask(ours.waves.url, document, undefined, {}, operationName))).toEqual(visible(expected));
      }
    });
  });

  describe('Condition nodes', () => {
    it('the plan has a Condition around a fetch of its own', () => {
      const node = planOf(INCLUDE).node!;
      expect(node.kind).toBe('Sequence');
      const condition = node.kind === 'Sequence' ? node.nodes.find((child) => child.kind === 'Condition') : undefined;
      expect(condition).toMatchObject({ kind: 'Condition', condition: 'flag' });
      expect(subgraphsByWave(planWaves(node, { flag: true }))).toEqual([['products'], ['shipping']]);
      expect(subgraphsByWave(planWaves(node, { flag: false }))).toEqual([['products']]);
    });

    it.each([true, false, true, false])(
      'answers @include(if: $flag) with flag %s as Apollo Gateway does, fetching only what it must',
      async (flag) => {
        const expected = await ask(reference.url, INCLUDE, { flag });
        expect(expected.errors).toBeUndefined();
        spies.reset();
        expect(visible(await ask(ours.waves.url, INCLUDE, { flag }))).toEqual(visible(expected));
        expect(requestCounts(spies)).toEqual({ products: 1, shipping: flag ? 1 : 0, reviews: 0, accounts: 0 });
        expect(visible(await ask(ours.apollo.url, INCLUDE, { flag }))).toEqual(visible(expected));
      },
    );

    it('takes the variable default when the flag is not given, and a given value over it', async () => {
      const query = `query ($skip: Boolean = true, $show: Boolean! = true) { latestReviews { id author @skip(if: $skip) { name }
        product @include(if: $show) { name shippingEstimate } } }`;
      for (const variables of [undefined, { skip: false }, { skip: true, show: false }, { skip: false, show: false }]) {
        const expected = await ask(reference.url, query, variables);
        expect(expected.errors).toBeUndefined();
        spies.reset();
        expect(visible(await ask(ours.waves.url, query, variables))).toEqual(visible(expected));
        const skip = variables?.skip ?? true;
        const show = 'show' in (variables ?? {}) ? (variables as { show: boolean }).show : true;
        expect(requestCounts(spies)).toEqual({
          reviews: 1,
          accounts: skip ? 0 : 1,
          products: show ? 1 : 0,
          shipping: show ? 1 : 0,
        });
      }
    });
  });
});
