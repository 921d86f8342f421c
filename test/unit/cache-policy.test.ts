import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { createCachePolicy } from '../../gateway/cache/policy';
import { shapeOf } from '../../gateway/fetch/document';

/**
 * The policy is read from a supergraph composed, as this repository's is, from subgraphs that declare
 * `@cacheControl` and compose it with `@composeDirective` (see schema/*.graphql).
 */
const CACHE_CONTROL = `extend schema
  @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@composeDirective", "@key", "@shareable", "@authenticated"])
  @link(url: "https://specs.shop.dev/cache-control/v1.0", import: ["@cacheControl"])
  @composeDirective(name: "@cacheControl")

directive @cacheControl(maxAge: Int, scope: CacheControlScope, inheritMaxAge: Boolean) on FIELD_DEFINITION | OBJECT | INTERFACE | UNION
enum CacheControlScope { PUBLIC PRIVATE }
`;

const SUBGRAPHS: Record<string, string> = {
  users: `${CACHE_CONTROL}
type User @key(fields: "id") @cacheControl(maxAge: 60) {
  id: ID!
  name: String!
  email: String @cacheControl(scope: PRIVATE)
  loginCount: Int @authenticated
}
type PageInfo @shareable @cacheControl(inheritMaxAge: true) { hasNextPage: Boolean! }
type UserConnection @cacheControl(inheritMaxAge: true) { nodes: [User!]! pageInfo: PageInfo! }
type Stats { count: Int! }
type Review @key(fields: "id", resolvable: false) { id: ID! }
type Query {
  me: User
  user(id: ID!): User
  users(first: Int): UserConnection! @cacheControl(maxAge: 20)
  allUsers: UserConnection!
  stats: Stats
}
type Mutation { rename(id: ID!, name: String!): User me: User }`,
  orders: `${CACHE_CONTROL}
type Order @key(fields: "id") @cacheControl(maxAge: 60, scope: PRIVATE) {
  id: ID!
  total: Int!
  status: String! @cacheControl(maxAge: 10)
}
type User @key(fields: "id") { id: ID! orders: [Order!]! }
type Product @key(fields: "sku") @key(fields: "id") @cacheControl(maxAge: 300) {
  sku: ID!
  id: ID!
  name: String!
  stock: Int! @cacheControl(maxAge: 5)
  dimensions: Dimensions @cacheControl(inheritMaxAge: true)
  vendor: Vendor
}
type Dimensions { width: Int! }
type Vendor { name: String! }
type Shipment @key(fields: "order { id } number") @key(fields: "trackingCode") { order: Order! number: Int! trackingCode: String! }
type Query { order(id: ID!): Order product(sku: ID!): Product }`,
  reviews: `${CACHE_CONTROL}
type Review @key(fields: "id") { id: ID! body: String! }`,
};

const composed = composeServices(
  Object.entries(SUBGRAPHS).map(([name, sdl]) => ({ name, typeDefs: parse(sdl), url: `http://${name}.test/graphql` })),
);
if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
const SUPERGRAPH = composed.supergraphSdl;

const policy = createCachePolicy(SUPERGRAPH);
const entities = (selection: string, fragments = '') =>
  `query Q__subgraph__1($representations:[_Any!]!){_entities(representations:$representations){${selection}}}${fragments}`;
const forFetch = (query: string, overrides?: Record<string, number>) =>
  (overrides ? createCachePolicy(SUPERGRAPH, overrides) : policy).forFetch(shapeOf(query));

