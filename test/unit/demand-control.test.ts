import fs from 'node:fs';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { createCostModel, DEFAULT_DEMAND_CONTROL, type CostModel } from '../../lib/cost-model';
import { loadOperations } from '../../tools/schema/operations';

const projectRoot = path.resolve(__dirname, '..', '..');

function compose(...subgraphs: { name: string; sdl: string }[]): string {
  const result = composeServices(
    subgraphs.map(({ name, sdl }) => ({ name, typeDefs: parse(sdl), url: `http://${name}.internal/graphql` })),
  );
  if (result.errors) throw new Error(result.errors.map((error) => error.message).join('\n'));
  return result.supergraphSdl;
}

const FEDERATION = (imports: string) =>
  `extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: [${imports}])`;

const BOOKS = `${FEDERATION('"@key", "@cost", "@listSize", "@shareable"')}

scalar Money @cost(weight: 3)
enum Tier @cost(weight: 2) { FREE PRO }

interface Node { id: ID! }

type Book implements Node @key(fields: "id") {
  id: ID!
  title: String!
  summary: String @cost(weight: 7)
  price: Money
  tier: Tier
  vault: Vault
  cheapVault: Vault @cost(weight: 1)
  reviews: [Review!]!
  dimensions: Dimensions @shareable
}

type Dimensions @shareable { width: Int! }
type Vault @cost(weight: 4) { id: ID! }
type Review { id: ID! stars: Int! }

type Author {
  id: ID!
  books(first: Int, last: Int): [Book!]! @listSize(slicingArguments: ["first", "last"], requireOneSlicingArgument: false)
}

type BookConnection { edges: [BookEdge!]! nodes: [Book!]! pageInfo: PageInfo! }
type BookEdge { cursor: String! node: Book! }
type PageInfo { hasNextPage: Boolean! }

input BookFilter { title: String tags: [String!] @cost(weight: 2) }

type Query {
  book(id: ID!): Book
  node(id: ID!): Node
  author(id: ID!): Author
  authors: [Author!]!
  featured: [Book!]! @listSize(assumedSize: 3)
  catalogue(first: Int = 20, after: String): BookConnection!
    @listSize(slicingArguments: ["first"], sizedFields: ["edges", "nodes"])
  search(text: String! @cost(weight: 50), filter: BookFilter): [Book!]! @listSize(assumedSize: 5)
}

type Mutation {
  createBook(title: String!): Book!
}
`;

/** A second subgraph, for `@requires`: the quote needs the book's dimensions, an object (cost 1). */
const SHIPPING = `${FEDERATION('"@key", "@external", "@requires", "@shareable"')}
type Book @key(fields: "id") {
  id: ID!
  dimensions: Dimensions @external
  shippingQuote: Int @requires(fields: "dimensions { width }")
}
type Dimensions @shareable { width: Int! }
`;

