/**
 * A hostile corpus: requests a client should never be able to hurt the gateway or a subgraph with. Each is
 * sent once, on its own, to a production stack by `bench/hostile.ts`, which measures what it cost.
 *
 * The first rows are the ones measured against the unprotected gateway (each took a node down or held a core
 * for seconds); the rest vary them in size and shape, and add what else a hostile client tries: malformed
 * bodies, persisted-query garbage, introspection, fragment bombs, oversized strings and variables.
 */
export interface HostileRequest {
  name: string;
  category: string;
  method?: 'GET' | 'POST';
  /** The raw body (already JSON, or deliberately not). */
  body?: string;
  /** For GET: the query string, without `?`. */
  search?: string;
  headers?: Record<string, string>;
  /** Sign the request as this user (a JWT is added by the runner). */
  asUser?: string;
}

const json = (value: unknown) => JSON.stringify(value);
const gql = (query: string, extra: Record<string, unknown> = {}) => json({ query, ...extra });
const times = (count: number, make: (index: number) => string, separator = ' ') =>
  Array.from({ length: count }, (_, index) => make(index)).join(separator);

/** `user { orders { edges { node { user { orders ...` down to `depth` levels of User/Order. */
function userOrdersChain(depth: number, first = 100): string {
  let query = 'id';
  for (let level = 0; level < depth; level++)
    query = level % 2 === 0 ? `user { ${query} }` : `orders(first: ${first}) { edges { node { ${query} } } }`;
  return `{ user(id: "1") { ${query} } }`;
}

/** `{ a { a { a ... } } }` through a field that exists at every level. */
function nestedBraces(depth: number): string {
  return `{ ${'me { orders(first: 1) { edges { node { user { '.repeat(Math.ceil(depth / 5))}id${' } } } } }'.repeat(Math.ceil(depth / 5))} }`;
}

