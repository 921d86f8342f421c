import { GraphQLError, Kind, parse, type FieldNode, type OperationDefinitionNode } from 'graphql';
import {
  cloneJson,
  nullPropagatedAcrossFetches,
  planBatch,
  reusableEntity,
  splitBatch,
  type BatchPlan,
  type FetchResult,
} from '../../gateway/fetch/batch';
import {
  FEDERATION_LINK,
  answersAlone,
  composeSpies,
  createSpySubgraph,
  identityFor,
  plannedFetch,
  representationsOf,
  sendBatch,
  withoutLocations,
} from '../helpers/network-spies';

/**
 * Batching is only correct if every fetch gets exactly the answer it would have had alone. Each test plans a
 * batch, sends the ONE body to a real subgraph (the spy records it), splits the answer, and compares each
 * fetch's result with what the same subgraph answers to that fetch sent on its own.
 */
const PRODUCTS_SDL = `${FEDERATION_LINK}["@key"])
type Product @key(fields: "upc") {
  upc: ID!
  name: String!
  price: Int!
  priceIn(currency: String!): Int!
  dimensions: Dimensions
}
type Dimensions { width: Int! height: Int! }
type Query { product(upc: ID!): Product topProducts(first: Int!): [Product!]! }`;

const PRODUCTS = [
  { upc: 'p1', name: 'Anvil', price: 500, dimensions: { width: 30, height: 20 } },
  { upc: 'p2', name: 'Bucket', price: 40, dimensions: { width: 25, height: 35 } },
  { upc: 'p3', name: 'Chisel', price: 20, dimensions: null },
];

function productReference(upc: string): unknown {
  // `broken` throws synchronously, which @apollo/subgraph lets null the whole `_entities` list (and with it the
  // response); `flaky` fails asynchronously, which nulls only that entity; `gone` no longer exists.
  if (upc === 'broken') throw new GraphQLError('Product broken is corrupted', { extensions: { code: 'CORRUPTED' } });
  if (upc === 'flaky')
    return Promise.reject(new GraphQLError('Product flaky timed out', { extensions: { code: 'SLOW' } }));
  return PRODUCTS.find((product) => product.upc === upc) ?? null;
}

const products = createSpySubgraph('products', PRODUCTS_SDL, {
  Query: {
    product: (_: unknown, { upc }: { upc: string }) => productReference(upc),
    topProducts: (_: unknown, { first }: { first: number }) => PRODUCTS.slice(0, first),
  },
  Product: {
    __resolveReference: (reference: { upc: string }) => productReference(reference.upc),
    priceIn: (product: { price: number }, { currency }: { currency: string }) =>
      currency === 'EUR' ? product.price * 2 : product.price,
  },
});
const { keyIndex } = composeSpies([products]);

const entities = (name: string, selection: string) =>
  `query ${name}($representations:[_Any!]!){_entities(representations:$representations){...on Product{${selection}}}}`;
const NAME = (operation = 'Q__products__1') => entities(operation, 'name');
const PRICE = entities('Q__products__2', 'price');
const NESTED = entities('Q__products__3', 'name dimensions{width height}');
const PRICE_IN = `query Q__products__4($representations:[_Any!]!$currency:String!){_entities(representations:$representations){...on Product{priceIn(currency:$currency)}}}`;
const PRODUCT = 'query Q__products__5($upc:ID!){product(upc:$upc){name}}';

const rep = (upc: string) => ({ __typename: 'Product', upc });
const reps = (...upcs: string[]) => ({ representations: upcs.map(rep) });

// As the data source runs it: identity fields from the supergraph's key index, representations deduplicated.
const identityOf = identityFor(keyIndex, 'products');
const BATCHING = { dedupeRepresentations: true, identityOf };
// No key index: answers can only be placed by position, as Apollo Gateway places them.
const BY_POSITION = { dedupeRepresentations: true };

/** Every `_entities` list in an answer (one per unit), in place, so tamperers can reorder or drop. */
const entityLists = (answer: FetchResult): unknown[][] =>
  Object.values(answer.data ?? {}).filter((value): value is unknown[] => Array.isArray(value));

