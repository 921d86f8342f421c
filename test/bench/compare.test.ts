import { bodyHasGraphQLErrors, firstDifference, graphQLErrorCodesOf, graphQLErrorsOf, project, valueAt } from '../../bench/compare';

describe('firstDifference', () => {
  it('finds none between equal answers whose fields come in different orders', () => {
    const expected = { data: { user: { id: '1', name: 'Ada' } } };
    const actual = JSON.parse('{"data":{"user":{"name":"Ada","id":"1"}}}');
    expect(firstDifference(expected, actual)).toBeUndefined();
  });

  it('names the path of the first differing value', () => {
    const expected = { data: { users: [{ id: '1', stock: 5 }, { id: '2', stock: 7 }] } };
    const actual = { data: { users: [{ id: '1', stock: 5 }, { id: '2', stock: 6 }] } };
    expect(firstDifference(expected, actual)).toBe('$.data.users[1].stock: expected 7, got 6');
  });

  it('reports missing and unexpected fields and different list lengths', () => {
    expect(firstDifference({ data: { a: 1 } }, { data: {} })).toBe('$.data.a: missing');
    expect(firstDifference({ data: null }, { data: null, errors: [{ message: 'x' }] })).toBe(
      '$.errors: unexpected [{"message":"x"}]',
    );
    expect(firstDifference([1, 2], [1])).toBe('$: expected 2 items, got 1');
  });

  it('treats list order as significant', () => {
    expect(firstDifference([1, 2], [2, 1])).toBe('$[0]: expected 1, got 2');
  });
});

describe('project', () => {
  it('keeps only the fields of the shape, through lists', () => {
    const nodes = [
      { id: '1', name: 'Ada', orders: { edges: [{ node: { id: '7', totalCents: 100, items: [{ quantity: 2, product: { sku: 'A', name: 'x' } }] } }] } },
    ];
    const shape = { orders: { edges: { node: { id: true, items: { quantity: true, product: { sku: true } } } } } } as const;
    expect(project(nodes, shape)).toEqual([{ orders: { edges: [{ node: { id: '7', items: [{ quantity: 2, product: { sku: 'A' } }] } }] } }]);
  });

  it('keeps nulls where the shape expects an object', () => {
    expect(project({ orders: null }, { orders: { edges: true } })).toEqual({ orders: null });
  });
});

describe('valueAt', () => {
  it('follows a dotted path, undefined when a step is missing', () => {
    expect(valueAt({ data: { users: { edges: [] } } }, 'data.users.edges')).toEqual([]);
    expect(valueAt({ data: null }, 'data.users')).toBeUndefined();
  });
});

describe('GraphQL errors', () => {
  it('lists errors with their codes', () => {
    const response = { data: null, errors: [{ message: 'no', extensions: { code: 'FORBIDDEN' } }, { message: 'plain' }] };
    expect(graphQLErrorsOf(response)).toEqual(['FORBIDDEN: no', 'plain']);
    expect(graphQLErrorsOf({ data: {} })).toEqual([]);
  });

  it('spots an errors key in a raw body but not the word inside a string value', () => {
    expect(bodyHasGraphQLErrors('{"data":null,"errors":[{"message":"x"}]}')).toBe(true);
    expect(bodyHasGraphQLErrors(JSON.stringify({ data: { note: 'no "errors": here' } }))).toBe(false);
  });
});

describe('graphQLErrorCodesOf', () => {
  it("lists each error's code, undefined where an error has none", () => {
    const response = { data: null, errors: [{ message: 'sold out', extensions: { code: 'OUT_OF_STOCK' } }, { message: 'boom' }] };
    expect(graphQLErrorCodesOf(response)).toEqual(['OUT_OF_STOCK', undefined]);
    expect(graphQLErrorCodesOf({ data: {} })).toEqual([]);
  });
});