export function hostileCorpus(): HostileRequest[] {
  const corpus: HostileRequest[] = [];
  const add = (request: HostileRequest) => corpus.push(request);

  // The rows measured against the unprotected gateway.
  add({
    name: '10,000 aliases of product(sku:) { shippingEstimateCents }',
    category: 'aliases',
    body: gql(
      `{ ${times(10_000, (i) => `p${i}: product(sku: "SKU-${String((i % 100) + 1).padStart(4, '0')}") { shippingEstimateCents }`)} }`,
    ),
  });
  add({ name: '20,000 x __typename', category: 'fields', body: gql(`{ ${times(20_000, () => '__typename')} }`) });
  add({
    name: '2,000 x user(id: "i")',
    category: 'field merging',
    body: gql(`{ ${times(2_000, () => 'user(id: "i") { id }')} }`),
  });
  add({ name: 'depth 200 through User.orders / Order.user', category: 'depth', body: gql(userOrdersChain(200)) });
  add({ name: 'depth 1000', category: 'depth', body: gql(nestedBraces(1_000)) });
  add({
    name: 'a signed-in user nesting their own orders 5 deep',
    category: 'cost',
    asUser: '7',
    body: gql(
      '{ me { orders(first: 100) { edges { node { user { orders(first: 100) { edges { node { user { orders(first: 100) { edges { node { user { orders(first: 100) { edges { node { user { orders(first: 100) { edges { node { id } } } } } } } } } } } } } } } } } } } } }',
    ),
  });
  add({
    name: '500 aliased createUser mutations',
    category: 'mutations',
    body: gql(
      `mutation { ${times(500, (i) => `u${i}: createUser(input: { name: "x", email: "hostile${i}@example.com" }) { id }`)} }`,
    ),
  });

  // The same shapes, in sizes around the limits.
  for (const count of [31, 50, 100, 500, 1_000, 5_000])
    add({
      name: `${count} aliases of product(sku:)`,
      category: 'aliases',
      body: gql(`{ ${times(count, (i) => `p${i}: product(sku: "SKU-0001") { name }`)} }`),
    });
  for (const count of [201, 1_000, 5_000, 14_000])
    add({
      name: `${count} x __typename in one selection`,
      category: 'fields',
      body: gql(`{ me { ${times(count, () => '__typename')} } }`),
    });
  for (const count of [21, 100, 500, 1_000, 4_000])
    add({
      name: `${count} x user(id:) unaliased at the root`,
      category: 'field merging',
      body: gql(`{ ${times(count, () => 'user(id: "1") { id }')} }`),
    });
  for (const count of [90, 100])
    add({
      name: `${count} x name unaliased in one selection`,
      category: 'field merging',
      body: gql(`{ me { ${times(count, () => 'name')} } }`),
    });
  for (const depth of [16, 20, 50, 100, 500])
    add({
      name: `depth ${depth} through User.orders / Order.user`,
      category: 'depth',
      body: gql(userOrdersChain(depth)),
    });
  for (const depth of [2_000, 5_000, 20_000, 100_000])
    add({ name: `nested braces, depth ${depth}`, category: 'depth', body: gql(nestedBraces(depth)) });
  add({ name: 'unbalanced: 300,000 opening braces', category: 'depth', body: gql(`{ ${'a { '.repeat(300_000)}`) });
  add({
    name: 'nested list argument 50,000 deep',
    category: 'depth',
    body: gql(`{ product(sku: ${'['.repeat(50_000)}"x"${']'.repeat(50_000)}) { name } }`),
  });
  add({
    name: 'nested input object 50,000 deep',
    category: 'depth',
    body: gql(`{ product(sku: ${'{a: '.repeat(50_000)}1${'}'.repeat(50_000)}) { name } }`),
  });
  for (const first of [100, 50, 20, 10])
    for (const levels of [2, 3, 4])
      add({
        name: `users(first: ${first}) with orders(first: ${first}) nested ${levels} levels`,
        category: 'cost',
        body: gql(
          `{ users(first: ${first}) { edges { node { ${'orders(first: FIRST) { edges { node { items { product { name } } user { '.repeat(levels).replace(/FIRST/g, String(first))}id${' } } } } }'.repeat(levels)} } } } }`,
        ),
      });
  for (const first of [100, 1_000, 1_000_000])
    add({
      name: `products(first: ${first}) with every field`,
      category: 'cost',
      body: gql(
        `{ products(first: ${first}) { edges { node { sku name priceCents stock inStock weightGrams shippingEstimateCents } } } }`,
      ),
    });
  add({
    name: 'products(first:) from a variable of 1,000,000',
    category: 'cost',
    body: json({
      query: 'query ($n: Int) { products(first: $n) { edges { node { shippingEstimateCents } } } }',
      variables: { n: 1_000_000 },
    }),
  });

  // Tokens, tokens.
  for (const count of [15_001, 50_000, 200_000])
    add({
      name: `${count} tokens of commas and names`,
      category: 'tokens',
      body: gql(`{ me { ${times(Math.ceil(count / 2), () => 'id,')} } }`),
    });
  add({
    name: 'a 900 KB string argument',
    category: 'size',
    body: gql(`{ product(sku: "${'x'.repeat(900_000)}") { name } }`),
  });
  add({
    name: 'a 900 KB block string',
    category: 'size',
    body: gql(`{ product(sku: """${'x'.repeat(900_000)}""") { name } }`),
  });
  add({ name: 'a 900 KB comment', category: 'size', body: gql(`# ${'x'.repeat(900_000)}\n{ me { id } }`) });
  add({ name: 'a body of 2 MiB', category: 'size', body: gql(`{ me { id } } # ${'x'.repeat(2 * 1024 * 1024)}`) });
  add({
    name: '10,000 variables declared',
    category: 'variables',
    body: gql(`query (${times(10_000, (i) => `$v${i}: Int`)}) { me { id } }`),
  });
  add({
    name: 'a 900 KB variables object',
    category: 'variables',
    body: json({ query: 'query ($s: ID!) { product(sku: $s) { name } }', variables: { s: 'x'.repeat(900_000) } }),
  });
  add({
    name: 'variables nested 100,000 deep in JSON',
    category: 'variables',
    body: `{"query":"query ($s: ID!) { product(sku: $s) { name } }","variables":{"s":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`,
  });
  add({
    name: 'a list variable of 100,000 items',
    category: 'variables',
    body: json({
      query: 'query ($s: [ID!]!) { __typename }',
      variables: { s: Array.from({ length: 100_000 }, (_, i) => String(i)) },
    }),
  });

  // Fragments.
  add({
    name: 'fragment bomb: 30 levels, each spreading the next twice',
    category: 'fragments',
    body: gql(
      `{ me { ...F0 } } ${times(30, (i) => `fragment F${i} on User { ${i === 29 ? 'id' : `...F${i + 1} ...F${i + 1}`} }`)}`,
    ),
  });
  add({
    name: 'fragment bomb with aliases',
    category: 'fragments',
    body: gql(
      `{ me { ...F0 } } ${times(25, (i) => `fragment F${i} on User { ${i === 24 ? 'a: id' : `...F${i + 1} ...F${i + 1}`} }`)}`,
    ),
  });
  add({
    name: 'fragment cycle',
    category: 'fragments',
    body: gql('{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }'),
  });
  add({
    name: 'self-spreading fragment',
    category: 'fragments',
    body: gql('{ me { ...A } } fragment A on User { id ...A }'),
  });
  for (const count of [101, 1_000, 3_000])
    add({
      name: `${count} fragment definitions`,
      category: 'fragments',
      body: gql(`{ me { id } } ${times(count, (i) => `fragment F${i} on User { id }`)}`),
    });
  add({
    name: '1,000 spreads of one fragment in one selection',
    category: 'fragments',
    body: gql(`{ me { ${times(1_000, () => '...F')} } } fragment F on User { id name }`),
  });
  add({
    name: '1,000 inline fragments',
    category: 'fragments',
    body: gql(`{ me { ${times(1_000, () => '... on User { id }')} } }`),
  });

  // Directives.
  for (const count of [11, 100, 2_000])
    add({
      name: `${count} directives on one field`,
      category: 'directives',
      body: gql(`{ me ${times(count, () => '@include(if: true)')} { id } }`),
    });
  add({
    name: '1,000 unknown directives',
    category: 'directives',
    body: gql(`{ me ${times(1_000, (i) => `@d${i}`)} { id } }`),
  });

  // Operations and names.
  add({
    name: '1,000 operations in one document, no operationName',
    category: 'operations',
    body: gql(times(1_000, (i) => `query Q${i} { me { id } }`)),
  });
  add({
    name: '1,000 operations, one named',
    category: 'operations',
    body: gql(
      times(1_000, (i) => `query Q${i} { me { id } }`),
      { operationName: 'Q999' },
    ),
  });
  add({
    name: 'two operations, no operationName',
    category: 'operations',
    body: gql('query A { me { id } } query B { me { name } }'),
  });
  add({
    name: 'an unknown operationName',
    category: 'operations',
    body: gql('query A { me { id } }', { operationName: 'Nope' }),
  });
  add({
    name: 'operationName not a string',
    category: 'operations',
    body: json({ query: '{ me { id } }', operationName: 42 }),
  });
  add({ name: 'a subscription over POST', category: 'operations', body: gql('subscription { orderUpdated { id } }') });
  add({
    name: 'an anonymous mutation of everything',
    category: 'operations',
    body: gql('mutation { restock(sku: "SKU-0001", quantity: 1000000) { stock } }'),
  });

  // Persisted queries.
  add({
    name: 'APQ with an unknown hash',
    category: 'apq',
    body: json({ extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } } }),
  });
  add({
    name: 'APQ hash mismatch',
    category: 'apq',
    body: json({ query: '{ me { id } }', extensions: { persistedQuery: { version: 1, sha256Hash: 'b'.repeat(64) } } }),
  });
  add({
    name: 'APQ version 2',
    category: 'apq',
    body: json({ query: '{ me { id } }', extensions: { persistedQuery: { version: 2, sha256Hash: 'b'.repeat(64) } } }),
  });
  add({
    name: 'APQ hash not hex',
    category: 'apq',
    body: json({ extensions: { persistedQuery: { version: 1, sha256Hash: 'zz' } } }),
  });
  add({ name: 'APQ extension a string', category: 'apq', body: json({ extensions: { persistedQuery: 'x' } }) });
  add({
    name: 'APQ registering a 900 KB document',
    category: 'apq',
    body: json({
      query: `{ me { id } } # ${'x'.repeat(900_000)}`,
      extensions: { persistedQuery: { version: 1, sha256Hash: 'c'.repeat(64) } },
    }),
  });

  // Introspection (off in production).
  add({
    name: 'introspection: full schema',
    category: 'introspection',
    body: gql('{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }'),
  });
  add({
    name: 'introspection: deep ofType chain',
    category: 'introspection',
    body: gql(`{ __schema { types { ${'fields { type { ofType { '.repeat(10)}name${' } } }'.repeat(10)} } } }`),
  });
  add({
    name: 'introspection: __type',
    category: 'introspection',
    body: gql('{ __type(name: "User") { fields { name } } }'),
  });

  // Malformed requests.
  add({ name: 'not JSON', category: 'malformed', body: '{"query": "{ me { id } }"' });
  add({ name: 'empty body', category: 'malformed', body: '' });
  add({ name: 'JSON null', category: 'malformed', body: 'null' });
  add({ name: 'JSON number', category: 'malformed', body: '42' });
  add({ name: 'JSON string', category: 'malformed', body: '"{ me { id } }"' });
  add({ name: 'query a number', category: 'malformed', body: json({ query: 42 }) });
  add({ name: 'query an object', category: 'malformed', body: json({ query: { a: 1 } }) });
  add({ name: 'variables a string', category: 'malformed', body: json({ query: '{ me { id } }', variables: 'x' }) });
  add({ name: 'variables an array', category: 'malformed', body: json({ query: '{ me { id } }', variables: [1, 2] }) });
  add({ name: 'no query at all', category: 'malformed', body: json({}) });
  add({
    name: 'a batch of 1,000 operations',
    category: 'malformed',
    body: json(Array.from({ length: 1_000 }, () => ({ query: '{ me { id } }' }))),
  });
  add({ name: 'invalid UTF-8', category: 'malformed', body: '{"query":"{ me { id } \uDFFF }"}' });
  add({ name: 'a syntax error', category: 'malformed', body: gql('{ me { id }') });
  add({ name: '5,000 syntax errors in a row', category: 'malformed', body: gql(`{ ${times(5_000, () => ')')} }`) });
  add({
    name: 'a text/plain body',
    category: 'malformed',
    body: gql('{ me { id } }'),
    headers: { 'content-type': 'text/plain' },
  });
  add({
    name: 'wrong variable types',
    category: 'malformed',
    body: json({ query: 'query ($n: Int!) { users(first: $n) { totalCount } }', variables: { n: 'many' } }),
  });
  add({ name: '1,000 unknown fields', category: 'validation', body: gql(`{ ${times(1_000, (i) => `nope${i}`)} }`) });
  add({
    name: '199 unknown fields in one selection',
    category: 'validation',
    body: gql(`{ me { ${times(199, (i) => `nope${i}`)} } }`),
  });
  add({
    name: 'a bad bearer token',
    category: 'auth',
    body: gql('{ me { id } }'),
    headers: { authorization: 'Bearer not-a-token' },
  });
  add({
    name: 'alg none',
    category: 'auth',
    body: gql('{ me { id } }'),
    headers: {
      authorization: `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1","scope":"admin"}').toString('base64url')}.`,
    },
  });
  add({
    name: 'a 64 KB authorization header',
    category: 'auth',
    body: gql('{ me { id } }'),
    headers: { authorization: `Bearer ${'a'.repeat(64 * 1024)}` },
  });

  // GET requests.
  add({
    name: 'GET with depth 200',
    category: 'get',
    method: 'GET',
    search: `query=${encodeURIComponent(userOrdersChain(200))}`,
  });
  add({
    name: 'GET with 1,000 aliases',
    category: 'get',
    method: 'GET',
    search: `query=${encodeURIComponent(`{ ${times(1_000, (i) => `a${i}: me { id }`)} }`)}`,
  });
  add({
    name: 'GET with a mutation',
    category: 'get',
    method: 'GET',
    search: `query=${encodeURIComponent('mutation { createUser(input: { name: "x", email: "get@example.com" }) { id } }')}`,
  });

  // Each limit at exactly its value passes; one past it is refused (the edges of the defaults).
  add({
    name: '30 aliases (at the limit)',
    category: 'edges',
    body: gql(`{ me { ${times(30, (i) => `a${i}: id`)} } }`),
  });
  add({
    name: '20 root fields (at the limit)',
    category: 'edges',
    body: gql(`{ ${times(20, (i) => `m${i}: me { id }`)} }`),
  });
  add({ name: 'depth 15 (at the limit)', category: 'edges', body: gql(userOrdersChain(11, 2)) });
  add({ name: '100 selections (at the limit)', category: 'edges', body: gql(`{ me { ${times(100, () => 'id')} } }`) });
  add({
    name: '10 directives (at the limit)',
    category: 'edges',
    body: gql(`{ me ${times(10, () => '@include(if: true)')} { id } }`),
  });
  add({
    name: '100 fragments (at the limit)',
    category: 'edges',
    body: gql(`{ me { ...F0 } } ${times(100, (i) => `fragment F${i} on User { id }`)}`),
  });
  for (const size of [1, 10, 100])
    add({
      name: `an ordinary page of ${size} users with their orders`,
      category: 'ordinary',
      body: gql(
        `{ users(first: ${size}) { edges { node { name orders(first: 3) { edges { node { totalCents items { product { name } } } } } } } } }`,
      ),
      asUser: '1',
    });
  for (const name of ['Anvil', 'x'.repeat(10_000), '"; DROP TABLE users; --', '\u0000\u0001'])
    add({
      name: `createUser with a hostile name (${name.length} chars)`,
      category: 'input',
      body: json({
        query: 'mutation ($n: String!) { createUser(input: { name: $n, email: "hostile-input@example.com" }) { id } }',
        variables: { n: name },
      }),
    });

  // Signed-in variants of the worst shapes: a token must not buy more.
  const worst = [
    'aliases',
    'depth',
    'cost',
    'fields',
    'field merging',
    'fragments',
    'directives',
    'tokens',
    'mutations',
  ];
  for (const request of corpus.filter((entry) => worst.includes(entry.category) && !entry.asUser))
    add({ ...request, name: `${request.name}, signed in`, asUser: '3' });
  // Mutations a signed-in client might try to multiply.
  for (const count of [2, 5, 10, 21, 100])
    add({
      name: `${count} aliased placeOrder mutations, signed in`,
      category: 'mutations',
      asUser: '4',
      body: gql(
        `mutation { ${times(count, (i) => `o${i}: placeOrder(input: { items: [{ sku: "SKU-0002", quantity: 1 }] }) { id }`)} }`,
      ),
    });
  return corpus;
}