const rootAliases = (query: string): string[] => {
  const operation = parse(query).definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  )!;
  return operation.selectionSet.selections.map((selection) => (selection as FieldNode).alias?.value ?? '');
};

const noEntity = (position: number) => ({
  message: "Subgraph 'products' returned no entity for this representation",
  path: ['_entities', position],
  extensions: { code: 'SUBGRAPH_INVALID_RESPONSE', serviceName: 'products' },
});

beforeEach(() => products.reset());

describe('planBatch and splitBatch', () => {
  it('sends a lone plain fetch as it is, with its own operation name and variables', async () => {
    const fetch = plannedFetch(
      'query Top__products__0($first:Int!){topProducts(first:$first){upc name}}',
      { first: 2 },
      'Top__products__0',
    );
    const { plan, results } = await sendBatch(products, [fetch], BATCHING);
    expect(products.bodies).toEqual([
      { query: fetch.request.query, variables: { first: 2 }, operationName: 'Top__products__0' },
    ]);
    expect(plan.prefixes).toBeUndefined();
    expect(results).toEqual(await answersAlone(products, [fetch]));
  });

  it('sends two fetches with the same selection as one _entities list, each representation once', async () => {
    // Two plan nodes select the same fields; the planner names them differently, which must not matter.
    const fetches = [
      plannedFetch(NAME('Deep__products__1'), reps('p1', 'p2')),
      plannedFetch(NAME('Deep__products__4'), reps('p2', 'p3')),
    ];
    const { plan, results } = await sendBatch(products, fetches, BATCHING);
    expect(products.bodies).toHaveLength(1);
    expect(representationsOf(products.bodies[0]!)).toEqual({ '': [rep('p1'), rep('p2'), rep('p3')] });
    expect(rootAliases(products.bodies[0]!.query)).toEqual(['']);
    expect({ asked: plan.representationsAsked, sent: plan.representationsSent }).toEqual({ asked: 4, sent: 3 });
    expect(results).toEqual(await answersAlone(products, fetches));
  });

  it('sends a representation repeated within one fetch once, and answers it at every position', async () => {
    const fetches = [plannedFetch(NAME(), reps('p1', 'p2', 'p1'))];
    const { results } = await sendBatch(products, fetches, BATCHING);
    expect(products.bodies.map(representationsOf)).toEqual([{ '': [rep('p1'), rep('p2')] }]);
    expect(results).toEqual(await answersAlone(products, fetches));
  });

  it('treats representations whose fields come in another order as the same representation', async () => {
    const fetches = [
      plannedFetch(NAME(), { representations: [{ __typename: 'Product', upc: 'p1' }] }),
      plannedFetch(NAME(), { representations: [{ upc: 'p1', __typename: 'Product' }] }),
    ];
    const { results } = await sendBatch(products, fetches, BATCHING);
    expect(products.bodies.map(representationsOf)).toEqual([{ '': [rep('p1')] }]);
    expect(results).toEqual(await answersAlone(products, fetches));
  });

  it('merges fetches with different selections into one document, aliased _b0_, _b1_, _b2_, and answers each as if alone', async () => {
    const fetches = [
      plannedFetch(NAME(), reps('p1', 'p2')),
      plannedFetch(PRICE, reps('p2', 'p3')),
      plannedFetch(PRODUCT, { upc: 'p3' }),
    ];
    const { plan, results } = await sendBatch(products, fetches, BATCHING);
    expect(products.bodies).toHaveLength(1);
    const [body] = products.bodies;
    expect(body!.operationName).toBe('BatchedFetches');
    expect(plan.prefixes).toEqual(['_b0_', '_b1_', '_b2_']);
    expect(rootAliases(body!.query)).toEqual(['_b0__entities', '_b1__entities', '_b2_product']);
    expect(Object.keys(body!.variables).sort()).toEqual(['_b0_representations', '_b1_representations', '_b2_upc']);
    expect(representationsOf(body!)).toEqual({ _b0_: [rep('p1'), rep('p2')], _b1_: [rep('p2'), rep('p3')] });
    expect(results).toEqual(await answersAlone(products, fetches));
  });

  it('keeps entity fetches whose other variables differ in separate units of the same request', async () => {
    const fetches = [
      plannedFetch(PRICE_IN, { ...reps('p1', 'p2'), currency: 'EUR' }),
      plannedFetch(PRICE_IN, { ...reps('p1'), currency: 'USD' }),
    ];
    const { results } = await sendBatch(products, fetches, BATCHING);
    expect(products.bodies).toHaveLength(1);
    expect(products.bodies[0]!.variables).toEqual({
      _b0_representations: [rep('p1'), rep('p2')],
      _b0_currency: 'EUR',
      _b1_representations: [rep('p1')],
      _b1_currency: 'USD',
    });
    expect(results).toEqual(await answersAlone(products, fetches));
  });

  it('without deduplication, sends every representation as asked, one unit per fetch', async () => {
    const fetches = [plannedFetch(NAME(), reps('p1', 'p1')), plannedFetch(NAME(), reps('p1'))];
    const { plan, results } = await sendBatch(products, fetches, { dedupeRepresentations: false, identityOf });
    expect(products.bodies.map(representationsOf)).toEqual([{ _b0_: [rep('p1'), rep('p1')], _b1_: [rep('p1')] }]);
    expect({ asked: plan.representationsAsked, sent: plan.representationsSent }).toEqual({ asked: 3, sent: 3 });
    expect(results).toEqual(await answersAlone(products, fetches));
  });

  it("gives a null entity and a failed entity to every fetch that asked for it, each error at that fetch's own position", async () => {
    const fetches = [
      plannedFetch(NAME(), reps('p1', 'flaky', 'gone')),
      plannedFetch(NAME(), reps('gone', 'p2', 'flaky')),
    ];
    const { results } = await sendBatch(products, fetches, BATCHING);
    expect(products.bodies.map(representationsOf)).toEqual([{ '': ['p1', 'flaky', 'gone', 'p2'].map(rep) }]);
    const alone = await answersAlone(products, fetches);
    expect(alone.map((result) => result.errors?.map((error) => error.path))).toEqual([
      [['_entities', 1]],
      [['_entities', 2]],
    ]);
    expect(results.map(withoutLocations)).toEqual(alone.map(withoutLocations));
  });

  it('hands an entity with nested objects to each fetch as its own copy', async () => {
    // The gateway merges each answer into its own result tree: one nested object reachable from two fetches
    // could be changed through both.
    const { results } = await sendBatch(
      products,
      [plannedFetch(NESTED, reps('p1')), plannedFetch(NESTED, reps('p1'))],
      BATCHING,
    );
    expect(products.bodies.map(representationsOf)).toEqual([{ '': [rep('p1')] }]);
    const [first, second] = results.map(
      (result) => (result as FetchResult).data!._entities as { dimensions: object }[],
    );
    expect(first![0]).toEqual({ name: 'Anvil', dimensions: { width: 30, height: 20 } });
    expect(second![0]).toEqual(first![0]);
    expect(second![0]).not.toBe(first![0]);
    expect(second![0]!.dimensions).not.toBe(first![0]!.dimensions);
  });

  it("returns an error of a merged request to the fetch whose alias it carries, at that fetch's own path", async () => {
    const fetches = [plannedFetch(NAME(), reps('p1')), plannedFetch(PRODUCT, { upc: 'broken' })];
    const { response, results } = await sendBatch(products, fetches, BATCHING);
    expect(response.errors?.map((error) => error.path)).toEqual([['_b1_product']]);
    const alone = await answersAlone(products, fetches);
    expect(alone[1]!.errors?.map((error) => error.path)).toEqual([['product']]);
    expect(results.map(withoutLocations)).toEqual(alone.map(withoutLocations));
  });

  it('gives an error the subgraph tied to no field to every fetch of the merged request', async () => {
    const overloaded = { message: 'Subgraph is shedding load', extensions: { code: 'OVERLOADED' } };
    products.tamper = (answer) => ({ ...answer, errors: [overloaded] });
    const fetches = [plannedFetch(NAME(), reps('p1')), plannedFetch(PRODUCT, { upc: 'p2' })];
    const { results } = await sendBatch(products, fetches, BATCHING);
    const alone = await answersAlone(products, fetches);
    expect(results).toEqual(alone.map((result) => ({ ...result, errors: [overloaded] })));
  });

  describe('with identity fields from the key index', () => {
    it('asks for each entity’s typename and key under reserved aliases, and hands the answers back without them', async () => {
      const fetches = [plannedFetch(NAME(), reps('p1', 'p2')), plannedFetch(PRICE, reps('p2'))];
      const { results } = await sendBatch(products, fetches, BATCHING);
      expect(products.bodies).toHaveLength(1);
      const sent = products.bodies[0]!.query.replace(/\s+/g, ' ');
      expect(sent).toContain('_fgw_typename: __typename');
      expect(sent).toContain('... on Product { _fgw_key_upc: upc }');
      // Verified answers carry no `unverified` mark: they may be cached and reused.
      expect(results).toEqual(await answersAlone(products, fetches));
    });

    it('puts entities back in representation order when the subgraph answers out of order', async () => {
      products.tamper = (answer) => {
        for (const list of entityLists(answer)) list.reverse();
        return answer;
      };
      const fetches = [plannedFetch(NAME(), reps('p1', 'p2')), plannedFetch(NAME(), reps('p2', 'p3'))];
      const { results } = await sendBatch(products, fetches, BATCHING);
      expect(results).toEqual(await answersAlone(products, fetches));
    });

    it('keeps the certain entities of a short answer, and reports the missing one at every position that asked for it', async () => {
      products.tamper = (answer) => {
        for (const list of entityLists(answer)) list.pop();
        return answer;
      };
      const fetches = [plannedFetch(NAME(), reps('p1', 'p3')), plannedFetch(NAME(), reps('p3'))];
      const { results } = await sendBatch(products, fetches, BATCHING);
      expect(products.bodies.map(representationsOf)).toEqual([{ '': [rep('p1'), rep('p3')] }]);
      expect(results).toEqual([
        { data: { _entities: [{ name: 'Anvil' }, null] }, errors: [noEntity(1)] },
        { data: { _entities: [null] }, errors: [noEntity(0)] },
      ]);
    });

    it('fails every fetch of a unit whose answer matches none of its representations, and only those', async () => {
      products.tamper = (answer) => {
        const [wrong] = entityLists(answer)[0] as Record<string, unknown>[];
        wrong!._fgw_key_upc = 'p9';
        return answer;
      };
      const fetches = [
        plannedFetch(NAME(), reps('p1', 'p2')),
        plannedFetch(NAME(), reps('p2')),
        plannedFetch(PRODUCT, { upc: 'p3' }),
      ];
      const { results } = await sendBatch(products, fetches, BATCHING);
      const alone = await answersAlone(products, fetches);
      expect(results).toEqual([{ failure: 'unmatched' }, { failure: 'unmatched' }, alone[2]]);
    });
  });

  describe('without identity fields', () => {
    it('places entities by position, marked unverified: good for this request, never to be cached', async () => {
      const fetches = [plannedFetch(NAME(), reps('p1', 'gone'))];
      const { results } = await sendBatch(products, fetches, BY_POSITION);
      const [alone] = await answersAlone(products, fetches);
      expect(results).toEqual([{ ...alone, unverified: true }]);
    });

    it('fails every fetch of the unit with wrong-count when a short answer cannot be placed, and only those', async () => {
      products.tamper = (answer) => {
        for (const list of entityLists(answer)) list.pop();
        return answer;
      };
      const fetches = [
        plannedFetch(NAME(), reps('p1', 'p2')),
        plannedFetch(NAME(), reps('p2')),
        plannedFetch(PRODUCT, { upc: 'p3' }),
      ];
      const { results } = await sendBatch(products, fetches, BY_POSITION);
      const alone = await answersAlone(products, fetches);
      expect(results).toEqual([{ failure: 'wrong-count' }, { failure: 'wrong-count' }, alone[2]]);
    });
  });
});

