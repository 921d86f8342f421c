import { buildSchema } from 'graphql';
import type { FetchNode, PlanNode, QueryPlan } from '@apollo/query-planner';
import { countHops } from '../../tools/schema/hops';
import { diffSchemas } from '../../tools/schema/diff';

const fetch = (serviceName: string): FetchNode => ({
  kind: 'Fetch',
  serviceName,
  operation: '{ __typename }',
  operationName: undefined,
  operationKind: 'query' as FetchNode['operationKind'],
});
const plan = (node: PlanNode): QueryPlan => ({ kind: 'QueryPlan', node });

describe('countHops', () => {
  it('counts an empty plan (introspection only) as no fetches', () => {
    expect(countHops({ kind: 'QueryPlan' })).toEqual({ fetches: 0, sequentialFetches: 0 });
  });

  it('adds up a sequence and takes the longest branch of a parallel', () => {
    const node: PlanNode = {
      kind: 'Sequence',
      nodes: [
        fetch('users'),
        {
          kind: 'Parallel',
          nodes: [
            { kind: 'Flatten', path: ['me'], node: fetch('orders') },
            { kind: 'Sequence', nodes: [fetch('inventory'), { kind: 'Flatten', path: ['me'], node: fetch('orders') }] },
          ],
        },
      ],
    };
    expect(countHops(plan(node))).toEqual({ fetches: 4, sequentialFetches: 3 });
  });

  it('counts the costlier branch of a condition, since only one runs', () => {
    const node: PlanNode = {
      kind: 'Condition',
      condition: 'withOrders',
      ifClause: { kind: 'Sequence', nodes: [fetch('users'), fetch('orders')] },
      elseClause: fetch('users'),
    };
    expect(countHops(plan(node))).toEqual({ fetches: 2, sequentialFetches: 2 });
  });

  it('counts deferred parts after the primary part they depend on', () => {
    const node: PlanNode = {
      kind: 'Defer',
      primary: { node: fetch('users') },
      deferred: [
        { depends: [{ id: '0' }], queryPath: [], node: fetch('orders') },
        {
          depends: [{ id: '0' }],
          queryPath: [],
          node: { kind: 'Sequence', nodes: [fetch('orders'), fetch('inventory')] },
        },
      ],
    };
    expect(countHops(plan(node))).toEqual({ fetches: 4, sequentialFetches: 3 });
  });
});

describe('diffSchemas', () => {
  const changesBetween = (before: string, after: string) =>
    diffSchemas(buildSchema(before), buildSchema(after)).map(({ severity, code, coordinate }) => ({
      severity,
      code,
      coordinate,
    }));

  it('treats a stricter output type as safe and a looser one as breaking', () => {
    const before = 'type Query { tags: [String] count: Int! }';
    const after = 'type Query { tags: [String!]! count: Int }';
    expect(changesBetween(before, after)).toEqual([
      { severity: 'breaking', code: 'FIELD_TYPE_CHANGED', coordinate: 'Query.count' },
      { severity: 'safe', code: 'FIELD_TYPE_CHANGED', coordinate: 'Query.tags' },
    ]);
  });

  it('treats a looser input type as safe and a stricter or different one as breaking', () => {
    const before = 'type Query { search(term: String!, limit: Int, tags: [String]): Int }';
    const after = 'type Query { search(term: String, limit: Int!, tags: [ID]): Int }';
    expect(changesBetween(before, after)).toEqual([
      { severity: 'breaking', code: 'ARG_TYPE_CHANGED', coordinate: 'Query.search(limit:)' },
      { severity: 'breaking', code: 'ARG_TYPE_CHANGED', coordinate: 'Query.search(tags:)' },
      { severity: 'safe', code: 'ARG_TYPE_CHANGED', coordinate: 'Query.search(term:)' },
    ]);
  });

  it('makes a new required argument affect every caller of the field, a removed one only those passing it', () => {
    const before = 'type Query { items(first: Int): Int }';
    const after = 'type Query { items(region: String!): Int }';
    const changes = diffSchemas(buildSchema(before), buildSchema(after));
    expect(changes.map(({ code, affects }) => ({ code, affects }))).toEqual([
      { code: 'ARG_REMOVED', affects: ['Query.items(first:)'] },
      { code: 'REQUIRED_ARG_ADDED', affects: ['Query.items'] },
    ]);
  });

  it('classifies union, interface, default value and directive changes', () => {
    const before = `
      directive @lowercase on FIELD
      interface Node { id: ID! }
      type A implements Node { id: ID! }
      type B { id: ID! }
      union Result = A | B
      type Query { result(limit: Int = 10): Result }`;
    const after = `
      type C { id: ID! }
      interface Node { id: ID! }
      type A { id: ID! }
      type B implements Node { id: ID! }
      union Result = B | C
      type Query { result(limit: Int = 20): Result }`;
    expect(changesBetween(before, after)).toEqual([
      { severity: 'breaking', code: 'DIRECTIVE_REMOVED', coordinate: '@lowercase' },
      { severity: 'breaking', code: 'INTERFACE_REMOVED', coordinate: 'A' },
      { severity: 'breaking', code: 'UNION_MEMBER_REMOVED', coordinate: 'Result' },
      { severity: 'dangerous', code: 'INTERFACE_ADDED', coordinate: 'B' },
      { severity: 'dangerous', code: 'ARG_DEFAULT_CHANGED', coordinate: 'Query.result(limit:)' },
      { severity: 'dangerous', code: 'UNION_MEMBER_ADDED', coordinate: 'Result' },
      { severity: 'safe', code: 'TYPE_ADDED', coordinate: 'C' },
    ]);
  });
});
