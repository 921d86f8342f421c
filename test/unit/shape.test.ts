import { buildSchema, operationFromDocument, type Operation } from '@apollo/federation-internals';
import { computeResponse } from '@apollo/gateway/dist/resultShaping';
import { parse } from 'graphql';
import { compileShape, shapeResponse, unsupportedReason } from '../../gateway/execution/shape';

/**
 * Differential test of our compiled response shaping against Apollo Gateway's own `computeResponse`: for the
 * same operation, merged subgraph data and variables, both must produce byte-identical `data` (key order
 * included, since clients see it) and the same errors (message, path, code), in the same order.
 */
const SDL = `
scalar JSON
enum Color { RED GREEN }
interface Node { id: ID! }
interface Named { name: String }
type User implements Node & Named {
  id: ID!
  name: String
  age: Int
  color: Color
  data: JSON
  friends: [User]
  tags: [String!]
  scores: [Int!]!
  best: User!
}
type Book implements Node & Named { id: ID! name: String pages: Int! author: User }
type Movie implements Node { id: ID! minutes: Float }
union Item = Book | Movie
type Query {
  user: User
  users: [User]
  requiredUser: User!
  node: Node
  nodes: [Node!]
  items: [Item]
  matrix: [[Int]]
  strictMatrix: [[Int!]!]
  count: Int
  ratio: Float
  flag: Boolean
  id: ID
  json: JSON
  color: Color
  greeting: String!
}
`;

const schema = buildSchema(SDL);

interface Case {
  query: string;
  input: Record<string, unknown>;
  variables?: Record<string, unknown>;
}

