import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { GraphQLError, isInterfaceType, isObjectType, parse } from 'graphql';
import { createRouter, executeGraphQL, listen, readGraphQLBody, type ListeningServer } from '../../lib/http';

/**
 * A federation estate that is not ours, built to hold every shape a gateway must get right (the scenario
 * matrix in `test/integration/federation-matrix.test.ts` runs queries over it through plain Apollo Gateway and
 * through ours in every configuration):
 *
 * - catalog: `Product` with two keys (`sku`, `id`), a `@shareable` value type (`Money`, `Category`), a union
 *   spanning subgraphs (`SearchResult = Product | Review`), nullable and erroring entities;
 * - pricing: `Product` by `sku`, a field with arguments; and it misbehaves on purpose, driven by the data so
 *   that every gateway and every cache sees the same faults (see `misbehave`);
 * - reviews: `Review`, `User` with `@provides`, `Product` known only by its second key (`id`);
 * - accounts: the interface `Account` with `User` (two keys) and `Admin`;
 * - profiles: `Account` as an `@interfaceObject`, with a `@requires`;
 * - loyalty: `User` by an `@external` key (`email`) that its entity resolver does not return;
 * - inventory: fields moved from catalog with `@override`, with and without a progressive label;
 * - shipping: a `@requires` field with arguments, erroring for some arguments.
 *
 * Every subgraph records the requests it receives, so tests can look at what was asked.
 */

const FEDERATION = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ';

const CATALOG = `${FEDERATION}["@key", "@shareable"])
type Product @key(fields: "sku") @key(fields: "id") {
  id: ID!
  sku: ID!
  name: String!
  weight: Int!
  inStock: Boolean!
  stockLevel: Int!
  category: Category
  listPrice: Money! @shareable
}
type Category @shareable { name: String! slug: String! }
type Money @shareable { amount: Int! currency: String! }
type Review @key(fields: "id", resolvable: false) { id: ID! }
union SearchResult = Product | Review
type Query {
  products(skus: [ID!]): [Product!]!
  product(sku: ID!): Product
  search(term: String!): [SearchResult!]!
}`;

const PRICING = `${FEDERATION}["@key", "@shareable"])
type Product @key(fields: "sku") {
  sku: ID!
  price: Int
  priceIn(currency: String!): Int
  listPrice: Money! @shareable
}
type Money @shareable { amount: Int! currency: String! }`;

const REVIEWS = `${FEDERATION}["@key", "@external", "@provides", "@shareable"])
type Review @key(fields: "id") {
  id: ID!
  body: String!
  rating: Int!
  author: User @provides(fields: "name")
  product: Product
  category: Category
}
type User @key(fields: "id") { id: ID! name: String! @external reviews: [Review!]! }
type Product @key(fields: "id") { id: ID! reviews: [Review!]! }
type Category @shareable { name: String! slug: String! }
type Query { reviews: [Review!]! review(id: ID!): Review }`;

const ACCOUNTS = `${FEDERATION}["@key", "@shareable"])
interface Account @key(fields: "id") { id: ID! name: String! }
type User implements Account @key(fields: "id") @key(fields: "email") {
  id: ID!
  name: String! @shareable
  email: String!
}
type Admin implements Account @key(fields: "id") { id: ID! name: String! level: Int! }
type Query { accounts: [Account!]! user(id: ID!): User }`;

const PROFILES = `${FEDERATION}["@key", "@interfaceObject", "@external", "@requires"])
type Account @key(fields: "id") @interfaceObject {
  id: ID!
  tier: String!
  name: String! @external
  greeting: String! @requires(fields: "name")
}
type Query { topAccounts: [Account!]! }`;

const LOYALTY = `${FEDERATION}["@key", "@external"])
type User @key(fields: "email") { email: String! @external points: Int! nickname: String }`;

const INVENTORY = `${FEDERATION}["@key", "@override"])
type Product @key(fields: "sku") {
  sku: ID!
  inStock: Boolean! @override(from: "catalog")
  stockLevel: Int! @override(from: "catalog", label: "percent(100)")
}`;

const SHIPPING = `${FEDERATION}["@key", "@external", "@requires"])
type Product @key(fields: "sku") {
  sku: ID!
  weight: Int! @external
  shippingCost(zone: String!): Int @requires(fields: "weight")
}`;

interface ProductRow {
  id: string;
  sku: string;
  name: string;
  weight: number;
  category: { name: string; slug: string } | null;
}

