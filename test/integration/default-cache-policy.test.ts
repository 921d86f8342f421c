/**
 * The entity cache's default policy on a supergraph nobody wrote `@cacheControl` for: two small subgraphs, as
 * another team would write them (a shelf of books, and reviews that say who is looking), composed here and served
 * over real HTTP; our gateway in process over them, its cache in process and on Redis.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { graphql, parse, type GraphQLSchema } from 'graphql';
import { createClient } from 'redis';
import { CHANGES_EXTENSION } from '../../lib/events';
import { CALLER_HEADER } from '../../lib/identity';
import { counterValue } from '../../lib/metrics';
import { startOurs, type Ours } from '../helpers/gateways';
import { clientFor, requireRedis, TEST_REDIS_URL, token } from '../helpers/system';

const SHELF_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { books: [Book!]! }
type Book @key(fields: "id") { id: ID! title: String! }`;

const REVIEWS_SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Book @key(fields: "id") { id: ID! stars: Int! seenBy: String! }
type Mutation { rate(id: ID!, stars: Int!): Book! }`;

interface SubgraphContext {
  /** The caller header the gateway forwarded, as it came. */
  caller: string;
  /** Entities this request changed, reported back in the response's extensions. */
  changes: { typename: string; key: { id: string } }[];
}

interface Subgraph {
  url: string;
  /** Representations asked for in `_entities` fetches, one entry per fetch. */
  entityFetches: string[][];
  close(): Promise<void>;
}