describe('nullPropagatedAcrossFetches', () => {
  it('is false when the response has no errors', async () => {
    const { plan, response } = await sendBatch(
      products,
      [plannedFetch(NAME(), reps('p1')), plannedFetch(NAME(), reps('p1', 'gone'))],
      BATCHING,
    );
    expect(nullPropagatedAcrossFetches(plan, response)).toBe(false);
  });

  it('is true when one fetch’s failure nulled the whole response of fetches batched together', async () => {
    const fetches = [plannedFetch(NAME(), reps('p1')), plannedFetch(PRICE, reps('broken'))];
    const { plan, response } = await sendBatch(products, fetches, BATCHING);
    expect(response.data).toBeNull();
    // Split as it is, the first fetch would lose its entity without an error of its own; alone, it has it.
    expect(splitBatch(plan, response, 2, 'products')[0]).toEqual({ data: null });
    expect((await answersAlone(products, fetches))[0]).toEqual({ data: { _entities: [{ name: 'Anvil' }] } });
    expect(nullPropagatedAcrossFetches(plan, response)).toBe(true);
  });

  it('is true when the failure nulled an _entities list that two fetches shared', async () => {
    const { plan, response } = await sendBatch(
      products,
      [plannedFetch(NAME(), reps('p1')), plannedFetch(NAME(), reps('broken'))],
      BATCHING,
    );
    expect(plan.units).toHaveLength(1);
    expect(nullPropagatedAcrossFetches(plan, response)).toBe(true);
  });

  it('is false when an error nulled only one entity, which the other fetches can do without', async () => {
    const { plan, response } = await sendBatch(
      products,
      [plannedFetch(NAME(), reps('p1')), plannedFetch(NAME(), reps('flaky'))],
      BATCHING,
    );
    expect(response.errors).toHaveLength(1);
    expect(nullPropagatedAcrossFetches(plan, response)).toBe(false);
  });

  it('looks at the nulled list of each unit: shared by two fetches is true, belonging to one is false', () => {
    // A subgraph whose `_entities` is nullable can null one unit's list and keep the rest of the response.
    const plan: BatchPlan = planBatch(
      [plannedFetch(NAME(), reps('p1')), plannedFetch(PRICE, reps('p2')), plannedFetch(PRICE, reps('p3'))],
      BATCHING,
    );
    expect(plan.prefixes).toEqual(['_b0_', '_b1_']);
    const error = { message: 'failed', path: ['_b0__entities'] };
    expect(
      nullPropagatedAcrossFetches(plan, { data: { _b0__entities: null, _b1__entities: [{}, {}] }, errors: [error] }),
    ).toBe(false);
    expect(
      nullPropagatedAcrossFetches(plan, { data: { _b0__entities: [{}], _b1__entities: null }, errors: [error] }),
    ).toBe(true);
  });
});

