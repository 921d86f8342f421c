import { GraphQLError, Kind, parse, print, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { shapeOf } from '../../gateway/fetch/document';
import { placeEntities, representationKey, withIdentityFields, type IdentityShape } from '../../gateway/fetch/identity';
import { FEDERATION_LINK, composeSpies, createSpySubgraph } from '../helpers/network-spies';

/**
 * The answers placed here are what a real subgraph returns to the identity-checked document, then reordered,
 * shortened or corrupted the way a misbehaving subgraph would.
 */
const CATALOG_SDL = `${FEDERATION_LINK}["@key", "@external"])
type Product @key(fields: "sku") @key(fields: "id") { id: ID! sku: ID! name: String! }
type Review @key(fields: "id") { id: ID! body: String! }
type Member @key(fields: "id region") @key(fields: "id") { id: ID! region: String! name: String! }
type User @key(fields: "email") { email: String! @external points: Int! }
type Query { product(sku: ID!): Product }`;

const PRODUCTS = [
  { id: 'X1', sku: 'A', name: 'Anvil' },
  { id: 'X2', sku: 'B', name: 'Bucket' },
  { id: 'X3', sku: 'C', name: 'Chisel' },
];
const catalog = createSpySubgraph('catalog', CATALOG_SDL, {
  Product: {
    __resolveReference: (reference: { sku?: string; id?: string }) => {
      if (reference.sku === 'flaky') return Promise.reject(new GraphQLError('Product flaky timed out'));
      return PRODUCTS.find((product) => product.sku === reference.sku || product.id === reference.id) ?? null;
    },
  },
  // A review shares its id with a product on purpose: only the typename tells the two answers apart.
  Review: { __resolveReference: (reference: { id: string }) => ({ id: reference.id, body: `Review ${reference.id}` }) },
  Member: {
    __resolveReference: (reference: { id: string; region?: string }) => ({
      id: reference.id,
      region: reference.region ?? 'eu',
      name: `Member ${reference.id}`,
    }),
  },
  User: { __resolveReference: (reference: { email: string }) => ({ email: reference.email, points: 7 }) },
});
// Owns User.email, which catalog only receives (`@external`): catalog cannot be asked for it.
const accounts = createSpySubgraph(
  'accounts',
  `${FEDERATION_LINK}["@key"])
type User @key(fields: "email") { email: String! name: String! }
type Query { me: User }`,
  {},
);
const { keyIndex } = composeSpies([catalog, accounts]);
const keySetsOf = (typename: string) => keyIndex.keySets('catalog', typename);

const entities = (selection: string, fragments = '') =>
  `query Q__catalog__1($representations:[_Any!]!){_entities(representations:$representations){${selection}}}${fragments}`;
const PRODUCT_NAME = entities('...on Product{name}');
const PRODUCT_OR_REVIEW = entities('...on Product{name} ...on Review{body}');

const product = (key: { sku: string } | { id: string }) => ({ __typename: 'Product', ...key });
const identityOf = (query: string): IdentityShape => withIdentityFields(shapeOf(query), keySetsOf)!;

/** What catalog answers to the identity-checked fetch: the `_entities` list and its errors. */
async function answer(query: string, representations: unknown[]) {
  const result = await catalog.answer({ query: identityOf(query).sent.query, variables: { representations } });
  return { received: result.data!._entities as unknown[], errors: result.errors ?? [] };
}

/** The answer in reverse order, its error paths pointing where the entities now are, as a subgraph would send it. */
function reversed({ received, errors }: Awaited<ReturnType<typeof answer>>) {
  const last = received.length - 1;
  return {
    received: [...received].reverse(),
    errors: errors.map((error) =>
      error.path?.[0] === '_entities' ? { ...error, path: ['_entities', last - (error.path[1] as number)] } : error,
    ),
  };
}

/** The selections `withIdentityFields` put under `_entities`, printed. */
function entitySelections(query: string): string[] {
  const operation = parse(query).definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  )!;
  const field = operation.selectionSet.selections[0] as FieldNode;
  return field.selectionSet!.selections.map((selection) => print(selection).replace(/\s+/g, ' '));
}