describe('createCostModel on a composed supergraph (federation 2.9 @cost and @listSize)', () => {
  let model: CostModel;
  const costOf = (query: string, variables?: Record<string, unknown>, operationName?: string) =>
    model.costOf(parse(query), operationName, variables);

  beforeAll(() => {
    model = createCostModel(
      compose({ name: 'books', sdl: BOOKS }, { name: 'shipping', sdl: SHIPPING }),
      DEFAULT_DEMAND_CONTROL,
    );
  });

  describe('field weights', () => {
    it('costs 1 for a field returning an object and 0 for scalars and enums', () => {
      expect(costOf('{ book(id: 1) { id title } }')).toBe(1);
    });

    it('uses @cost on a field instead of the default', () => {
      expect(costOf('{ book(id: 1) { summary } }')).toBe(1 + 7);
    });

    it('uses @cost on the returned object, scalar or enum type', () => {
      expect(costOf('{ book(id: 1) { vault { id } price tier } }')).toBe(1 + 4 + 3 + 2);
    });

    it("prefers the field's @cost over its type's", () => {
      expect(costOf('{ book(id: 1) { cheapVault { id } } }')).toBe(1 + 1);
    });

    it('adds what a @requires selection costs, fetched even when the client did not ask for it', () => {
      expect(costOf('{ book(id: 1) { shippingQuote } }')).toBe(1 + 0 + 1);
    });

    it('costs nothing for __typename and introspection', () => {
      expect(costOf('{ __typename __schema { types { name fields { name } } } __type(name: "Book") { name } }')).toBe(
        0,
      );
    });

    it('skips fields and types the schema does not know, for validation to report', () => {
      expect(costOf('{ nope { id } book(id: 1) { nope { id } } ... on Nope { book(id: 2) { id } } }')).toBe(1);
    });
  });

  describe('arguments', () => {
    it('adds the @cost of an argument given in the operation', () => {
      expect(costOf('{ search(text: "dune") { id } }')).toBe(5 * 1 + 50);
    });

    it('costs an input object 1 plus its fields, and a list its weight plus its items (Apollo Router)', () => {
      expect(costOf('{ search(text: "dune", filter: { title: "d" }) { id } }')).toBe(55 + 1);
      expect(
        costOf('query($filter: BookFilter) { search(text: "dune", filter: $filter) { id } }', {
          filter: { title: 'd', tags: ['a', 'b'] },
        }),
      ).toBe(55 + 1 + (2 + 2 + 2));
    });

    it('counts an argument whose variable was not sent as nothing', () => {
      expect(costOf('query($filter: BookFilter) { search(text: "dune", filter: $filter) { id } }')).toBe(55);
    });
  });

  describe('list sizes', () => {
    it('assumes defaultListSize items for a list without @listSize', () => {
      expect(costOf('{ authors { id } }')).toBe(10);
      const small = createCostModel(compose({ name: 'books', sdl: BOOKS }), { defaultListSize: 7 });
      expect(small.costOf(parse('{ authors { id } }'), undefined, undefined)).toBe(7);
    });

    it('uses @listSize(assumedSize:)', () => {
      expect(costOf('{ featured { id } }')).toBe(3);
    });

    it('reads a slicing argument from a literal', () => {
      expect(costOf('{ author(id: 1) { books(first: 4) { id } } }')).toBe(1 + 4);
    });

    it("reads a slicing argument from a variable, else the variable's default", () => {
      const query = 'query($n: Int = 2) { author(id: 1) { books(first: $n) { id } } }';
      expect(costOf(query, { n: 6 })).toBe(1 + 6);
      expect(costOf(query)).toBe(1 + 2);
      expect(costOf(query, {})).toBe(1 + 2);
    });

    it("takes the schema's default for a slicing argument that is not given", () => {
      expect(costOf('{ catalogue { nodes { id } } }')).toBe(1 + 20);
    });

    it('takes the largest of several slicing arguments', () => {
      expect(costOf('{ author(id: 1) { books(first: 2, last: 9) { id } } }')).toBe(1 + 9);
    });

    it('falls back to defaultListSize when no slicing argument has a value', () => {
      expect(costOf('{ author(id: 1) { books { id } } }')).toBe(1 + 10);
      expect(costOf('query($n: Int) { author(id: 1) { books(first: $n) { id } } }', { n: 'many' })).toBe(1 + 10);
    });

    it('sizes the sizedFields of a connection (edges, nodes), not the connection itself', () => {
      const query = '{ catalogue(first: 5) { edges { cursor node { id } } nodes { id } pageInfo { hasNextPage } } }';
      expect(costOf(query)).toBe(1 + 5 * (1 + 1) + 5 * 1 + 1);
    });

    it('multiplies nested lists', () => {
      expect(costOf('{ catalogue(first: 5) { edges { node { reviews { stars } } } } }')).toBe(1 + 5 * (1 + 1 + 10));
      expect(costOf('{ authors { books(first: 3) { reviews { id } } } }')).toBe(10 * (1 + 3 * (1 + 10)));
    });
  });

  describe('fragments', () => {
    it('expands named fragments where they are spread', () => {
      expect(costOf('{ book(id: 1) { ...Expensive } } fragment Expensive on Book { summary vault { id } }')).toBe(
        1 + 7 + 4,
      );
    });

    it('costs inline fragments against their type condition', () => {
      expect(costOf('{ node(id: 1) { id ... on Book { summary } } }')).toBe(1 + 7);
      expect(costOf('{ book(id: 1) { ... { summary } } }')).toBe(1 + 7);
    });

    it('applies a connection size to fields reached through fragments', () => {
      const query = '{ catalogue(first: 2) { ...Page } } fragment Page on BookConnection { nodes { id } }';
      expect(costOf(query)).toBe(1 + 2);
    });

    it('stops at a fragment that spreads itself, which validation rejects later', () => {
      const query = `{ book(id: 1) { ...A } }
        fragment A on Book { summary ...B }
        fragment B on Book { vault { id } ...A }`;
      expect(costOf(query)).toBe(1 + 7 + 4);
    });

    it('costs fragments that spread each other many times without walking every path', () => {
      const levels = 40;
      const fragments = Array.from(
        { length: levels },
        (_, level) => `fragment F${level + 1} on Book { ...F${level} ...F${level} }`,
      );
      const query = `{ book(id: 1) { ...F${levels} } } fragment F0 on Book { summary } ${fragments.join(' ')}`;
      expect(costOf(query)).toBe(1 + 7 * 2 ** levels);
    });
  });

  describe('@skip and @include', () => {
    it('leaves out fields excluded by literal conditions', () => {
      expect(costOf('{ book(id: 1) { summary @skip(if: true) vault @include(if: false) { id } } }')).toBe(1);
      expect(costOf('{ book(id: 1) { summary @skip(if: false) vault @include(if: true) { id } } }')).toBe(1 + 7 + 4);
    });

    it('reads conditions from variables and their defaults', () => {
      const query = 'query($on: Boolean = false) { book(id: 1) { summary @include(if: $on) } }';
      expect(costOf(query, { on: true })).toBe(1 + 7);
      expect(costOf(query, { on: false })).toBe(1);
      expect(costOf(query)).toBe(1);
    });

    it('leaves out excluded fragment spreads and inline fragments', () => {
      const query = `query($skip: Boolean!) { book(id: 1) { ...S @skip(if: $skip) ... on Book @skip(if: $skip) { vault { id } } } }
        fragment S on Book { summary }`;
      expect(costOf(query, { skip: true })).toBe(1);
      expect(costOf(query, { skip: false })).toBe(1 + 7 + 4);
    });
  });

  describe('mutations', () => {
    it('adds 10 for every root mutation field', () => {
      expect(costOf('mutation { createBook(title: "a") { id } }')).toBe(10 + 1);
      expect(costOf('mutation { a: createBook(title: "a") { id } b: createBook(title: "b") { id } }')).toBe(2 * 11);
    });

    it('counts root fields reached through a fragment on Mutation', () => {
      expect(costOf('mutation { ...Create } fragment Create on Mutation { createBook(title: "a") { id } }')).toBe(11);
    });

    it('adds the 10 only for root fields, not for the fields below them', () => {
      expect(costOf('mutation { createBook(title: "a") { summary } }')).toBe(10 + 1 + 7);
    });
  });

  describe('operation selection', () => {
    const document = 'query Cheap { book(id: 1) { id } } query Dear { book(id: 1) { summary } }';

    it('costs the named operation', () => {
      expect(costOf(document, undefined, 'Cheap')).toBe(1);
      expect(costOf(document, undefined, 'Dear')).toBe(8);
    });

    it('returns 0 for an unknown operation name, or for several operations and no name', () => {
      expect(costOf(document, undefined, 'Missing')).toBe(0);
      expect(costOf(document)).toBe(0);
    });

    it('returns 0 for an operation type the schema has no root for', () => {
      expect(costOf('subscription { book(id: 1) { id } }')).toBe(0);
    });
  });

  it('costs a 10,000-alias query in one walk', () => {
    const aliases = Array.from({ length: 10_000 }, (_, index) => `a${index}: book(id: ${index}) { summary }`);
    expect(costOf(`{ ${aliases.join(' ')} }`)).toBe(10_000 * (1 + 7));
  });
});