describe('reusableEntity', () => {
  it('shares a flat entity, and primitives and null, as they are', () => {
    const flat = { __typename: 'Product', upc: 'p1', tags: null };
    expect(reusableEntity(flat)).toBe(flat);
    expect(reusableEntity(null)).toBeNull();
    expect(reusableEntity('p1')).toBe('p1');
  });

  it('copies an entity with nested objects or lists, so no nested object is reachable from two places', () => {
    const nested = { upc: 'p1', dimensions: { width: 1 }, variants: [{ sku: 'a' }] };
    const copy = reusableEntity(nested) as typeof nested;
    expect(copy).toEqual(nested);
    expect(copy).not.toBe(nested);
    expect(copy.dimensions).not.toBe(nested.dimensions);
    expect(copy.variants[0]).not.toBe(nested.variants[0]);
  });
});

describe('cloneJson', () => {
  it('copies objects and arrays at every depth and keeps every value', () => {
    const value = { a: [1, { b: [null, 'x', true] }], c: { d: { e: 2.5 } } };
    const copy = cloneJson(value) as typeof value;
    expect(copy).toEqual(value);
    (copy.c.d as { e: number }).e = 3;
    ((copy.a[1] as { b: unknown[] }).b as unknown[]).push('y');
    expect(value).toEqual({ a: [1, { b: [null, 'x', true] }], c: { d: { e: 2.5 } } });
  });

  it('returns primitives and null as they are', () => {
    expect([null, 0, '', false, 'p1'].map(cloneJson)).toEqual([null, 0, '', false, 'p1']);
  });
});
