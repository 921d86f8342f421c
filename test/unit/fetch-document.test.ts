import { Kind, parse, type DocumentNode, type FieldNode, type OperationDefinitionNode } from 'graphql';
import { mergeDocuments, shapeOf } from '../../gateway/fetch/document';
import { FEDERATION_LINK, createSpySubgraph } from '../helpers/network-spies';

const USERS = [
  { id: 'u1', name: 'Ada' },
  { id: 'u2', name: 'Grace' },
  { id: 'u3', name: 'Alan' },
];
const users = createSpySubgraph(
  'users',
  `${FEDERATION_LINK}["@key"])
type User @key(fields: "id") { id: ID! name: String! friends(first: Int!): [User!]! }
type Query { user(id: ID!): User users(first: Int!): [User!]! }
type Mutation { rename(id: ID!, name: String!): User }`,
  {
    Query: {
      user: (_: unknown, { id }: { id: string }) => USERS.find((user) => user.id === id) ?? null,
      users: (_: unknown, { first }: { first: number }) => USERS.slice(0, first),
    },
    Mutation: {
      rename: (_: unknown, { id, name }: { id: string; name: string }) => ({ id, name }),
    },
    User: {
      friends: (user: { id: string }, { first }: { first: number }) =>
        USERS.filter((other) => other.id !== user.id).slice(0, first),
    },
  },
);

const ENTITIES =
  'query Q__users__1($representations:[_Any!]!){_entities(representations:$representations){...on User{name}}}';