describe('withIdentityFields', () => {
  it('leaves a fetch that is not an _entities fetch alone', () => {
    expect(withIdentityFields(shapeOf('query($sku:ID!){product(sku:$sku){name}}'), keySetsOf)).toBeUndefined();
  });

  it('adds the typename and every key field the subgraph can answer, under reserved aliases, after the planner’s selection', async () => {
    const identity = identityOf(PRODUCT_NAME);
    expect(entitySelections(identity.sent.query)).toEqual([
      '... on Product { name }',
      '_fgw_typename: __typename',
      '... on Product { _fgw_key_sku: sku _fgw_key_id: id }',
    ]);
    expect(identity.sent).toMatchObject({ entities: true, rootKeys: ['_entities'], operation: 'query' });
    // The subgraph accepts it and returns each entity's identity next to what the planner asked for.
    expect(await answer(PRODUCT_NAME, [product({ sku: 'A' }), product({ id: 'X2' })])).toEqual({
      received: [
        { name: 'Anvil', _fgw_typename: 'Product', _fgw_key_sku: 'A', _fgw_key_id: 'X1' },
        { name: 'Bucket', _fgw_typename: 'Product', _fgw_key_sku: 'B', _fgw_key_id: 'X2' },
      ],
      errors: [],
    });
  });

  it('adds the key fields of every type the fetch selects, named fragments included', () => {
    const query = entities('...on Product{name} ...ReviewBody', ' fragment ReviewBody on Review{body}');
    expect(entitySelections(identityOf(query).sent.query)).toEqual([
      '... on Product { name }',
      '...ReviewBody',
      '_fgw_typename: __typename',
      '... on Product { _fgw_key_sku: sku _fgw_key_id: id }',
      '... on Review { _fgw_key_id: id }',
    ]);
  });

  it('asks for each field of overlapping keys once', () => {
    expect(entitySelections(identityOf(entities('...on Member{name}')).sent.query)).toEqual([
      '... on Member { name }',
      '_fgw_typename: __typename',
      '... on Member { _fgw_key_id: id _fgw_key_region: region }',
    ]);
  });

  it('asks only for the typename of a type whose key the subgraph cannot answer', async () => {
    const query = entities('...on User{points}');
    expect(entitySelections(identityOf(query).sent.query)).toEqual([
      '... on User { points }',
      '_fgw_typename: __typename',
    ]);
    expect((await answer(query, [{ __typename: 'User', email: 'ada@example.com' }])).received).toEqual([
      { points: 7, _fgw_typename: 'User' },
    ]);
  });
});

