/**
 * The four foreign subgraphs of the four-subgraph workload: accounts, products, inventory and reviews, each a
 * Federation 2 schema built with `@apollo/subgraph` over the static data in `data.ts`. They know nothing of the
 * shop: no signed callers, no database, no cache hints. Resolvers are map look-ups, so the gateway in front of
 * them is what a load measures.
 */
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { parse, type GraphQLSchema } from 'graphql';
import {
  inStockByUpc,
  productByUpc,
  products,
  reviewById,
  reviewsByAuthor,
  reviewsByProduct,
  shippingEstimateCents,
  userById,
  users,
  type StaticProduct,
  type StaticReview,
  type StaticUser,
} from './data';

export const STATIC_SUBGRAPH_NAMES = ['accounts', 'inventory', 'products', 'reviews'] as const;
export type StaticSubgraphName = (typeof STATIC_SUBGRAPH_NAMES)[number];

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3"';

const SDL: Record<StaticSubgraphName, string> = {
  accounts: `${LINK}, import: ["@key", "@shareable"])
    type Query {
      me: User
      users: [User!]!
      user(id: ID!): User
    }
    type User @key(fields: "id") {
      id: ID!
      name: String!
      username: String! @shareable
      birthYear: Int!
    }
  `,
  products: `${LINK}, import: ["@key"])
    type Query {
      topProducts(first: Int = 5): [Product!]!
      product(upc: String!): Product
    }
    type Product @key(fields: "upc") {
      upc: String!
      name: String!
      priceCents: Int!
      weightGrams: Int!
    }
  `,
  inventory: `${LINK}, import: ["@key", "@external", "@requires"])
    type Product @key(fields: "upc") {
      upc: String!
      priceCents: Int! @external
      weightGrams: Int! @external
      inStock: Boolean!
      shippingEstimateCents: Int! @requires(fields: "priceCents weightGrams")
    }
  `,
  reviews: `${LINK}, import: ["@key", "@external", "@provides", "@shareable"])
    type Review @key(fields: "id") {
      id: ID!
      body: String!
      rating: Int!
      author: User! @provides(fields: "username")
      product: Product!
    }
    type User @key(fields: "id") {
      id: ID!
      username: String! @external
      reviews: [Review!]!
    }
    type Product @key(fields: "upc") {
      upc: String!
      reviews: [Review!]!
    }
  `,
};

type Representation = Record<string, unknown>;

const RESOLVERS: Record<StaticSubgraphName, GraphQLResolverMap<unknown>> = {
  accounts: {
    Query: {
      me: () => users[0],
      users: () => users,
      user: (_root, args: { id: string }) => userById.get(args.id) ?? null,
    },
    User: {
      __resolveReference: (reference: Representation) => userById.get(String(reference.id)) ?? null,
    },
  },
  products: {
    Query: {
      topProducts: (_root, args: { first: number }) => products.slice(0, Math.max(0, args.first)),
      product: (_root, args: { upc: string }) => productByUpc.get(args.upc) ?? null,
    },
    Product: {
      __resolveReference: (reference: Representation) => productByUpc.get(String(reference.upc)) ?? null,
    },
  },
  inventory: {
    Product: {
      // The gateway sends price and weight along (@requires); the rest is inventory's own.
      __resolveReference: (reference: Representation) => reference,
      inStock: (product: Representation) => inStockByUpc.get(String(product.upc)) ?? false,
      shippingEstimateCents: (product: Representation) =>
        shippingEstimateCents(Number(product.priceCents), Number(product.weightGrams)),
    },
  },
  reviews: {
    Review: {
      __resolveReference: (reference: Representation) => reviewById.get(String(reference.id)) ?? null,
      author: (review: StaticReview) => {
        const author = userById.get(review.authorId)!;
        return { id: author.id, username: author.username };
      },
      product: (review: StaticReview) => ({ upc: review.productUpc }),
    },
    User: {
      __resolveReference: (reference: Representation) => ({ id: String(reference.id) }),
      reviews: (user: Pick<StaticUser, 'id'>) => reviewsByAuthor.get(user.id) ?? [],
    },
    Product: {
      __resolveReference: (reference: Representation) => ({ upc: String(reference.upc) }),
      reviews: (product: Pick<StaticProduct, 'upc'>) => reviewsByProduct.get(product.upc) ?? [],
    },
  },
};

export function staticSubgraphSdl(name: StaticSubgraphName): string {
  return SDL[name];
}

export function buildStaticSubgraphSchema(name: StaticSubgraphName): GraphQLSchema {
  return buildSubgraphSchema({ typeDefs: parse(SDL[name]), resolvers: RESOLVERS[name] });
}

export function isStaticSubgraphName(name: string): name is StaticSubgraphName {
  return (STATIC_SUBGRAPH_NAMES as readonly string[]).includes(name);
}