/**
 * Products. Skus drive pricing's faults: `LOST*` are left out of its `_entities` answers (short answers),
 * `DUP*` are answered twice (long), any `REV*` in a batch makes it answer in reverse order, `SWAP*` is answered
 * with the first other product's entity, and `ERR*` errors. `P-NULL` and `P-ERR` (by id) are a product that no
 * longer exists and one whose catalog entry fails.
 */
const PRODUCTS: ProductRow[] = [
  ['P1', 'A', 'Anvil', 500, 'tools'],
  ['P2', 'B', 'Bucket', 40, 'garden'],
  ['P3', 'C', 'Chisel', 20, 'tools'],
  ['P4', 'D', 'Drill', 150, null],
  ['P5', 'LOST1', 'Lamp', 30, 'home'],
  ['P6', 'LOST2', 'Ladder', 900, 'tools'],
  ['P7', 'DUP1', 'Drum', 70, 'music'],
  ['P8', 'REV1', 'Rake', 60, 'garden'],
  ['P9', 'SWAP1', 'Saw', 80, 'tools'],
  ['P10', 'ERR1', 'Easel', 90, 'art'],
].map(([id, sku, name, weight, category]) => ({
  id: id as string,
  sku: sku as string,
  name: name as string,
  weight: weight as number,
  category: category ? { name: `Category ${category as string}`, slug: category as string } : null,
}));
const productBySku = (sku: string) => PRODUCTS.find((product) => product.sku === sku);
const productById = (id: string) => PRODUCTS.find((product) => product.id === id);
const priceOf = (sku: string) => 100 + sku.charCodeAt(0) * 3 + sku.length;

const ACCOUNT_ROWS = [
  { __typename: 'User', id: 'u1', name: 'Ada', email: 'ada@example.com' },
  { __typename: 'Admin', id: 'a1', name: 'Root', level: 9 },
  { __typename: 'User', id: 'u2', name: 'Grace', email: 'grace@example.com' },
  { __typename: 'User', id: 'u3', name: 'Alan', email: 'alan@example.com' },
  { __typename: 'Admin', id: 'a2', name: 'Ops', level: 3 },
];
const accountById = (id: string) => ACCOUNT_ROWS.find((account) => account.id === id);

// Review ids overlap product ids on purpose (`P1`): one `_entities` batch to reviews then carries a Product and a
// Review with the same key value, which only the typename tells apart.
const REVIEW_ROWS = [
  { id: 'R1', body: 'Heavy', rating: 5, authorId: 'u1', productId: 'P1' },
  { id: 'R2', body: 'Leaks', rating: 2, authorId: 'u2', productId: 'P2' },
  { id: 'R3', body: 'Sharp', rating: 4, authorId: 'u1', productId: 'P3' },
  { id: 'R4', body: 'Gone', rating: 1, authorId: 'u3', productId: 'P-NULL' },
  { id: 'R5', body: 'Broken', rating: 1, authorId: 'u2', productId: 'P-ERR' },
  { id: 'R6', body: 'Loud', rating: 3, authorId: 'u3', productId: 'P7' },
  { id: 'P1', body: 'Named like a product', rating: 3, authorId: 'a1', productId: 'P4' },
];
const reviewById = (id: string) => REVIEW_ROWS.find((review) => review.id === id);

type Representation = Record<string, unknown>;

/** Pricing's faults, applied to a correct `_entities` answer for these representations. */
function misbehave(representations: Representation[], entities: unknown[]): unknown[] {
  const skus = representations.map((representation) => String(representation.sku));
  let answer: unknown[] = [];
  entities.forEach((entity, index) => {
    const sku = skus[index]!;
    if (sku.startsWith('LOST')) return;
    if (sku.startsWith('SWAP')) {
      // The wrong entity: product A, with A's key and price (whatever the gateway asked for).
      const wrong: Record<string, unknown> = { ...(entity as Record<string, unknown>) };
      for (const field of Object.keys(wrong)) if (/sku$/i.test(field)) wrong[field] = 'A';
      if ('price' in wrong) wrong.price = priceOf('A');
      answer.push(wrong);
      return;
    }
    answer.push(entity);
    if (sku.startsWith('DUP')) answer.push(entity);
  });
  if (skus.some((sku) => sku.startsWith('REV'))) answer = answer.reverse();
  return answer;
}

export interface MatrixFederation {
  /** The supergraph with every subgraph as defined (pricing misbehaving). */
  supergraphPath: string;
  /** The same supergraph with a pricing that behaves: what a correct answer looks like. */
  healthySupergraphPath: string;
  /** Every object type of the supergraph (for forcing a cache TTL on every type). */
  objectTypes: string[];
  /** The requests each subgraph received. */
  requests: Record<string, { query: string; variables: Record<string, unknown> }[]>;
  close(): Promise<void>;
}

