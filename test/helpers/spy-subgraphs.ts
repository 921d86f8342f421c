import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { GraphQLError, parse } from 'graphql';
import { createRouter, executeGraphQL, listen, readGraphQLBody, type ListeningServer } from '../../lib/http';

/**
 * A small federation of "spy" subgraphs that are not ours (products, reviews, accounts, shipping), covering
 * the shapes a gateway must get right: entities across subgraphs, an interface and a union, @requires,
 * @provides, nullable entities, an entity that errors, and subgraphs that misbehave on request (entities out
 * of order, fewer entities than asked). Each records every HTTP request it receives, so tests can assert
 * batch shapes and round trips, not only results.
 */
export interface Faults {
  /** products answers `_entities` in reverse order. */
  reverseEntities?: boolean;
  /** products drops the last entity of every `_entities` answer. */
  dropLastEntity?: boolean;
}

export interface SpyRequest {
  query: string;
  variables: Record<string, unknown>;
}

const PRODUCTS = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable"])
interface Media { id: ID! title: String! }
type Book implements Media @key(fields: "id") { id: ID! title: String! pages: Int! }
type Movie implements Media @key(fields: "id") { id: ID! title: String! minutes: Int! }
union SearchResult = Book | Movie
type Product @key(fields: "upc") { upc: ID! name: String! price: Int! weight: Int! }
type Query {
  topProducts(first: Int = 5): [Product!]!
  media: [Media!]!
  search(term: String!): [SearchResult!]!
  product(upc: ID!): Product
}`;

const REVIEWS = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@external", "@provides"])
type Review @key(fields: "id") { id: ID! body: String! author: User @provides(fields: "username") product: Product }
type User @key(fields: "id") { id: ID! username: String @external reviews: [Review!]! }
type Product @key(fields: "upc") { upc: ID! reviews: [Review!]! }
type Book @key(fields: "id") { id: ID! reviewCount: Int! }
type Movie @key(fields: "id") { id: ID! reviewCount: Int! }
type Query { latestReviews: [Review!]! troubledReviews: [Review!]! }`;

const ACCOUNTS = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable"])
type User @key(fields: "id") { id: ID! username: String @shareable name: String! }
type Query { me: User users: [User!]! }`;

const SHIPPING = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@external", "@requires"])
type Product @key(fields: "upc") { upc: ID! weight: Int! @external shippingEstimate: Int! @requires(fields: "weight") }`;

const products = Array.from({ length: 8 }, (_, index) => ({ upc: `p${index + 1}`, name: `Product ${index + 1}`, price: 100 * (index + 1), weight: 50 * (index + 1) }));
const media = [
  { __typename: 'Book', id: 'b1', title: 'Dune', pages: 412 },
  { __typename: 'Movie', id: 'm1', title: 'Alien', minutes: 117 },
  { __typename: 'Book', id: 'b2', title: 'Emma', pages: 474 },
];
const users = [
  { id: 'u1', username: '@ada', name: 'Ada' },
  { id: 'u2', username: '@grace', name: 'Grace' },
  { id: 'u3', username: '@alan', name: 'Alan' },
];
// Every review is by one of three users about one of three products: lots of repeated entities.
const reviews = [
  ...Array.from({ length: 12 }, (_, index) => ({
    id: `r${index + 1}`,
    body: `Review ${index + 1}`,
    authorId: users[index % 3]!.id,
    upc: products[index % 3]!.upc,
  })),
];
// Reviews of a product that no longer exists (null entity) and of one that errors, reachable only through
// `troubledReviews`, between two good ones.
const troubledReviews = [
  reviews[0]!,
  { id: 'r13', body: 'Gone', authorId: 'u1', upc: 'p7' },
  { id: 'r14', body: 'Broken', authorId: 'u2', upc: 'p8' },
  reviews[1]!,
];

export interface SpyFederation {
  supergraphPath: string;
  urls: Record<string, string>;
  requests: Record<string, SpyRequest[]>;
  faults: Faults;
  reset(): void;
  close(): Promise<void>;
}