/** Serves a schema; `seenBy` answers with the caller the gateway forwarded; a mutation reports what it changed. */
async function serve(schema: GraphQLSchema): Promise<Subgraph> {
  const entityFetches: string[][] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        query: string;
        variables?: { representations?: { id: string }[] } & Record<string, unknown>;
      };
      if (body.variables?.representations) entityFetches.push(body.variables.representations.map(({ id }) => id));
      const changes: SubgraphContext['changes'] = [];
      void graphql({
        schema,
        source: body.query,
        variableValues: body.variables,
        contextValue: { caller: String(request.headers[CALLER_HEADER] ?? 'nobody'), changes },
      }).then((result) => {
        const answer = changes.length > 0 ? { ...result, extensions: { [CHANGES_EXTENSION]: changes } } : result;
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    entityFetches,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

const stars = new Map([
  ['b1', 4],
  ['b2', 5],
]);
const shelfSchema = buildSubgraphSchema({
  typeDefs: parse(SHELF_SDL),
  resolvers: {
    Query: { books: () => [...stars.keys()].map((id) => ({ id, title: `Book ${id}` })) },
    Book: { __resolveReference: ({ id }: { id: string }) => ({ id, title: `Book ${id}` }) },
  },
});
const reviewsSchema = buildSubgraphSchema({
  typeDefs: parse(REVIEWS_SDL),
  resolvers: {
    Book: {
      stars: ({ id }: { id: string }) => stars.get(id),
      seenBy: (_book: unknown, _args: unknown, { caller }: SubgraphContext) => caller,
    },
    Mutation: {
      rate: (_root: unknown, { id, stars: value }: { id: string; stars: number }, { changes }: SubgraphContext) => {
        stars.set(id, value);
        changes.push({ typename: 'Book', key: { id } });
        return { id };
      },
    },
  } as GraphQLResolverMap<unknown>,
});

const BOOKS = '{ books { id title stars } }';
const BOOKS_SEEN = '{ books { id stars seenBy } }';

describe.each([
  ['in process', {}],
  ['on Redis', { REDIS_URL: TEST_REDIS_URL }],
])('the default cache policy, cache %s', (_where, store: Record<string, string>) => {
  let shelf: Subgraph;
  let reviews: Subgraph;
  let supergraphPath: string;
  const gateways: Ours[] = [];
  const keyPrefix = `default-policy-${process.pid}-${Date.now()}-${Object.keys(store).length}:`;

  const start = async (env: Record<string, string>) => {
    const gateway = await startOurs(supergraphPath, { ...store, REDIS_KEY_PREFIX: keyPrefix, ...env });
    gateways.push(gateway);
    return { ...gateway, client: clientFor(gateway.url) };
  };
  const hits = (gateway: Ours) => counterValue(gateway.gateway.metrics.entityCacheLookups, { result: 'hit' });

  beforeAll(async () => {
    if (store.REDIS_URL) await requireRedis();
    shelf = await serve(shelfSchema);
    reviews = await serve(reviewsSchema);
    const composed = composeServices([
      { name: 'shelf', typeDefs: parse(SHELF_SDL), url: shelf.url },
      { name: 'reviews', typeDefs: parse(REVIEWS_SDL), url: reviews.url },
    ]);
    if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
    supergraphPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-default-policy-')), 'supergraph.graphql');
    fs.writeFileSync(supergraphPath, composed.supergraphSdl);
  });

  beforeEach(() => {
    reviews.entityFetches.length = 0;
    stars.set('b1', 4).set('b2', 5);
  });

  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((gateway) => gateway.close()));
    if (!store.REDIS_URL) return;
    const redis = createClient({ url: TEST_REDIS_URL });
    await redis.connect();
    for await (const keys of redis.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 500 }))
      if (keys.length > 0) await redis.del(keys);
    redis.destroy();
  });

  afterAll(async () => {
    await Promise.all([shelf?.close(), reviews?.close()]);
    if (supergraphPath) fs.rmSync(path.dirname(supergraphPath), { recursive: true, force: true });
  });

  it('caches nothing without it: every request asks the subgraph again', async () => {
    const gateway = await start({});
    const first = await gateway.client.query(BOOKS);
    expect(first.data).toEqual({
      books: [
        { id: 'b1', title: 'Book b1', stars: 4 },
        { id: 'b2', title: 'Book b2', stars: 5 },
      ],
    });
    expect((await gateway.client.query(BOOKS)).data).toEqual(first.data);
    expect(reviews.entityFetches).toEqual([
      ['b1', 'b2'],
      ['b1', 'b2'],
    ]);
    expect(await hits(gateway)).toBe(0);
  });

  it('answers a repeated request from the cache with ENTITY_CACHE_DEFAULT_MAX_AGE', async () => {
    const gateway = await start({ ENTITY_CACHE_DEFAULT_MAX_AGE: '60' });
    const first = await gateway.client.query(BOOKS);
    expect((await gateway.client.query(BOOKS)).data).toEqual(first.data);
    expect(reviews.entityFetches).toEqual([['b1', 'b2']]);
    expect(await hits(gateway)).toBe(2);
  });

  it('keys an undeclared type per caller: one caller’s entries are never served to another', async () => {
    const gateway = await start({ ENTITY_CACHE_DEFAULT_MAX_AGE: '60' });
    const ada = { token: token('ada') };
    const bob = { token: token('bob') };
    const forAda = await gateway.client.query<{ books: { seenBy: string }[] }>(BOOKS_SEEN, undefined, ada);
    const forBob = await gateway.client.query<{ books: { seenBy: string }[] }>(BOOKS_SEEN, undefined, bob);
    expect(forAda.data!.books[0]!.seenBy).toMatch(/ada/);
    expect(forBob.data!.books[0]!.seenBy).toMatch(/bob/);
    expect(reviews.entityFetches).toHaveLength(2);
    // Each caller's own repeat is a hit.
    expect((await gateway.client.query(BOOKS_SEEN, undefined, ada)).data).toEqual(forAda.data);
    expect((await gateway.client.query(BOOKS_SEEN, undefined, bob)).data).toEqual(forBob.data);
    expect(reviews.entityFetches).toHaveLength(2);
    expect(await hits(gateway)).toBe(4);
  });

  it('shares the entries of a type listed in ENTITY_CACHE_PUBLIC_TYPES between callers', async () => {
    const gateway = await start({ ENTITY_CACHE_DEFAULT_MAX_AGE: '60', ENTITY_CACHE_PUBLIC_TYPES: 'Book' });
    const forAda = await gateway.client.query(BOOKS, undefined, { token: token('ada') });
    expect((await gateway.client.query(BOOKS, undefined, { token: token('bob') })).data).toEqual(forAda.data);
    expect(reviews.entityFetches).toHaveLength(1);
  });

  it('evicts what a mutation changed, so the next read is fresh', async () => {
    const gateway = await start({ ENTITY_CACHE_DEFAULT_MAX_AGE: '60' });
    await gateway.client.query(BOOKS);
    await gateway.client.query(BOOKS);
    expect(reviews.entityFetches).toHaveLength(1);
    const rated = await gateway.client.query('mutation { rate(id: "b1", stars: 1) { id } }');
    expect(rated.errors).toBeUndefined();
    const after = await gateway.client.query<{ books: { stars: number }[] }>(BOOKS);
    expect(after.data!.books.map((book) => book.stars)).toEqual([1, 5]);
    // b1 was evicted and asked again; b2 still came from the cache.
    expect(reviews.entityFetches.at(-1)).toEqual(['b1']);
  });
});
