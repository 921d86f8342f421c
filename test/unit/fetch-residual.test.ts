import { GraphQLError } from 'graphql';
import { isEntityFailure, type FetchResult, type PlannedFetch } from '../../gateway/fetch/batch';
import { representationKey } from '../../gateway/fetch/identity';
import { withKnownEntities, type KnownOutcome } from '../../gateway/fetch/residual';
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

const PRODUCTS = [
  { upc: 'p1', name: 'Anvil' },
  { upc: 'p2', name: 'Bucket' },
  { upc: 'p3', name: 'Chisel' },
  { upc: 'p4', name: 'Drill' },
];
const products = createSpySubgraph(
  'products',
  `${FEDERATION_LINK}["@key"])
type Product @key(fields: "upc") { upc: ID! name: String! priceIn(currency: String!): Int! }
type Query { product(upc: ID!): Product }`,
  {
    Product: {
      __resolveReference: (reference: { upc: string }) => {
        if (reference.upc === 'flaky') return Promise.reject(new GraphQLError('Product flaky timed out'));
        return PRODUCTS.find((product) => product.upc === reference.upc) ?? null;
      },
      priceIn: (product: { upc: string }, { currency }: { currency: string }) =>
        product.upc.charCodeAt(1) * (currency === 'EUR' ? 2 : 1),
    },
  },
);
const { keyIndex } = composeSpies([products]);
const BATCHING = { dedupeRepresentations: true, identityOf: identityFor(keyIndex, 'products') };

const NAME =
  'query Q__products__1($representations:[_Any!]!){_entities(representations:$representations){...on Product{name}}}';
const PRICE_IN =
  'query Q__products__2($representations:[_Any!]!$currency:String!){_entities(representations:$representations){...on Product{priceIn(currency:$currency)}}}';
const rep = (upc: string) => ({ __typename: 'Product', upc });
const named = (upc: string) => ({ name: PRODUCTS.find((product) => product.upc === upc)!.name });

type Miss = Extract<KnownOutcome, { kind: 'miss' }>;
const miss = (outcome: KnownOutcome): Miss => {
  if (outcome.kind !== 'miss') throw new Error(`expected a miss, got ${outcome.kind}`);
  return outcome;
};

/** Sends the residual as the data source would, and completes it. */
async function sendResidual(outcome: Miss): Promise<FetchResult> {
  const [result] = (await sendBatch(products, [outcome.residual], BATCHING)).results;
  if (!result || isEntityFailure(result)) throw new Error('the residual fetch failed');
  return outcome.complete(result);
}

beforeEach(() => products.reset());