const CASES: Record<string, Case> = {
  // Aliases, field order and extra input fields.
  'aliases of the same field': {
    query: `{ a: user { n: name id } b: user { id } user { name } }`,
    input: { b: { id: '2', n: 'ignored' }, user: { name: 'U' }, a: { id: '1', n: 'A', name: 'not asked' } },
  },
  'output follows the selection order, not the input order': {
    query: `{ count user { name id age } ratio }`,
    input: { ratio: 1.5, user: { age: 3, id: '1', name: 'x' }, count: 2 },
  },
  'extra input fields (keys, __typename, other fetches) never appear': {
    query: `{ user { name friends { name } } }`,
    input: {
      user: {
        __typename: 'User',
        id: '1',
        weight: 3,
        name: 'a',
        friends: [{ __typename: 'User', id: '2', name: 'b', secret: true }],
      },
      other: 1,
    },
  },
  'missing input fields are null': {
    query: `{ count ratio user { name age } users { id } }`,
    input: { user: {} },
  },
  // Lists and nulls.
  'nested lists with nulls': {
    query: `{ matrix users { name friends { name } } }`,
    input: {
      matrix: [[1, null, 3], [null], null, []],
      users: [null, { name: 'a', friends: [null, { name: 'b' }] }, { name: null, friends: null }],
    },
  },
  'a non-null field that is null bubbles to the nearest nullable parent': {
    query: `{ count user { name best { id name } } users { name best { id } } }`,
    input: {
      count: 1,
      user: { name: 'a', best: null },
      users: [
        { name: 'x', best: { id: '1' } },
        { name: 'y', best: { id: null } },
      ],
    },
  },
  'a non-null root field that is null makes data null': {
    query: `{ count greeting user { name } }`,
    input: { count: 1, greeting: null, user: { name: 'a' } },
  },
  'a non-null field inside a non-null root field bubbles to data': {
    query: `{ requiredUser { id name } count }`,
    input: { requiredUser: { id: null, name: 'a' }, count: 1 },
  },
  'a list of non-null items with a null item becomes null': {
    query: `{ user { tags } nodes { id } }`,
    input: { user: { tags: ['a', null, 'c'] }, nodes: [{ __typename: 'Book', id: 'b1' }, null] },
  },
  'a non-null list of non-null items with a null item nulls the parent': {
    query: `{ user { id scores } count }`,
    input: { user: { id: '1', scores: [1, null, 3] }, count: 5 },
  },
  'nested non-null lists: the innermost null bubbles to the nullable outer list': {
    query: `{ strictMatrix matrix }`,
    input: {
      strictMatrix: [
        [1, 2],
        [3, null],
      ],
      matrix: [[1]],
    },
  },
  'non-null items of a nullable list: only that list becomes null': {
    query: `{ strictMatrix }`,
    input: { strictMatrix: [[1], null] },
  },
  // @skip and @include.
  '@skip/@include with literals': {
    query: `{ count @skip(if: true) ratio @include(if: false) flag @include(if: true) id @skip(if: false) color @skip(if: false) @include(if: false) }`,
    input: { count: 1, ratio: 2, flag: true, id: 'x', color: 'RED' },
  },
  '@skip/@include with variables': {
    query: `query ($s: Boolean!, $i: Boolean!) { count @skip(if: $s) ratio @include(if: $i) flag @skip(if: $i) id @include(if: $s) }`,
    input: { count: 1, ratio: 2, flag: true, id: 'x' },
    variables: { s: true, i: true },
  },
  '@skip/@include with variables, the other way': {
    query: `query ($s: Boolean!, $i: Boolean!) { count @skip(if: $s) ratio @include(if: $i) flag @skip(if: $i) id @include(if: $s) }`,
    input: { count: 1, ratio: 2, flag: true, id: 'x' },
    variables: { s: false, i: false },
  },
  'variable defaults apply when the variable is not given': {
    query: `query ($s: Boolean = true, $i: Boolean! = false) { count @skip(if: $s) ratio @include(if: $i) flag }`,
    input: { count: 1, ratio: 2, flag: false },
  },
  'given variables win over defaults': {
    query: `query ($s: Boolean = true, $i: Boolean! = false) { count @skip(if: $s) ratio @include(if: $i) flag }`,
    input: { count: 1, ratio: 2, flag: false },
    variables: { s: false, i: true },
  },
  '@include on inline fragments and fragment spreads': {
    query: `query ($v: Boolean!) { user { ... @include(if: $v) { name } ...Ages @skip(if: $v) id } } fragment Ages on User { age }`,
    input: { user: { id: '1', name: 'n', age: 4 } },
    variables: { v: true },
  },
  '@include on inline fragments and fragment spreads, excluded': {
    query: `query ($v: Boolean!) { user { ... @include(if: $v) { name } ...Ages @skip(if: $v) id } } fragment Ages on User { age }`,
    input: { user: { id: '1', name: 'n', age: 4 } },
    variables: { v: false },
  },
  // Fragments on interfaces and unions.
  'named fragments on an interface, __typename in the input': {
    query: `{ node { ...N } nodes { ...N } } fragment N on Node { id ... on User { name } ...B } fragment B on Book { pages name }`,
    input: {
      node: { __typename: 'User', id: 'u1', name: 'Ada' },
      nodes: [
        { __typename: 'Book', id: 'b1', pages: 10, name: 'Dune' },
        { __typename: 'Movie', id: 'm1', minutes: 100 },
        { __typename: 'User', id: 'u2', name: 'Bob' },
      ],
    },
  },
  'named fragments on an interface, no __typename in the input': {
    query: `{ node { ...N } } fragment N on Node { id ... on User { name } ... on Book { pages } }`,
    input: { node: { id: 'u1', name: 'Ada', pages: 3 } },
  },
  'inline fragments on a union, __typename in the input': {
    query: `{ items { ... on Book { name pages author { name } } ... on Movie { minutes } ... on Node { id } ... on Named { name } } }`,
    input: {
      items: [
        { __typename: 'Movie', id: 'm1', minutes: 90.5 },
        { __typename: 'Book', id: 'b1', name: 'Emma', pages: 400, author: { name: 'Jane' } },
        null,
      ],
    },
  },
  'inline fragments on a union, no __typename in the input': {
    query: `{ items { ... on Book { name } ... on Movie { minutes } } }`,
    input: { items: [{ name: 'Emma', minutes: 3 }] },
  },
  'a non-null field inside a fragment nulls the list item': {
    query: `{ items { ... on Book { pages name } } }`,
    input: {
      items: [
        { __typename: 'Book', pages: null, name: 'x' },
        { __typename: 'Book', pages: 1, name: 'y' },
      ],
    },
  },
  'a concrete __typename changes the parent type named in errors': {
    query: `{ node { ... on Book { pages } ... on User { best { id } } } }`,
    input: { node: { __typename: 'User', best: null } },
  },
  'fragments on the root type': {
    query: `{ ... on Query { count } ...Q ratio } fragment Q on Query { flag user { name } }`,
    input: { flag: true, ratio: 1, count: 2, user: { name: 'x' } },
  },
  // __typename.
  '__typename selected and aliased, from the input': {
    query: `{ node { __typename t: __typename id } items { kind: __typename ... on Book { __typename name } } }`,
    input: {
      node: { __typename: 'Book', id: 'b1' },
      items: [{ __typename: 'Movie' }, { __typename: 'Book', name: 'n' }],
    },
  },
  '__typename of a concrete type without __typename in the input': {
    query: `{ __typename user { __typename t: __typename name } }`,
    input: { user: { name: 'x' } },
  },
  '__typename of an interface without __typename in the input bubbles without an error': {
    query: `{ count node { __typename id } }`,
    input: { count: 1, node: { id: 'x' } },
  },
  'an aliased __typename takes the value given under its alias': {
    query: `{ user { t: __typename name } }`,
    input: { user: { t: 'Book', name: 'x' } },
  },
  // Leaf values.
  'invalid leaf values': {
    query: `{ count ratio flag id color user { age name } }`,
    input: { count: 'x', ratio: '1.5', flag: 'true', id: 1.5, color: 'BLUE', user: { age: 1.5, name: 7 } },
  },
  'valid leaf values, including an object for a custom scalar': {
    query: `{ count ratio flag id color json user { data } }`,
    input: {
      count: -0,
      ratio: 3,
      flag: false,
      id: 12,
      color: 'GREEN',
      json: { a: [1, { b: null }], c: 'd' },
      user: { data: [true, 2, 'x'] },
    },
  },
  'invalid leaf values: booleans, objects and lists for built-in scalars': {
    query: `{ count ratio id flag color }`,
    input: { count: true, ratio: { value: 1 }, id: [1], flag: 0, color: 1 },
  },
  'integers beyond 32 bits and exponents': {
    query: `{ count id ratio }`,
    input: { count: 1e21, id: 3000000000, ratio: 1e21 },
  },
  'invalid leaves in lists, and an invalid non-null leaf': {
    query: `{ matrix user { id scores } greeting }`,
    input: { matrix: [[1, 'x'], [2.5]], user: { id: '1', scores: [1, 'two'] }, greeting: 5 },
  },
  'invalid leaf in a non-null field bubbles with one error': {
    query: `{ count greeting }`,
    input: { count: 1, greeting: { text: 'hi' } },
  },
  // Invalid __typename.
  'an unknown __typename': {
    query: `{ node { id } user { name } }`,
    input: { node: { __typename: 'Nope', id: 'x' }, user: { __typename: 'Ghost', name: 'y' } },
  },
  'a __typename naming a non-composite type, in a list of non-null items': {
    query: `{ nodes { id } users { id } }`,
    input: {
      nodes: [
        { __typename: 'Book', id: 'b1' },
        { __typename: 'Color', id: 'c' },
      ],
      users: [{ __typename: 'String', id: 'u' }, { id: 'u2' }],
    },
  },
  'an unknown __typename for a non-null field': {
    query: `{ user { best { id } name } }`,
    input: { user: { name: 'n', best: { __typename: 'Nope', id: '1' } } },
  },
  // The same field selected several times.
  'the same field selected twice through two fragments is merged': {
    query: `{ user { ...A ...B id } } fragment A on User { id best { id } friends { name } } fragment B on User { name best { name age } friends { age } }`,
    input: {
      user: { id: '1', name: 'n', best: { id: '2', name: 'b', age: 3 }, friends: [{ name: 'f', age: 1 }, null] },
    },
  },
  'a merged field whose second selection bubbles': {
    query: `{ user { ...A ...B } } fragment A on User { best { name } } fragment B on User { best { id } }`,
    input: { user: { best: { name: 'b', id: null } } },
  },
  'the same field through an interface fragment and a concrete fragment': {
    query: `{ nodes { ... on Node { id } ... on Named { name } ... on User { id name age } ... on Book { id pages } } }`,
    input: {
      nodes: [
        { __typename: 'User', id: 'u', name: 'n', age: 1 },
        { __typename: 'Book', id: 'b', name: 'bn', pages: 2 },
      ],
    },
  },
  'a leaf selected twice keeps its first (invalid) verdict': {
    query: `{ user { ...A ...B } } fragment A on User { age } fragment B on User { age name }`,
    input: { user: { age: 'old', name: 'n' } },
  },
};

