import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { createEntityKeyIndex, type EntityKeyIndex } from '../../gateway/fetch/entity-keys';

/**
 * The gateway adds key fields to what it asks a subgraph for, to check which entity each answer is; asking a
 * subgraph for a field it cannot resolve would make it error or answer null and lose the entity. Each case is
 * a supergraph composed by Apollo's composition from small subgraphs, as the gateway would load it.
 */
const FEDERATION = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ';

function indexOf(subgraphs: Record<string, string>): EntityKeyIndex {
  const composed = composeServices(
    Object.entries(subgraphs).map(([name, sdl]) => ({
      name,
      typeDefs: parse(sdl),
      url: `http://${name}.test/graphql`,
    })),
  );
  if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
  return createEntityKeyIndex(composed.supergraphSdl);
}

describe('createEntityKeyIndex', () => {
  it('lists every key of a type in the order the subgraph declares them', () => {
    const index = indexOf({
      catalog: `${FEDERATION}["@key"])
type Product @key(fields: "sku") @key(fields: "id") @key(fields: "ean") { id: ID! sku: ID! ean: String! name: String! }
type Query { product: Product }`,
      pricing: `${FEDERATION}["@key"])
type Product @key(fields: "ean") @key(fields: "sku") { sku: ID! ean: String! price: Int! }`,
    });
    expect(index.keySets('catalog', 'Product')).toEqual([['sku'], ['id'], ['ean']]);
    expect(index.keySets('pricing', 'Product')).toEqual([['ean'], ['sku']]);
  });

  it('keeps a compound key of leaf fields as one key set', () => {
    const index = indexOf({
      members: `${FEDERATION}["@key"])
type Member @key(fields: "id region") @key(fields: "handle") { id: ID! region: String! handle: String! }
type Query { member: Member }`,
    });
    expect(index.keySets('members', 'Member')).toEqual([['id', 'region'], ['handle']]);
  });

  it('leaves out a composite key (one that selects into an object), and keeps the type’s flat keys', () => {
    const index = indexOf({
      members: `${FEDERATION}["@key"])
type Org @key(fields: "id") { id: ID! }
type Member @key(fields: "id org { id }") @key(fields: "handle") { id: ID! org: Org! handle: String! }
type Seat @key(fields: "number org { id }") { number: Int! org: Org! }
type Query { member: Member seat: Seat }`,
    });
    expect(index.keySets('members', 'Member')).toEqual([['handle']]);
    expect(index.keySets('members', 'Seat')).toEqual([]);
  });

  it('leaves out a key whose field the subgraph only receives (@external), but not in the subgraph that owns it', () => {
    const index = indexOf({
      accounts: `${FEDERATION}["@key"])
type User @key(fields: "id") @key(fields: "email") { id: ID! email: String! name: String! }
type Query { me: User }`,
      loyalty: `${FEDERATION}["@key", "@external"])
type User @key(fields: "email") @key(fields: "id") { id: ID! email: String! @external points: Int! }`,
    });
    expect(index.keySets('loyalty', 'User')).toEqual([['id']]);
    expect(index.keySets('accounts', 'User')).toEqual([['id'], ['email']]);
  });

  it('leaves out a key with a field moved by a progressive @override (with a label) in both subgraphs', () => {
    // Which subgraph resolves the field depends on the request, so neither is sure to.
    const index = indexOf({
      catalog: `${FEDERATION}["@key"])
type Product @key(fields: "sku") @key(fields: "code") { sku: ID! code: String! name: String! }
type Query { product: Product }`,
      inventory: `${FEDERATION}["@key", "@override"])
type Product @key(fields: "sku") @key(fields: "code") { sku: ID! code: String! @override(from: "catalog", label: "percent(50)") stock: Int! }`,
    });
    expect(index.keySets('catalog', 'Product')).toEqual([['sku']]);
    expect(index.keySets('inventory', 'Product')).toEqual([['sku']]);
  });

  it('keeps a key with a field moved by a plain @override in the subgraph it moved to only', () => {
    const index = indexOf({
      catalog: `${FEDERATION}["@key"])
type Product @key(fields: "sku") @key(fields: "code") { sku: ID! code: String! name: String! }
type Query { product: Product }`,
      inventory: `${FEDERATION}["@key", "@override"])
type Product @key(fields: "sku") @key(fields: "code") { sku: ID! code: String! @override(from: "catalog") stock: Int! }`,
    });
    expect(index.keySets('catalog', 'Product')).toEqual([['sku']]);
    expect(index.keySets('inventory', 'Product')).toEqual([['sku'], ['code']]);
  });

  it('leaves out a key the subgraph declares resolvable: false', () => {
    const index = indexOf({
      catalog: `${FEDERATION}["@key"])
type Review @key(fields: "id", resolvable: false) { id: ID! }
type Product @key(fields: "sku") { sku: ID! topReview: Review }
type Query { product: Product }`,
      reviews: `${FEDERATION}["@key"])
type Review @key(fields: "id") { id: ID! body: String! }`,
    });
    expect(index.keySets('catalog', 'Review')).toEqual([]);
    expect(index.keySets('reviews', 'Review')).toEqual([['id']]);
  });

  it('gives an @interfaceObject subgraph the interface’s keys, and none of the implementations it does not know', () => {
    const index = indexOf({
      accounts: `${FEDERATION}["@key"])
interface Account @key(fields: "id") { id: ID! name: String! }
type User implements Account @key(fields: "id") @key(fields: "email") { id: ID! name: String! email: String! }
type Admin implements Account @key(fields: "id") { id: ID! name: String! level: Int! }
type Query { accounts: [Account!]! }`,
      profiles: `${FEDERATION}["@key", "@interfaceObject"])
type Account @key(fields: "id") @interfaceObject { id: ID! tier: String! }`,
    });
    expect(index.keySets('profiles', 'Account')).toEqual([['id']]);
    expect(index.keySets('profiles', 'User')).toEqual([]);
    expect(index.keySets('profiles', 'Admin')).toEqual([]);
    expect(index.keySets('accounts', 'Account')).toEqual([['id']]);
    expect(index.keySets('accounts', 'User')).toEqual([['id'], ['email']]);
  });

  it('has no keys for a type the subgraph does not have, a type that is no entity, or an unknown subgraph', () => {
    const index = indexOf({
      catalog: `${FEDERATION}["@key", "@shareable"])
type Product @key(fields: "sku") { sku: ID! price: Money! }
type Money @shareable { amount: Int! currency: String! }
type Query { product: Product }`,
      reviews: `${FEDERATION}["@key"])
type Review @key(fields: "id") { id: ID! }
type Query { review: Review }`,
    });
    expect(index.keySets('reviews', 'Product')).toEqual([]);
    expect(index.keySets('catalog', 'Money')).toEqual([]);
    expect(index.keySets('shipping', 'Product')).toEqual([]);
    expect(index.keySets('catalog', 'Nothing')).toEqual([]);
  });
});