describe('withKnownEntities', () => {
  it('answers without a request when every entity is known', () => {
    const learn = jest.fn();
    const outcome = withKnownEntities(
      plannedFetch(NAME, { representations: [rep('p1'), rep('p2')] }),
      [named('p1'), named('p2')],
      learn,
    );
    expect(outcome).toEqual({ kind: 'hit', result: { data: { _entities: [named('p1'), named('p2')] } } });
    expect(learn).not.toHaveBeenCalled();
  });

  it('asks for the original fetch unchanged when nothing is known', () => {
    const fetch = plannedFetch(NAME, { representations: [rep('p1'), rep('p2')] });
    expect(miss(withKnownEntities(fetch, [undefined, undefined], () => undefined)).residual).toBe(fetch);
  });

  it('asks only for the unknown representations, with the fetch’s other variables and operation name', () => {
    const fetch = plannedFetch(
      PRICE_IN,
      { representations: [rep('p1'), rep('p2'), rep('p3')], currency: 'EUR' },
      'Q__products__2',
    );
    const { residual } = miss(withKnownEntities(fetch, [undefined, { priceIn: 1 }, undefined], () => undefined));
    expect(residual.shape).toBe(fetch.shape);
    expect(residual.request).toEqual({
      query: PRICE_IN,
      operationName: 'Q__products__2',
      variables: { representations: [rep('p1'), rep('p3')], currency: 'EUR' },
    });
    // The original fetch is left as it was: the caller may still need it.
    expect(fetch.request.variables!.representations).toHaveLength(3);
  });

  it('puts the answer back together in the original order, against a real subgraph', async () => {
    const fetch = plannedFetch(NAME, { representations: ['p1', 'p2', 'p3', 'p4'].map(rep) });
    const outcome = miss(withKnownEntities(fetch, [undefined, named('p2'), undefined, named('p4')], () => undefined));
    const result = await sendResidual(outcome);
    expect(products.bodies.map(representationsOf)).toEqual([{ '': [rep('p1'), rep('p3')] }]);
    expect(result).toEqual((await answersAlone(products, [fetch]))[0]);
  });

  it('moves each entity error to the position of its representation in the original fetch', async () => {
    const fetch = plannedFetch(NAME, { representations: [rep('p1'), rep('p2'), rep('flaky')] });
    const outcome = miss(withKnownEntities(fetch, [named('p1'), undefined, undefined], () => undefined));
    const result = await sendResidual(outcome);
    // The residual asked for [p2, flaky]: the subgraph put the error at 1, which is 2 in the original.
    expect(result.errors?.map((error) => error.path)).toEqual([['_entities', 2]]);
    expect(withoutLocations(result)).toEqual(withoutLocations((await answersAlone(products, [fetch]))[0]!));
  });

  it('hands over for keeping only the entities that came back clean: not null and without an error', async () => {
    const learn = jest.fn();
    const fetch = plannedFetch(NAME, { representations: ['p1', 'gone', 'flaky', 'p3', 'p4'].map(rep) });
    const outcome = miss(withKnownEntities(fetch, [undefined, undefined, undefined, undefined, named('p4')], learn));
    await sendResidual(outcome);
    expect(learn.mock.calls).toEqual([
      [
        [
          { index: 0, entity: named('p1') },
          { index: 3, entity: named('p3') },
        ],
      ],
    ]);
  });

  it('hands over nothing when the subgraph reported an error it did not tie to one entity', () => {
    const learn = jest.fn();
    const outcome = miss(
      withKnownEntities(
        plannedFetch(NAME, { representations: [rep('p1'), rep('p2')] }),
        [named('p1'), undefined],
        learn,
      ),
    );
    const error = { message: 'partial outage', path: ['_entities'] };
    const result = outcome.complete({ data: { _entities: [named('p2')] }, errors: [error] });
    expect(result).toEqual({ data: { _entities: [named('p1'), named('p2')] }, errors: [error] });
    expect(learn).not.toHaveBeenCalled();
  });

  it('hands over nothing that was placed without a key check, and keeps the result marked for this request only', () => {
    const learn = jest.fn();
    const outcome = miss(
      withKnownEntities(
        plannedFetch(NAME, { representations: [rep('p1'), rep('p2')] }),
        [undefined, named('p2')],
        learn,
      ),
    );
    const result = outcome.complete({ data: { _entities: [named('p1')] }, unverified: true });
    expect(result).toEqual({ data: { _entities: [named('p1'), named('p2')] }, unverified: true });
    expect(learn).not.toHaveBeenCalled();
  });

  it('passes on an answer without an _entities list, its entity errors moved to their original positions', () => {
    const outcome = miss(
      withKnownEntities(
        plannedFetch(NAME, { representations: [rep('p1'), rep('p2'), rep('p3')] }),
        [named('p1'), undefined, undefined],
        () => undefined,
      ),
    );
    const result = outcome.complete({
      data: null,
      errors: [{ message: 'p3 failed', path: ['_entities', 1, 'name'] }, { message: 'no path' }],
    });
    expect(result).toEqual({
      data: null,
      errors: [{ message: 'p3 failed', path: ['_entities', 2, 'name'] }, { message: 'no path' }],
    });
  });

  it('serves a later wave of the same request from what an earlier wave fetched, asking only for what is new', async () => {
    // The data source's request memo: entities learned by representation key, per selection.
    const memo = new Map<string, unknown>();
    const wave = async (fetch: PlannedFetch): Promise<FetchResult> => {
      const keys = (fetch.request.variables!.representations as unknown[]).map(representationKey);
      const outcome = withKnownEntities(
        fetch,
        keys.map((key) => memo.get(key)),
        (fresh) => {
          for (const { index, entity } of fresh) memo.set(keys[index]!, entity);
        },
      );
      return outcome.kind === 'hit' ? outcome.result : sendResidual(outcome);
    };
    const first = plannedFetch(NAME, { representations: [rep('p1'), rep('p2')] });
    const second = plannedFetch(NAME, { representations: [{ upc: 'p2', __typename: 'Product' }, rep('p3')] });
    const third = plannedFetch(NAME, { representations: [rep('p3'), rep('p1')] });
    const results = [await wave(first), await wave(second), await wave(third)];
    expect(products.bodies.map(representationsOf)).toEqual([{ '': [rep('p1'), rep('p2')] }, { '': [rep('p3')] }]);
    expect(results).toEqual(await answersAlone(products, [first, second, third]));
  });
});