const operationOf = (document: DocumentNode) =>
  document.definitions.find(
    (definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION,
  )!;

/** The variables of each fetch, renamed with its prefix, as planBatch sends them. */
const prefixed = (prefixes: string[], variables: Record<string, unknown>[]) =>
  Object.fromEntries(
    variables.flatMap((values, index) =>
      Object.entries(values).map(([name, value]) => [prefixes[index]! + name, value] as const),
    ),
  );

describe('shapeOf', () => {
  it('recognises an _entities fetch as the planner writes it', () => {
    expect(shapeOf(ENTITIES)).toMatchObject({ entities: true, rootKeys: ['_entities'], operation: 'query' });
  });

  it.each([
    [
      '_entities aliased',
      'query($representations:[_Any!]!){e:_entities(representations:$representations){...on User{name}}}',
    ],
    [
      '_entities next to another root field',
      'query($representations:[_Any!]!){_entities(representations:$representations){...on User{name}} users(first:1){id}}',
    ],
    [
      '_entities with its list in another variable',
      'query($reps:[_Any!]!){_entities(representations:$reps){...on User{name}}}',
    ],
    [
      '_entities with an inline list',
      'query{_entities(representations:[{__typename:"User",id:"u1"}]){...on User{name}}}',
    ],
    [
      '_entities under a directive',
      'query($representations:[_Any!]!$on:Boolean!){_entities(representations:$representations)@include(if:$on){...on User{name}}}',
    ],
    ['a plain root field', 'query($id:ID!){user(id:$id){name}}'],
  ])('does not take %s for an entities fetch', (_case, query) => {
    // Anything else cannot have its representations deduplicated, cached or checked.
    expect(shapeOf(query).entities).toBe(false);
  });

  it('gives fetches that differ only in their operation name the same selection key and id, and other selections others', () => {
    const first = shapeOf('query Deep__users__1($id:ID!){user(id:$id){name}}');
    const second = shapeOf('query Deep__users__7($id:ID!){user(id:$id){name}}');
    const other = shapeOf('query Deep__users__8($id:ID!){user(id:$id){id name}}');
    expect(second.selectionKey).toBe(first.selectionKey);
    expect(second.selectionId).toBe(first.selectionId);
    expect(other.selectionKey).not.toBe(first.selectionKey);
    expect(other.selectionId).not.toBe(first.selectionId);
  });

  it('works each query text out once', () => {
    const query = 'query Once__users__1{users(first:2){id}}';
    expect(shapeOf(query)).toBe(shapeOf(query));
  });

  it('lists the response keys at the root: the alias when there is one, else the field name, in order', () => {
    expect(shapeOf('{ b: user(id: "u2") { name } users(first: 1) { id } a: user(id: "u1") { id } }').rootKeys).toEqual([
      'b',
      'users',
      'a',
    ]);
  });

  it('takes a document as mergeable when it has one operation, no operation directives and only fields at the root', () => {
    expect(shapeOf('query($id:ID!){user(id:$id){name} users(first:1){id}}').mergeable).toBe(true);
    expect(shapeOf(ENTITIES).mergeable).toBe(true);
  });

  it.each([
    ['two operations', 'query A{users(first:1){id}} query B{users(first:2){id}}'],
    ['an inline fragment at the root', 'query{...on Query{users(first:1){id}}}'],
    ['a fragment spread at the root', 'query{...Root} fragment Root on Query{users(first:1){id}}'],
    ['an operation directive', 'query @cached{users(first:1){id}}'],
  ])('does not take a document with %s as mergeable', (_case, query) => {
    // None of these can be aliased into one operation with other fetches.
    expect(shapeOf(query).mergeable).toBe(false);
  });

  it('knows the operation type', () => {
    expect(shapeOf('mutation M($id:ID!){rename(id:$id,name:"x"){id}}').operation).toBe('mutation');
    expect(shapeOf('subscription S{users(first:1){id}}').operation).toBe('subscription');
    expect(shapeOf('{users(first:1){id}}').operation).toBe('query');
  });

  it('refuses a document without an operation', () => {
    expect(() => shapeOf('fragment F on User { id }')).toThrow('Subgraph fetch has no operation');
  });
});

describe('mergeDocuments', () => {
  it('prefixes each fetch’s root fields, variables and fragments with _b<i>_, so equal names in two fetches do not collide', async () => {
    const shapes = [
      shapeOf('query A__users__1($id:ID!){user(id:$id){...Named}} fragment Named on User{name}'),
      shapeOf(
        'query A__users__2($id:ID!$first:Int!){user(id:$id){...Named friends(first:$first){id}}} fragment Named on User{id}',
      ),
    ];
    const variables = [{ id: 'u1' }, { id: 'u2', first: 1 }];
    const merged = mergeDocuments(shapes);
    expect(merged.prefixes).toEqual(['_b0_', '_b1_']);

    const document = parse(merged.query);
    const operation = operationOf(document);
    expect(operation.name?.value).toBe('BatchedFetches');
    expect(operation.selectionSet.selections.map((selection) => (selection as FieldNode).alias?.value)).toEqual([
      '_b0_user',
      '_b1_user',
    ]);
    expect(operation.variableDefinitions?.map((definition) => definition.variable.name.value)).toEqual([
      '_b0_id',
      '_b1_id',
      '_b1_first',
    ]);
    expect(
      document.definitions.flatMap((definition) =>
        definition.kind === Kind.FRAGMENT_DEFINITION ? [definition.name.value] : [],
      ),
    ).toEqual(['_b0_Named', '_b1_Named']);

    // The subgraph accepts the merged document (it validates it) and answers each fetch as it would alone.
    const answer = await users.answer({
      query: merged.query,
      variables: prefixed(merged.prefixes, variables),
      operationName: 'BatchedFetches',
    });
    const alone = await Promise.all(
      shapes.map((shape, index) => users.answer({ query: shape.query, variables: variables[index]! })),
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data).toEqual({ _b0_user: alone[0]!.data!.user, _b1_user: alone[1]!.data!.user });
  });

  it('keeps a fetch’s own aliases, under its prefix', async () => {
    const shapes = [shapeOf('{first:user(id:"u1"){name} second:user(id:"u2"){name}}'), shapeOf('{users(first:1){id}}')];
    const merged = mergeDocuments(shapes);
    const answer = await users.answer({ query: merged.query, variables: {} });
    expect(answer).toEqual({
      data: { _b0_first: { name: 'Ada' }, _b0_second: { name: 'Grace' }, _b1_users: [{ id: 'u1' }] },
    });
  });

  it('merges mutations into a mutation', async () => {
    const shape = shapeOf('mutation R($id:ID!$name:String!){rename(id:$id,name:$name){id name}}');
    const merged = mergeDocuments([shape, shape]);
    expect(operationOf(parse(merged.query)).operation).toBe('mutation');
    const answer = await users.answer({
      query: merged.query,
      variables: prefixed(merged.prefixes, [
        { id: 'u1', name: 'A' },
        { id: 'u2', name: 'B' },
      ]),
    });
    expect(answer).toEqual({ data: { _b0_rename: { id: 'u1', name: 'A' }, _b1_rename: { id: 'u2', name: 'B' } } });
  });

  it('builds the merged document once per sequence of selections, whatever the fetches are named', () => {
    const user = shapeOf('query M__users__1($id:ID!){user(id:$id){name}}');
    const sameUser = shapeOf('query M__users__9($id:ID!){user(id:$id){name}}');
    const list = shapeOf('query M__users__2{users(first:3){id}}');
    const merged = mergeDocuments([user, list]);
    expect(mergeDocuments([sameUser, list])).toBe(merged);
    const reversed = mergeDocuments([list, user]);
    expect(reversed).not.toBe(merged);
    expect(
      operationOf(parse(reversed.query)).selectionSet.selections.map((s) => (s as FieldNode).alias?.value),
    ).toEqual(['_b0_users', '_b1_user']);
  });
});