describe('the names @cost and @listSize go by in a supergraph', () => {
  const QUERY = '{ books(first: 3) { summary } }';
  const TYPES = (cost: string, listSize: string) => `
    type Book @key(fields: "id") { id: ID! summary: String ${cost}(weight: 7) }
    type Query { books(first: Int): [Book!]! ${listSize}(slicingArguments: ["first"]) }`;

  it('follows renamed imports (@link import: [{ name: "@cost", as: "@weight" }])', () => {
    const sdl = compose({
      name: 'books',
      sdl:
        FEDERATION('"@key", { name: "@cost", as: "@weight" }, { name: "@listSize", as: "@size" }') +
        TYPES('@weight', '@size'),
    });
    expect(sdl).toContain('@weight(weight: 7)');
    expect(createCostModel(sdl, DEFAULT_DEMAND_CONTROL).costOf(parse(QUERY), undefined, undefined)).toBe(3 * (1 + 7));
  });

  it('follows the unimported federation names (@federation__cost)', () => {
    const sdl = compose({
      name: 'books',
      sdl: FEDERATION('"@key"') + TYPES('@federation__cost', '@federation__listSize'),
    });
    expect(sdl).toContain('@federation__cost(weight: 7)');
    expect(createCostModel(sdl, DEFAULT_DEMAND_CONTROL).costOf(parse(QUERY), undefined, undefined)).toBe(3 * (1 + 7));
  });

  it('reads a plain schema that defines @cost and @listSize without @link', () => {
    const sdl = `
      directive @cost(weight: Int!) on FIELD_DEFINITION | OBJECT | SCALAR | ENUM | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION
      directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!]) on FIELD_DEFINITION
      type Book { id: ID! summary: String @cost(weight: 7) }
      type Query { books(first: Int): [Book!]! @listSize(slicingArguments: ["first"]) }`;
    expect(createCostModel(sdl, DEFAULT_DEMAND_CONTROL).costOf(parse(QUERY), undefined, undefined)).toBe(3 * (1 + 7));
  });

  it('follows a cost spec linked under another namespace (@link(as: "price")): @price and @price__listSize', () => {
    const sdl = `
      schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/cost/v0.1", as: "price") {
        query: Query
      }
      directive @link(url: String, as: String, import: [String]) repeatable on SCHEMA
      directive @price(weight: Int!) on FIELD_DEFINITION
      directive @price__listSize(slicingArguments: [String!]) on FIELD_DEFINITION
      directive @cost(weight: Int!) on FIELD_DEFINITION
      type Book { id: ID! summary: String @price(weight: 7) title: String @cost(weight: 100) }
      type Query { books(first: Int): [Book!]! @price__listSize(slicingArguments: ["first"]) }`;
    const model = createCostModel(sdl, DEFAULT_DEMAND_CONTROL);
    expect(model.costOf(parse('{ books(first: 3) { summary title } }'), undefined, undefined)).toBe(3 * (1 + 7));
  });
});