interface Outcome {
  data: string;
  errors: { message: string; path: readonly (string | number)[] | undefined; code: unknown }[];
}

const operationOf = (query: string): Operation => operationFromDocument(schema, parse(query), { validate: false });

const outcome = (result: {
  data: unknown;
  errors: readonly { message: string; path?: readonly (string | number)[]; extensions: Record<string, unknown> }[];
}): Outcome => ({
  data: JSON.stringify(result.data),
  errors: result.errors.map((error) => ({ message: error.message, path: error.path, code: error.extensions.code })),
});

/** Apollo's verdict; the input is deep-copied since both implementations only read it, and must. */
const apollo = (
  operation: Operation,
  input: Record<string, unknown>,
  variables: Record<string, unknown> | undefined,
): Outcome =>
  outcome(computeResponse({ operation, variables, input: structuredClone(input), introspectionHandling: () => null }));

const ours = (
  operation: Operation,
  input: Record<string, unknown>,
  variables: Record<string, unknown> | undefined,
): Outcome => outcome(shapeResponse(compileShape(operation), structuredClone(input), variables));

describe('compiled response shaping answers exactly as Apollo Gateway computeResponse', () => {
  it.each(Object.entries(CASES))('%s', (_name, { query, input, variables }) => {
    const operation = operationOf(query);
    const expected = apollo(operation, input, variables);
    expect(ours(operation, input, variables)).toEqual(expected);
  });

  it('covers what it claims to: errors, bubbling to data null, and non-trivial data among the cases', () => {
    const results = Object.values(CASES).map(({ query, input, variables }) =>
      apollo(operationOf(query), input, variables),
    );
    expect(results.filter((result) => result.data === 'null').length).toBeGreaterThanOrEqual(3);
    expect(results.filter((result) => result.errors.length > 0).length).toBeGreaterThanOrEqual(12);
    expect(
      new Set(results.flatMap((result) => result.errors.map((error) => error.message.split(' ').slice(0, 2).join(' '))))
        .size,
    ).toBeGreaterThanOrEqual(3);
  });

  it('spells out the expected answer for a bubbling case (so a shared mistake would not pass unseen)', () => {
    const operation = operationOf(`{ count user { name best { id } } users { name best { id } } }`);
    const input = {
      count: 1,
      user: { name: 'a', best: null },
      users: [
        { name: 'x', best: { id: '1' } },
        { name: 'y', best: { id: null } },
      ],
    };
    const result = ours(operation, input, undefined);
    expect(result.data).toBe('{"count":1,"user":null,"users":[{"name":"x","best":{"id":"1"}},null]}');
    expect(result.errors).toEqual([
      {
        message: 'Cannot return null for non-nullable field User.best.',
        path: ['user', 'best'],
        code: 'INVALID_GRAPHQL',
      },
      {
        message: 'Cannot return null for non-nullable field User.id.',
        path: ['users', 1, 'best', 'id'],
        code: 'INVALID_GRAPHQL',
      },
    ]);
  });

  it('one compiled shape serves many requests without carrying state from one to the next', () => {
    const operation = operationOf(
      `query ($v: Boolean = true) { count user { name @include(if: $v) best { id } scores } nodes { __typename ... on User { name } } }`,
    );
    const compiled = compileShape(operation);
    const inputs: [Record<string, unknown>, Record<string, unknown> | undefined][] = [
      [
        { count: 1, user: { name: 'a', best: null, scores: [] }, nodes: [{ __typename: 'User', name: 'u' }] },
        undefined,
      ],
      [
        { count: 'bad', user: { name: 'b', best: { id: 'x' }, scores: [1, 2] }, nodes: [{ __typename: 'Nope' }] },
        { v: false },
      ],
      [{ count: 2, user: { name: 'c', best: { id: 'y' }, scores: [3] }, nodes: null }, { v: true }],
      [{ count: 3, user: { name: 'd', best: { id: 'z' }, scores: [null] }, nodes: [{ __typename: 'Book' }] }, {}],
    ];
    for (const [input, variables] of inputs) {
      expect(outcome(shapeResponse(compiled, structuredClone(input), variables))).toEqual(
        apollo(operation, input, variables),
      );
    }
  });

  it('leaves the input untouched', () => {
    const operation = operationOf(`{ user { name best { id } } nodes { id } }`);
    const input = {
      user: { __typename: 'User', name: 'a', best: null, extra: 1 },
      nodes: [{ __typename: 'Nope', id: 'x' }],
    };
    const copy = structuredClone(input);
    shapeResponse(compileShape(operation), input, undefined);
    expect(input).toEqual(copy);
  });

  it('fails where Apollo fails: a missing @skip variable, a non-list for a list', () => {
    const missing = operationOf(`query ($s: Boolean) { count @skip(if: $s) }`);
    expect(() =>
      computeResponse({ operation: missing, variables: {}, input: { count: 1 }, introspectionHandling: () => null }),
    ).toThrow();
    expect(() => shapeResponse(compileShape(missing), { count: 1 }, {})).toThrow(/\$s/);
    const list = operationOf(`{ matrix }`);
    expect(() =>
      computeResponse({ operation: list, variables: {}, input: { matrix: 3 }, introspectionHandling: () => null }),
    ).toThrow(/non-list/);
    expect(() => shapeResponse(compileShape(list), { matrix: 3 }, {})).toThrow(/non-list/);
  });

  it('names what it leaves to Apollo: introspection and response names of Object.prototype', () => {
    expect(unsupportedReason(operationOf(`{ count user { name } }`))).toBeUndefined();
    expect(unsupportedReason(operationOf(`{ count __schema { queryType { name } } }`))).toBe('introspection');
    expect(unsupportedReason(operationOf(`{ user { name } __type(name: "User") { name } }`))).toBe('introspection');
    expect(unsupportedReason(operationOf(`{ user { constructor: name } }`))).toBe('reserved_response_name');
    expect(unsupportedReason(operationOf(`{ toString: count }`))).toBe('reserved_response_name');
  });
});
