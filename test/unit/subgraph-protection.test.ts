import fs from 'node:fs';
import path from 'node:path';
import { HttpError } from '../../lib/http';
import {
  CallerGoneError,
  createSubgraphProtection,
  stopsWhenCallerGone,
  SUBGRAPH_MAX_COST,
} from '../../subgraphs/common/protection';

/** Subgraphs apply their own limits (other services reach them directly) and stop reading when the caller has gone. */
const ordersSdl = fs.readFileSync(path.join(__dirname, '../../schema/orders.graphql'), 'utf8');

const refusal = (check: () => void): HttpError | undefined => {
  try {
    check();
    return undefined;
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
};

describe('subgraph protection', () => {
  const protection = createSubgraphProtection(ordersSdl);
  const entities = (count: number, first: number) => ({
    query: `query ($r: [_Any!]!) { _entities(representations: $r) { ... on User { orders(first: ${first}) { edges { node { id items { quantity } } } } } } }`,
    variables: { r: Array.from({ length: count }, (_, i) => ({ __typename: 'User', id: String(i) })) },
  });

  it("lets the gateway's entity fetches through, and costs them by the representations they carry", () => {
    expect(refusal(() => protection.check(entities(100, 4)))).toBeUndefined();
    const tooMany = refusal(() => protection.check(entities(10_000, 100)));
    expect(tooMany).toMatchObject({ status: 400, code: 'COST_ESTIMATED_TOO_EXPENSIVE' });
    expect(tooMany!.message).toContain(`maximum of ${SUBGRAPH_MAX_COST}`);
  });

  it('refuses a document over its own, wider, limits', () => {
    const deep = { query: `{ ${'order(id: "1") { user { '.repeat(30)}id${' } }'.repeat(30)} }` };
    expect(refusal(() => protection.check(deep))).toMatchObject({ status: 400, code: 'DOCUMENT_LIMIT_EXCEEDED' });
    const nested = { query: `{ ${'a { '.repeat(100_000)}` };
    expect(refusal(() => protection.check(nested))).toMatchObject({ status: 400, code: 'DOCUMENT_LIMIT_EXCEEDED' });
  });

  it('leaves anything without a query text to the GraphQL server', () => {
    expect(refusal(() => protection.check({ extensions: {} }))).toBeUndefined();
    expect(refusal(() => protection.check([1, 2]))).toBeUndefined();
  });
});

describe('stopsWhenCallerGone', () => {
  it('runs reads while the caller is there, and refuses them once it has gone', async () => {
    const calls: string[] = [];
    const store = {
      async byIds(ids: readonly number[]) {
        calls.push(`byIds ${ids.join(',')}`);
        return ids;
      },
      label: 'orders',
    };
    const gone = new AbortController();
    const guarded = stopsWhenCallerGone(store, gone.signal);
    expect(await guarded.byIds([1, 2])).toEqual([1, 2]);
    expect(guarded.label).toBe('orders');
    gone.abort();
    expect(() => guarded.byIds([3])).toThrow(CallerGoneError);
    expect(calls).toEqual(['byIds 1,2']);
  });
});