export async function startSpyFederation(): Promise<SpyFederation> {
  const faults: Faults = {};
  const requests: Record<string, SpyRequest[]> = { products: [], reviews: [], accounts: [], shipping: [] };
  const definitions: Record<string, { sdl: string; resolvers: GraphQLResolverMap<unknown> }> = {
    products: {
      sdl: PRODUCTS,
      resolvers: {
        Query: {
          topProducts: (_: unknown, { first }: { first: number }) => products.slice(0, first),
          media: () => media,
          search: (_: unknown, { term }: { term: string }) => media.filter((item) => item.title.toLowerCase().includes(term.toLowerCase())),
          product: (_: unknown, { upc }: { upc: string }) => products.find((product) => product.upc === upc) ?? null,
        },
        Media: { __resolveType: (item: { __typename: string }) => item.__typename },
        SearchResult: { __resolveType: (item: { __typename: string }) => item.__typename },
        Product: {
          __resolveReference: (reference: { upc: string }) => {
            // p7 is a product that no longer exists: a nullable entity.
            if (reference.upc === 'p7') return null;
            // p8 fails: an error inside one entity of a batch.
            if (reference.upc === 'p8') throw new GraphQLError('Product p8 is corrupted', { extensions: { code: 'CORRUPTED' } });
            return products.find((product) => product.upc === reference.upc) ?? null;
          },
        },
        Book: { __resolveReference: (reference: { id: string }) => media.find((item) => item.id === reference.id) },
        Movie: { __resolveReference: (reference: { id: string }) => media.find((item) => item.id === reference.id) },
      },
    },
    reviews: {
      sdl: REVIEWS,
      resolvers: {
        Query: { latestReviews: () => reviews, troubledReviews: () => troubledReviews },
        Review: {
          __resolveReference: (reference: { id: string }) => [...reviews, ...troubledReviews].find((review) => review.id === reference.id),
          author: (review: { authorId: string }) => {
            const user = users.find((candidate) => candidate.id === review.authorId)!;
            return { __typename: 'User', id: user.id, username: user.username };
          },
          product: (review: { upc: string }) => ({ __typename: 'Product', upc: review.upc }),
        },
        User: {
          __resolveReference: (reference: { id: string }) => ({ id: reference.id }),
          reviews: (user: { id: string }) => reviews.filter((review) => review.authorId === user.id),
        },
        Product: {
          __resolveReference: (reference: { upc: string }) => ({ upc: reference.upc }),
          reviews: (product: { upc: string }) => reviews.filter((review) => review.upc === product.upc),
        },
        Book: { __resolveReference: (reference: { id: string }) => ({ id: reference.id }), reviewCount: (book: { id: string }) => book.id.length },
        Movie: { __resolveReference: (reference: { id: string }) => ({ id: reference.id }), reviewCount: () => 7 },
      },
    },
    accounts: {
      sdl: ACCOUNTS,
      resolvers: {
        Query: { me: () => users[0], users: () => users },
        User: { __resolveReference: (reference: { id: string }) => users.find((user) => user.id === reference.id) ?? null },
      },
    },
    shipping: {
      sdl: SHIPPING,
      resolvers: {
        Product: {
          __resolveReference: (reference: { upc: string; weight: number }) => reference,
          shippingEstimate: (product: { weight: number }) => Math.ceil(product.weight / 10) + 5,
        },
      },
    },
  };

  const servers: ListeningServer[] = [];
  const urls: Record<string, string> = {};
  for (const [name, definition] of Object.entries(definitions)) {
    const apollo = new ApolloServer({
      schema: buildSubgraphSchema({ typeDefs: parse(definition.sdl), resolvers: definition.resolvers }),
      plugins: [ApolloServerPluginInlineTraceDisabled()],
    });
    await apollo.start();
    const listener = createRouter(
      {
        '/graphql': async (req, res) => {
          const body = (await readGraphQLBody(req, 10_000_000)) as SpyRequest;
          requests[name]!.push({ query: body.query, variables: body.variables ?? {} });
          if (name === 'products' && (faults.reverseEntities || faults.dropLastEntity) && body.query.includes('_entities')) {
            const result = await apollo.executeOperation({ query: body.query, variables: body.variables });
            const single = result.body.kind === 'single' ? result.body.singleResult : { data: null };
            const data = single.data as Record<string, unknown> | null;
            for (const key of Object.keys(data ?? {})) {
              const list = data![key];
              if (!Array.isArray(list)) continue;
              if (faults.reverseEntities) list.reverse();
              if (faults.dropLastEntity) list.pop();
            }
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(single));
            return;
          }
          await executeGraphQL(apollo, req, res, body, async () => ({}));
        },
      },
      () => undefined,
    );
    const server = await listen(listener, 0, '127.0.0.1');
    servers.push(server);
    urls[name] = `${server.url}/graphql`;
    const stop = server.close;
    server.close = async () => {
      await stop();
      await apollo.stop();
    };
  }

  const composed = composeServices(
    Object.entries(definitions).map(([name, definition]) => ({ name, typeDefs: parse(definition.sdl), url: urls[name]! })),
  );
  if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-spy-'));
  const supergraphPath = path.join(dir, 'supergraph.graphql');
  fs.writeFileSync(supergraphPath, composed.supergraphSdl);

  return {
    supergraphPath,
    urls,
    requests,
    faults,
    reset() {
      for (const list of Object.values(requests)) list.length = 0;
      faults.reverseEntities = false;
      faults.dropLastEntity = false;
    },
    async close() {
      await Promise.all(servers.map((server) => server.close()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
