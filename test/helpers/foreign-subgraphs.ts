/**
 * Two small federation subgraphs that are not ours (products and reviews, written as another team would), served
 * over real HTTP by `@apollo/subgraph`'s schema and graphql-js: the "someone else's repository" of the package
 * tests and the remote-SDL tests. They ignore the gateway's signature headers, as any foreign subgraph would.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphql, parse } from 'graphql';

export const PRODUCTS_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Query {
  products: [Product!]!
}

type Product @key(fields: "upc") {
  upc: ID!
  name: String!
  price: Int!
}
`;

export const REVIEWS_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Product @key(fields: "upc") {
  upc: ID!
  reviews: [Review!]!
}

type Review {
  id: ID!
  stars: Int!
}
`;

const PRODUCTS = [
  { upc: 'p1', name: 'Table', price: 899 },
  { upc: 'p2', name: 'Chair', price: 120 },
];
const REVIEWS: Record<string, { id: string; stars: number }[]> = {
  p1: [{ id: 'r1', stars: 5 }],
  p2: [
    { id: 'r2', stars: 3 },
    { id: 'r3', stars: 4 },
  ],
};

const SCHEMAS = {
  products: buildSubgraphSchema({
    typeDefs: parse(PRODUCTS_SDL),
    resolvers: {
      Query: { products: () => PRODUCTS },
      Product: {
        __resolveReference: (reference: { upc: string }) => PRODUCTS.find((product) => product.upc === reference.upc),
      },
    },
  }),
  reviews: buildSubgraphSchema({
    typeDefs: parse(REVIEWS_SDL),
    resolvers: { Product: { reviews: (product: { upc: string }) => REVIEWS[product.upc] ?? [] } },
  }),
};

export type ForeignSubgraphName = keyof typeof SCHEMAS;

export interface ForeignSubgraph {
  readonly url: string;
  /** GraphQL requests answered, for asserting that traffic went through. */
  readonly requests: () => number;
  close(): Promise<void>;
}

/** Serves one foreign subgraph at `http://127.0.0.1:<free port>/graphql`. */
export async function startForeignSubgraph(name: ForeignSubgraphName): Promise<ForeignSubgraph> {
  const schema = SCHEMAS[name];
  let requests = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests++;
      let body: { query?: string; variables?: Record<string, unknown>; operationName?: string };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        response.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"message":"bad JSON"}]}');
        return;
      }
      void graphql({
        schema,
        source: body.query ?? '',
        variableValues: body.variables,
        operationName: body.operationName,
      }).then((result) => {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/**
 * Writes a foreign repository's schema files into `dir`: `products.graphql`, and a `supergraph.yaml` at its root
 * whose reviews subgraph is read from `reviewsUrl` (rover's `schema.subgraph_url`) when given, else from
 * `reviews.graphql`. Routing URLs are the running subgraphs' when given.
 */
export function writeForeignRepository(
  dir: string,
  options: { productsUrl?: string; reviewsUrl?: string; reviewsSdlFromUrl?: boolean } = {},
): void {
  fs.mkdirSync(path.join(dir, 'clients'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'products.graphql'), PRODUCTS_SDL);
  fs.writeFileSync(path.join(dir, 'reviews.graphql'), REVIEWS_SDL);
  fs.writeFileSync(
    path.join(dir, 'clients', 'shop.graphql'),
    'query ProductReviews {\n  products {\n    name\n    reviews {\n      stars\n    }\n  }\n}\n',
  );
  const reviewsSchema = options.reviewsSdlFromUrl
    ? `      subgraph_url: ${options.reviewsUrl}`
    : '      file: ./reviews.graphql';
  fs.writeFileSync(
    path.join(dir, 'supergraph.yaml'),
    [
      'federation_version: =2.14.4',
      'subgraphs:',
      '  products:',
      `    routing_url: ${options.productsUrl ?? 'http://products.internal/graphql'}`,
      '    schema:',
      '      file: ./products.graphql',
      '  reviews:',
      `    routing_url: ${options.reviewsUrl ?? 'http://reviews.internal/graphql'}`,
      '    schema:',
      reviewsSchema,
      'checks:',
      '  operations: ./clients',
      '',
    ].join('\n'),
  );
}