describe('placeEntities', () => {
  const place = (query: string, representations: unknown[], got: Awaited<ReturnType<typeof answer>>) =>
    placeEntities(identityOf(query), representations, got.received, got.errors, 'catalog');

  it('places an answer in order by position, checks every key, and removes the identity aliases', async () => {
    const representations = [product({ sku: 'A' }), product({ sku: 'B' })];
    expect(place(PRODUCT_NAME, representations, await answer(PRODUCT_NAME, representations))).toEqual({
      kind: 'placed',
      entities: [{ name: 'Anvil' }, { name: 'Bucket' }],
      errors: [],
      verified: true,
    });
  });

  it('places an answer out of order by key, a null answer and its error going to the one representation left', async () => {
    const representations = [product({ sku: 'A' }), product({ sku: 'flaky' }), product({ sku: 'C' })];
    const got = await answer(PRODUCT_NAME, representations);
    expect(got.errors.map((error) => error.path)).toEqual([['_entities', 1]]);
    expect(reversed(got).errors.map((error) => error.path)).toEqual([['_entities', 1]]);
    expect(place(PRODUCT_NAME, representations, reversed(got))).toMatchObject({
      kind: 'placed',
      entities: [{ name: 'Anvil' }, null, { name: 'Chisel' }],
      errors: [{ message: 'Product flaky timed out', path: ['_entities', 1] }],
      verified: true,
    });
  });

  // Null answers carry no key: with two of them out of order (`gone` and `flaky` here), which one failed is
  // not certain, so the error must not be tied to the other's position (the fetch fails instead).
  it('never ties an error to a representation other than the one that failed, when two nulls come back out of order', async () => {
    const representations = [
      product({ sku: 'A' }),
      product({ sku: 'flaky' }),
      product({ sku: 'gone' }),
      product({ sku: 'C' }),
    ];
    const got = reversed(await answer(PRODUCT_NAME, representations));
    // Reversed: [Chisel, null (gone), null (flaky, with its error), Anvil].
    expect(got.errors.map((error) => error.path)).toEqual([['_entities', 2]]);
    const placement = place(PRODUCT_NAME, representations, got);
    const blamed = placement.kind === 'placed' ? placement.errors.map((error) => error.path) : [];
    // `gone` (position 2) did not fail; only `flaky` (position 1) did.
    expect(blamed).not.toContainEqual(['_entities', 2]);
  });

  it('matches an answer by whichever key of its type the representation carries', async () => {
    const representations = [product({ id: 'X3' }), product({ sku: 'A' }), product({ id: 'X2' })];
    const placement = place(PRODUCT_NAME, representations, reversed(await answer(PRODUCT_NAME, representations)));
    expect(placement).toMatchObject({
      kind: 'placed',
      entities: [{ name: 'Chisel' }, { name: 'Anvil' }, { name: 'Bucket' }],
    });
  });

  it('tells apart entities of two types with the same key value by their typename, when placing by key', async () => {
    const representations = [product({ id: 'X1' }), { __typename: 'Review', id: 'X1' }, product({ id: 'X2' })];
    const got = reversed(await answer(PRODUCT_OR_REVIEW, representations));
    got.received.shift();
    expect(place(PRODUCT_OR_REVIEW, representations, got)).toMatchObject({
      kind: 'placed',
      entities: [{ name: 'Anvil' }, { body: 'Review X1' }, null],
    });
  });

  // The typename is part of the in-order check: a Product and a Review with the same id, answered in reverse
  // order, would otherwise each "match" the other's representation and be kept, verified, in the wrong place.
  it('tells apart entities of two types with the same key value by their typename, when the count is right', async () => {
    const representations = [product({ id: 'X1' }), { __typename: 'Review', id: 'X1' }];
    const placement = place(
      PRODUCT_OR_REVIEW,
      representations,
      reversed(await answer(PRODUCT_OR_REVIEW, representations)),
    );
    expect(placement).toMatchObject({ kind: 'placed', entities: [{ name: 'Anvil' }, { body: 'Review X1' }] });
  });

  it('gives a representation the subgraph left out null, and an error at its position naming the subgraph', async () => {
    const representations = [product({ sku: 'A' }), product({ sku: 'B' }), product({ sku: 'C' })];
    const got = await answer(PRODUCT_NAME, representations);
    got.received.splice(1, 1);
    expect(place(PRODUCT_NAME, representations, got)).toEqual({
      kind: 'placed',
      entities: [{ name: 'Anvil' }, null, { name: 'Chisel' }],
      errors: [
        {
          message: "Subgraph 'catalog' returned no entity for this representation",
          path: ['_entities', 1],
          extensions: { code: 'SUBGRAPH_INVALID_RESPONSE', serviceName: 'catalog' },
        },
      ],
      verified: true,
    });
  });

  it('places one answer each for a representation sent twice', async () => {
    // Without deduplication, a fetch carries one representation per position.
    const representations = [product({ sku: 'A' }), product({ sku: 'B' }), product({ sku: 'A' })];
    const placement = place(PRODUCT_NAME, representations, reversed(await answer(PRODUCT_NAME, representations)));
    expect(placement).toMatchObject({
      kind: 'placed',
      entities: [{ name: 'Anvil' }, { name: 'Bucket' }, { name: 'Anvil' }],
    });
  });

  it('fails as unmatched an answer whose key is none of the representations’', async () => {
    const representations = [product({ sku: 'A' }), product({ sku: 'B' })];
    const got = await answer(PRODUCT_NAME, representations);
    // The wrong product, with its own key: what a subgraph with a lookup bug returns.
    (got.received[1] as Record<string, unknown>)._fgw_key_sku = 'C';
    expect(place(PRODUCT_NAME, representations, got)).toEqual({ kind: 'unmatched' });
  });

  it('fails as unmatched an answer that comes twice', async () => {
    const representations = [product({ sku: 'A' }), product({ sku: 'B' })];
    const got = await answer(PRODUCT_NAME, representations);
    got.received.push({ ...(got.received[0] as object) });
    expect(place(PRODUCT_NAME, representations, got)).toEqual({ kind: 'unmatched' });
  });

  it('fails as unmatched a long answer with a null more than there are representations left for it', async () => {
    const representations = [product({ sku: 'A' }), product({ sku: 'B' })];
    const got = await answer(PRODUCT_NAME, representations);
    got.received.splice(1, 0, null);
    expect(place(PRODUCT_NAME, representations, got)).toEqual({ kind: 'unmatched' });
  });

  it('fails as unmatched a short answer for two representations with one key and different other fields', async () => {
    // Two @requires variants of one entity: its key cannot say which of them an answer is for.
    const representations = [
      { __typename: 'Product', sku: 'A', weight: 1 },
      { __typename: 'Product', sku: 'A', weight: 2 },
    ];
    const got = await answer(PRODUCT_NAME, representations);
    got.received.pop();
    expect(place(PRODUCT_NAME, representations, got)).toEqual({ kind: 'unmatched' });
  });

  it('places an entity whose type has no key the subgraph can answer by position, unverified', async () => {
    const query = entities('...on User{points}');
    const representations = [{ __typename: 'User', email: 'ada@example.com' }];
    expect(place(query, representations, await answer(query, representations))).toEqual({
      kind: 'placed',
      entities: [{ points: 7 }],
      errors: [],
      verified: false,
    });
  });

  it('fails as wrong-count a short answer that some representation has no key to be placed by', async () => {
    const query = entities('...on User{points}');
    const representations = [
      { __typename: 'User', email: 'ada@example.com' },
      { __typename: 'User', email: 'grace@example.com' },
    ];
    const got = await answer(query, representations);
    got.received.pop();
    expect(place(query, representations, got)).toEqual({ kind: 'wrong-count' });
  });

  it('without identity, places an answer of the right count by position, unverified, and fails any other count', () => {
    const representations = [product({ sku: 'A' }), product({ sku: 'B' })];
    expect(placeEntities(undefined, representations, [{ name: 'Anvil' }, null], [], 'catalog')).toEqual({
      kind: 'placed',
      entities: [{ name: 'Anvil' }, null],
      errors: [],
      verified: false,
    });
    expect(placeEntities(undefined, representations, [{ name: 'Anvil' }], [], 'catalog')).toEqual({
      kind: 'wrong-count',
    });
  });
});