export async function startMatrixFederation(): Promise<MatrixFederation> {
  const definitions: Record<string, { sdl: string; resolvers: GraphQLResolverMap<unknown> }> = {
    catalog: {
      sdl: CATALOG,
      resolvers: {
        Query: {
          products: (_: unknown, { skus }: { skus?: string[] }) =>
            skus ? skus.flatMap((sku) => productBySku(sku) ?? []) : PRODUCTS.slice(0, 4),
          product: (_: unknown, { sku }: { sku: string }) => productBySku(sku) ?? null,
          search: (_: unknown, { term }: { term: string }) => [
            // Only the well-behaved products: pricing's faults have scenarios of their own.
            ...PRODUCTS.slice(0, 4)
              .filter((product) => product.name.toLowerCase().includes(term.toLowerCase()))
              .map((product) => ({
                __typename: 'Product',
                ...product,
              })),
            ...REVIEW_ROWS.filter((review) => review.body.toLowerCase().includes(term.toLowerCase())).map((review) => ({
              __typename: 'Review',
              id: review.id,
            })),
          ],
        },
        SearchResult: { __resolveType: (value: { __typename: string }) => value.__typename },
        Product: {
          __resolveReference: (reference: { sku?: string; id?: string }) => {
            if (reference.id === 'P-NULL') return null;
            if (reference.id === 'P-ERR')
              throw new GraphQLError('Catalog entry P-ERR is corrupted', { extensions: { code: 'CORRUPTED' } });
            return (reference.sku ? productBySku(reference.sku) : productById(reference.id!)) ?? null;
          },
          inStock: (product: ProductRow) => product.weight < 200,
          stockLevel: (product: ProductRow) => product.weight % 7,
          listPrice: (product: ProductRow) => ({ amount: priceOf(product.sku), currency: 'EUR' }),
        },
      },
    },
    pricing: {
      sdl: PRICING,
      resolvers: {
        Product: {
          __resolveReference: (reference: { sku: string }) => ({ sku: reference.sku }),
          price: (product: { sku: string }) => {
            if (product.sku.startsWith('ERR'))
              throw new GraphQLError(`No price for ${product.sku}`, { extensions: { code: 'NO_PRICE' } });
            return priceOf(product.sku);
          },
          priceIn: (product: { sku: string }, { currency }: { currency: string }) =>
            currency === 'EUR' ? priceOf(product.sku) : Math.round(priceOf(product.sku) * 1.1),
          listPrice: (product: { sku: string }) => ({ amount: priceOf(product.sku), currency: 'EUR' }),
        },
      },
    },
    reviews: {
      sdl: REVIEWS,
      resolvers: {
        Query: {
          reviews: () => REVIEW_ROWS.slice(0, 6),
          review: (_: unknown, { id }: { id: string }) => reviewById(id) ?? null,
        },
        Review: {
          __resolveReference: (reference: { id: string }) => reviewById(reference.id) ?? null,
          author: (review: { authorId: string }) => {
            const account = accountById(review.authorId);
            return account?.__typename === 'User' ? { id: account.id, name: account.name } : null;
          },
          product: (review: { productId: string }) => ({ id: review.productId }),
          category: (review: { productId: string }) => productById(review.productId)?.category ?? null,
        },
        User: {
          __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
          reviews: (user: { id: string }) => REVIEW_ROWS.filter((review) => review.authorId === user.id),
        },
        Product: {
          __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
          reviews: (product: { id: string }) => REVIEW_ROWS.filter((review) => review.productId === product.id),
        },
      },
    },
    accounts: {
      sdl: ACCOUNTS,
      resolvers: {
        Query: {
          accounts: () => ACCOUNT_ROWS,
          user: (_: unknown, { id }: { id: string }) => {
            const account = accountById(id);
            return account?.__typename === 'User' ? account : null;
          },
        },
        Account: {
          __resolveReference: (reference: { id: string }) => accountById(reference.id) ?? null,
          __resolveType: (account: { __typename: string }) => account.__typename,
        },
        User: {
          __resolveReference: (reference: { id?: string; email?: string }) =>
            ACCOUNT_ROWS.find(
              (account) =>
                account.__typename === 'User' &&
                (reference.id ? account.id === reference.id : account.email === reference.email),
            ) ?? null,
        },
        Admin: { __resolveReference: (reference: { id: string }) => accountById(reference.id) ?? null },
      },
    },
    profiles: {
      sdl: PROFILES,
      resolvers: {
        Query: { topAccounts: () => [{ id: 'a1' }, { id: 'u2' }, { id: 'u1' }] },
        Account: {
          __resolveReference: (reference: { id: string; name?: string }) => reference,
          tier: (account: { id: string }) =>
            account.id.startsWith('a') ? 'staff' : account.id === 'u1' ? 'gold' : 'basic',
          greeting: (account: { name: string }) => `Hello, ${account.name}`,
        },
      },
    },
    loyalty: {
      sdl: LOYALTY,
      resolvers: {
        User: {
          // Returns only its own fields: the key `email` is external here and this subgraph cannot answer it.
          __resolveReference: (reference: { email: string }) => ({
            points: reference.email.length * 10,
            nickname: reference.email.split('@')[0],
          }),
        },
      },
    },
    inventory: {
      sdl: INVENTORY,
      resolvers: {
        Product: {
          __resolveReference: (reference: { sku: string }) => productBySku(reference.sku) ?? null,
          inStock: (product: ProductRow) => product.weight < 100,
          stockLevel: (product: ProductRow) => product.weight % 11,
        },
      },
    },
    shipping: {
      sdl: SHIPPING,
      resolvers: {
        Product: {
          __resolveReference: (reference: { sku: string; weight: number }) => reference,
          shippingCost: (product: { sku: string; weight: number }, { zone }: { zone: string }) => {
            if (zone === 'MARS' && product.weight > 100)
              throw new GraphQLError(`Too heavy for Mars: ${product.sku}`, { extensions: { code: 'TOO_HEAVY' } });
            return Math.ceil(product.weight / 10) * (zone === 'EU' ? 1 : 3);
          },
        },
      },
    },
  };

  const servers: ListeningServer[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const urls: Record<string, string> = {};
  const requests: MatrixFederation['requests'] = {};
  let healthyPricingUrl = '';
  for (const [name, definition] of Object.entries(definitions)) {
    const apollo = new ApolloServer({
      schema: buildSubgraphSchema({ typeDefs: parse(definition.sdl), resolvers: definition.resolvers }),
      plugins: [ApolloServerPluginInlineTraceDisabled()],
    });
    await apollo.start();
    stops.push(() => apollo.stop());
    requests[name] = [];
    const handler = (faulty: boolean) =>
      createRouter(
        {
          '/graphql': async (req, res) => {
            const body = (await readGraphQLBody(req, 10_000_000)) as {
              query: string;
              variables?: Record<string, unknown>;
            };
            const variables = body.variables ?? {};
            requests[name]!.push({ query: body.query, variables });
            if (!faulty) return executeGraphQL(apollo, req, res, body, async () => ({}));
            const result = await apollo.executeOperation({ query: body.query, variables });
            const single = result.body.kind === 'single' ? result.body.singleResult : { data: null };
            const data = single.data as Record<string, unknown> | null | undefined;
            for (const key of Object.keys(data ?? {})) {
              const list = data![key];
              const sent = variables[`${key.slice(0, -'_entities'.length)}representations`];
              if (key.endsWith('_entities') && Array.isArray(list) && Array.isArray(sent))
                data![key] = misbehave(sent as Representation[], list);
            }
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(single));
          },
        },
        () => undefined,
      );
    const server = await listen(handler(name === 'pricing'), 0, '127.0.0.1');
    servers.push(server);
    urls[name] = `${server.url}/graphql`;
    if (name === 'pricing') {
      const healthy = await listen(handler(false), 0, '127.0.0.1');
      servers.push(healthy);
      healthyPricingUrl = `${healthy.url}/graphql`;
    }
  }

  const compose = (routing: Record<string, string>) => {
    const composed = composeServices(
      Object.entries(definitions).map(([name, definition]) => ({
        name,
        typeDefs: parse(definition.sdl),
        url: routing[name]!,
      })),
    );
    if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
    return composed;
  };
  const composed = compose(urls);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-matrix-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  fs.writeFileSync(supergraphPath, composed.supergraphSdl);
  const healthySupergraphPath = path.join(dir, 'healthy-supergraph.graphql');
  fs.writeFileSync(healthySupergraphPath, compose({ ...urls, pricing: healthyPricingUrl }).supergraphSdl);
  const objectTypes = Object.values(composed.schema.toAPISchema().toGraphQLJSSchema().getTypeMap())
    .filter((type) => (isObjectType(type) || isInterfaceType(type)) && !type.name.startsWith('__'))
    .map((type) => type.name)
    .filter((name) => name !== 'Query');

  return {
    supergraphPath,
    healthySupergraphPath,
    objectTypes,
    requests,
    async close() {
      await Promise.all(servers.map((server) => server.close()));
      await Promise.all(stops.map((stop) => stop()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