describe('createCachePolicy', () => {
  describe('forFetch', () => {
    it('caches an entity fetch for its type’s maxAge, its leaf fields taking their parent’s', () => {
      expect(forFetch(entities('...on User{name}'))).toEqual({ maxAge: 60, private: false });
    });

    it('caches a fetch for the smallest maxAge of everything it selects', () => {
      expect(forFetch(entities('...on Product{name}'))).toEqual({ maxAge: 300, private: false });
      expect(forFetch(entities('...on Product{name stock}'))).toEqual({ maxAge: 5, private: false });
      expect(forFetch(entities('...on Product{name} ...on User{name}'))).toEqual({ maxAge: 60, private: false });
    });

    it('makes a fetch PRIVATE when anything it selects is: a field or a type', () => {
      expect(forFetch(entities('...on User{name email}'))).toEqual({ maxAge: 60, private: true });
      expect(forFetch(entities('...on Order{total}'))).toEqual({ maxAge: 60, private: true });
      expect(forFetch('query($id:ID!){order(id:$id){total}}')).toEqual({ maxAge: 60, private: true });
    });

    it('does not cache a fetch that selects anything without a maxAge', () => {
      expect(forFetch(entities('...on Review{body}'))).toBeUndefined();
      expect(forFetch(entities('...on User{name} ...on Review{body}'))).toBeUndefined();
      expect(forFetch('{stats{count}}')).toBeUndefined();
      // A field returning an object type takes that type's policy, not its parent's.
      expect(forFetch(entities('...on Product{name vendor{name}}'))).toBeUndefined();
    });

    it('gives a root field its own maxAge, or its type’s', () => {
      expect(forFetch('query($id:ID!){user(id:$id){name}}')).toEqual({ maxAge: 60, private: false });
      expect(forFetch('{users(first:5){nodes{name}}}')).toEqual({ maxAge: 20, private: false });
    });

    it('gives a type marked inheritMaxAge its parent field’s maxAge, and nothing at the root without one', () => {
      expect(forFetch('{users(first:5){pageInfo{hasNextPage}}}')).toEqual({ maxAge: 20, private: false });
      expect(forFetch('{allUsers{pageInfo{hasNextPage}}}')).toBeUndefined();
    });

    it('gives a field marked inheritMaxAge its parent’s maxAge', () => {
      expect(forFetch(entities('...on Product{name dimensions{width}}'))).toEqual({ maxAge: 300, private: false });
    });

    it('ignores __typename, which the gateway adds everywhere', () => {
      expect(forFetch(entities('...on User{__typename name}'))).toEqual({ maxAge: 60, private: false });
    });

    it('does not cache a mutation, whatever it selects', () => {
      expect(forFetch('mutation($id:ID!){rename(id:$id,name:"x"){name}}')).toBeUndefined();
      // Even one whose root field has the name (and type) of a cacheable query field.
      expect(forFetch('{me{name}}')).toEqual({ maxAge: 60, private: false });
      expect(forFetch('mutation{me{name}}')).toBeUndefined();
    });

    it('does not cache a fetch selecting a field the supergraph does not have', () => {
      expect(forFetch(entities('...on User{name nickname}'))).toBeUndefined();
    });

    it('takes a named fragment under a field like the same selection written inline', () => {
      expect(forFetch('query($id:ID!){order(id:$id){...OrderTotal}} fragment OrderTotal on Order{total}')).toEqual(
        forFetch('query($id:ID!){order(id:$id){total}}'),
      );
    });

    // A fragment spread takes its type condition's policy, as an inline fragment does. Directly under
    // `_entities` (what Apollo's planner emits with `generateQueryFragments`: `_entities{..._generated_onOrder4_0}`)
    // a PRIVATE type's scope was once lost this way, so one caller's order would have been served to every caller.
    it('takes a named fragment directly under _entities like the same selection written inline', () => {
      const inline = forFetch(entities('...on Order{status}'));
      expect(inline).toEqual({ maxAge: 10, private: true });
      expect(forFetch(entities('..._generated_onOrder4_0', 'fragment _generated_onOrder4_0 on Order{status}'))).toEqual(
        inline,
      );
    });
  });

  describe('with TTL overrides from config', () => {
    it('replaces a type’s maxAge (Type=seconds), or gives one to a type without, PRIVATE as it declares no scope', () => {
      expect(forFetch(entities('...on User{name}'), { User: 5 })).toEqual({ maxAge: 5, private: false });
      expect(forFetch(entities('...on Review{body}'), { Review: 120 })).toEqual({ maxAge: 120, private: true });
    });

    it('replaces a field’s maxAge (Type.field=seconds), root fields included', () => {
      expect(forFetch(entities('...on Product{name stock}'), { 'Product.stock': 30 })).toEqual({
        maxAge: 30,
        private: false,
      });
      expect(forFetch('{stats{count}}', { 'Query.stats': 10 })).toEqual({ maxAge: 10, private: false });
    });

    it('stops caching a type with Type=0, and keeps its scope whatever its maxAge', () => {
      expect(forFetch(entities('...on User{name}'), { User: 0 })).toBeUndefined();
      expect(forFetch(entities('...on Order{total}'), { Order: 15 })).toEqual({ maxAge: 15, private: true });
    });
  });

  describe('with the default policy for types without @cacheControl', () => {
    const withDefault = (query: string, publicTypes: string[] = [], overrides: Record<string, number> = {}) =>
      createCachePolicy(SUPERGRAPH, overrides, { maxAge: 30, publicTypes }).forFetch(shapeOf(query));

    it('caches a type without @cacheControl for the default maxAge, PRIVATE unless listed public', () => {
      expect(withDefault(entities('...on Review{body}'))).toEqual({ maxAge: 30, private: true });
      expect(withDefault(entities('...on Review{body}'), ['Review'])).toEqual({ maxAge: 30, private: false });
      expect(withDefault('{stats{count}}')).toEqual({ maxAge: 30, private: true });
    });

    it('leaves types that declare @cacheControl as they are, and their public scope unaffected by the list', () => {
      expect(withDefault(entities('...on User{name}'))).toEqual({ maxAge: 60, private: false });
      expect(withDefault(entities('...on Order{total}'), ['Order'])).toEqual({ maxAge: 60, private: true });
      expect(withDefault(entities('...on Product{name}'))).toEqual({ maxAge: 300, private: false });
    });

    it('makes a declared type’s fetch PRIVATE when it selects an undeclared type not listed public', () => {
      expect(withDefault(entities('...on Product{name vendor{name}}'))).toEqual({ maxAge: 30, private: true });
      expect(withDefault(entities('...on Product{name vendor{name}}'), ['Vendor'])).toEqual({
        maxAge: 30,
        private: false,
      });
    });

    it('lets a field’s own @cacheControl decide over the default for the type it returns', () => {
      expect(withDefault(entities('...on Product{name dimensions{width}}'))).toEqual({ maxAge: 300, private: false });
    });

    it('takes a Type=seconds override over the default, with the same scope rule', () => {
      expect(withDefault(entities('...on Review{body}'), [], { Review: 5 })).toEqual({ maxAge: 5, private: true });
      expect(withDefault(entities('...on Review{body}'), [], { Review: 0 })).toBeUndefined();
    });

    it('makes a field that requires a signed-in caller (@authenticated) PRIVATE, whatever the type’s scope', () => {
      expect(withDefault(entities('...on User{name loginCount}'))).toEqual({ maxAge: 60, private: true });
      expect(forFetch(entities('...on User{name loginCount}'))).toEqual({ maxAge: 60, private: true });
    });

    it('still never caches a mutation', () => {
      expect(withDefault('mutation($id:ID!){rename(id:$id,name:"x"){name}}')).toBeUndefined();
    });
  });

  describe('entity keys and root fields', () => {
    it('gives the first flat key of an entity in a subgraph, and none where it is no resolvable entity', () => {
      expect(policy.keyFields('orders', 'Product')).toEqual(['sku']);
      expect(policy.keyFields('users', 'User')).toEqual(['id']);
      expect(policy.keyFields('orders', 'Shipment')).toEqual(['trackingCode']);
      expect(policy.keyFields('users', 'Review')).toBeUndefined();
      expect(policy.keyFields('users', 'Order')).toBeUndefined();
      expect(policy.keyFields('orders', 'Dimensions')).toBeUndefined();
    });

    it('lists every subgraph where a type is an entity, with its key there', () => {
      expect(policy.entityKeys('User').sort()).toEqual([
        ['orders', ['id']],
        ['users', ['id']],
      ]);
      expect(policy.entityKeys('Review')).toEqual([['reviews', ['id']]]);
      expect(policy.entityKeys('Vendor')).toEqual([]);
    });

    it('knows the type each root field returns', () => {
      expect(policy.rootFieldType('user')).toBe('User');
      expect(policy.rootFieldType('users')).toBe('UserConnection');
      expect(policy.rootFieldType('product')).toBe('Product');
      expect(policy.rootFieldType('nothing')).toBeUndefined();
    });
  });
});