describe('representationKey', () => {
  it('is the same for the same fields in another order', () => {
    expect(representationKey({ weight: 5, __typename: 'Product', sku: 'A' })).toBe(
      representationKey({ __typename: 'Product', sku: 'A', weight: 5 }),
    );
  });

  it('differs when any value differs, nested values included', () => {
    const keys = [
      { __typename: 'Product', sku: 'A' },
      { __typename: 'Product', sku: 'B' },
      { __typename: 'Review', sku: 'A' },
      { __typename: 'Product', sku: 'A', weight: 1 },
      { __typename: 'Product', sku: 'A', dimensions: { width: 1 } },
      { __typename: 'Product', sku: 'A', dimensions: { width: 2 } },
    ].map(representationKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('leaves out fields that are undefined, as JSON does', () => {
    expect(representationKey({ sku: 'A', __typename: 'Product', weight: undefined })).toBe(
      representationKey({ __typename: 'Product', sku: 'A' }),
    );
  });

  it('is the JSON of anything that is not an object', () => {
    expect([null, 'A', 3, ['A']].map(representationKey)).toEqual(['null', '"A"', '3', '["A"]']);
  });

  it('is the JSON of the fields in name order, nested values as given', () => {
    expect(representationKey({ weight: 5, __typename: 'Product', size: { w: 2, h: 1 }, sku: 'A"B' })).toBe(
      '{"__typename":"Product","size":{"w":2,"h":1},"sku":"A\\"B","weight":5}',
    );
    // Integer-like names, which an object would enumerate first, still come in name order.
    expect(representationKey({ b: 1, 9: 3, 10: 2 })).toBe('{"10":2,"9":3,"b":1}');
  });
});

describe('placing answers', () => {
  it('removes every identity field, wherever the subgraph put it, and keeps the other fields in order', () => {
    const representations = [{ __typename: 'Product', sku: 'A' }];
    const last = { name: 'Anvil', price: 3, _fgw_typename: 'Product', _fgw_key_sku: 'A' };
    const first = { _fgw_key_sku: 'A', name: 'Anvil', _fgw_typename: 'Product', price: 3 };
    for (const entity of [last, first]) {
      const placement = placeEntities(undefined, representations, [entity], [], 'catalog');
      expect(placement).toMatchObject({ kind: 'placed' });
      const [placed] = (placement as { entities: Record<string, unknown>[] }).entities;
      expect(Object.keys(placed!)).toEqual(['name', 'price']);
      expect(JSON.stringify(placed)).toBe('{"name":"Anvil","price":3}');
    }
  });
});