describe("the shop's own supergraph (schema/supergraph.graphql)", () => {
  let model: CostModel;
  beforeAll(() => {
    const sdl = fs.readFileSync(path.join(projectRoot, 'schema', 'supergraph.graphql'), 'utf8');
    model = createCostModel(sdl, DEFAULT_DEMAND_CONTROL);
  });

  it('lets every client operation in schema/operations through the default maximum', () => {
    const operations = loadOperations(path.join(projectRoot, 'schema', 'operations'), true, 'operations');
    if (!operations.ok) throw new Error(operations.error);
    expect(operations.value.operations.length).toBeGreaterThanOrEqual(12);
    const overMaximum = operations.value.operations
      .map((operation) => ({ name: operation.name, cost: model.costOf(operation.document, operation.name, undefined) }))
      .filter(({ cost }) => cost > DEFAULT_DEMAND_CONTROL.maxCost);
    expect(overMaximum).toEqual([]);
  });

  it('sizes the product connection from the page size the client asks for', () => {
    const query = parse('query($first: Int) { products(first: $first) { edges { node { sku } } } }');
    expect(model.costOf(query, undefined, { first: 10 })).toBeLessThan(model.costOf(query, undefined, { first: 100 }));
    expect(model.costOf(query, undefined, { first: 100_000 })).toBeGreaterThan(DEFAULT_DEMAND_CONTROL.maxCost);
  });

  it('counts each of 500 aliased createUser mutations as a write (the document limits refuse them first)', () => {
    const aliases = Array.from(
      { length: 500 },
      (_, index) => `u${index}: createUser(input: { name: "n${index}", email: "u${index}@example.com" }) { id }`,
    );
    // 10 per mutation field, 1 per returned User, 1 per input object: 12 each.
    expect(model.costOf(parse(`mutation { ${aliases.join(' ')} }`), undefined, undefined)).toBe(500 * 12);
    expect(model.costOf(parse(`mutation { ${aliases.join(' ')} }`), undefined, undefined)).toBeGreaterThan(
      100 * model.costOf(parse(`mutation { ${aliases.slice(0, 5).join(' ')} }`), undefined, undefined) - 1,
    );
  });
});
