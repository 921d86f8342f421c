import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type http from 'node:http';
import type { DocumentLimits } from '../../lib/config';
import { ANONYMOUS } from '../../lib/identity';
import { createDocumentLimits } from '../../gateway/edge/document-limits';
import { checkDocument, checkVariables } from '../../lib/document-limits';
import { checkPersistedQuery, resolveOperation } from '../../gateway/edge/operation';
import { graphQLParams, type EdgeRequest } from '../../gateway/edge/request';
import { createTrustedDocuments, documentId } from '../../gateway/edge/trusted-documents';

/** The shipped defaults (lib/config.ts). */
const LIMITS: DocumentLimits = {
  maxDocumentBytes: 131_072,
  maxTokens: 15_000,
  maxDepth: 15,
  maxAliases: 30,
  maxRootFields: 20,
  maxFieldsPerSelection: 100,
  maxDirectives: 10,
  maxFragments: 100,
  maxOperations: 10,
  maxFields: 2_000,
  maxVariableValues: 10_000,
};

const rejection = (query: string, limits: DocumentLimits = LIMITS) => {
  const verdict = checkDocument(query, limits);
  return verdict.kind === 'rejected' ? verdict.rejection : undefined;
};
const nested = (depth: number, field = 'a') =>
  `{ ${`${field} { `.repeat(depth - 1)}${field}${' }'.repeat(depth - 1)} }`;
const post = (body: unknown): EdgeRequest => {
  const req = { method: 'POST', url: '/graphql', headers: {} } as http.IncomingMessage;
  return { req, caller: ANONYMOUS, body, params: graphQLParams(req, body) };
};

describe('document limits', () => {
  it('lets an ordinary query through and hands its document on', () => {
    const request = post({ query: '{ users(first: 5) { edges { node { id name } } } }' });
    expect(createDocumentLimits(LIMITS).check(request)).toBeUndefined();
    expect(request.document?.definitions).toHaveLength(1);
  });

  it.each([
    ['depth', nested(16), 'maxDepth', 16],
    ['aliases', `{ me { ${Array.from({ length: 31 }, (_, i) => `a${i}: name`).join(' ')} } }`, 'maxAliases', 31],
    ['root fields', `{ ${Array.from({ length: 21 }, (_, i) => `f${i}`).join(' ')} }`, 'maxRootFields', 21],
    ['selections in one set', `{ me { ${'name '.repeat(101)} } }`, 'maxFieldsPerSelection', 101],
    ['length', `{ me { id } } # ${'x'.repeat(131_072)}`, 'maxDocumentBytes', 131_072 + 16],
    ['operations', Array.from({ length: 11 }, (_, i) => `query Q${i} { me { id } }`).join(' '), 'maxOperations', 11],
    ['directives on one field', `{ me ${'@include(if: true) '.repeat(11)} { id } }`, 'maxDirectives', 11],
    [
      'fragment definitions',
      `{ me { id } } ${Array.from({ length: 101 }, (_, i) => `fragment F${i} on User { id }`).join(' ')}`,
      'maxFragments',
      101,
    ],
  ])('refuses a document over the %s limit, naming the limit and the value found', (_name, query, limit, found) => {
    expect(rejection(query)).toMatchObject({
      status: 400,
      code: 'DOCUMENT_LIMIT_EXCEEDED',
      extensions: { limit, found, maximum: LIMITS[limit as keyof DocumentLimits] },
    });
    expect(rejection(query)!.message).toContain(`(${found})`);
  });

  it('counts depth and aliases through fragments, spread as many times as they are', () => {
    const fragments = `fragment Deep on User { orders { edges { node { user { orders { edges { node { id } } } } } } } }`;
    const limits = { ...LIMITS, maxDepth: 10 };
    // me + the fragment's 8 levels = 9: within 10; the same under four more levels is 13.
    expect(rejection(`{ me { ...Deep } } ${fragments}`, limits)).toBeUndefined();
    expect(rejection(`{ me { orders { edges { node { user { ...Deep } } } } } } ${fragments}`, limits)).toMatchObject({
      extensions: { limit: 'maxDepth', found: 13 },
    });
    const aliased = `fragment Two on User { a: id b: name } { me { ...Two } u1: user(id: "1") { ...Two } }`;
    expect(rejection(aliased, { ...LIMITS, maxAliases: 4 })).toMatchObject({
      extensions: { limit: 'maxAliases', found: 5 },
    });
  });

  it('measures a fragment bomb without expanding it, and stops at fragment cycles', () => {
    // Each level spreads the next twice: 2^40 aliased fields if expanded.
    const levels = Array.from(
      { length: 40 },
      (_, i) => `fragment L${i} on User { ${i === 39 ? 'x: id' : `...L${i + 1} ...L${i + 1}`} }`,
    ).join('\n');
    expect(rejection(`{ me { ...L0 } }\n${levels}`)).toMatchObject({ extensions: { limit: 'maxAliases' } });
    // Without aliases, the expanded field count refuses it.
    const plain = levels.replace('x: id', 'id');
    expect(rejection(`{ me { ...L0 } }\n${plain}`)).toMatchObject({
      extensions: { limit: 'maxFields', found: 2 ** 39 + 1 },
    });
    expect(rejection(`{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }`)).toBeUndefined();
  });

  it('refuses nesting that would overflow the parser with a 400, not a stack overflow', () => {
    // The length limit would refuse these first; without it, the nesting scan does, before the parser.
    const unbounded = { ...LIMITS, maxDocumentBytes: 100_000_000 };
    for (const depth of [1_000, 100_000]) {
      expect(rejection(nested(depth), unbounded)).toMatchObject({ status: 400, extensions: { limit: 'maxDepth' } });
    }
    // Nested argument values too.
    expect(
      rejection(`{ search(filter: ${'{a: '.repeat(5_000)}1${'}'.repeat(5_000)}) { id } }`, unbounded),
    ).toMatchObject({
      extensions: { limit: 'maxDepth' },
    });
  });

  it('ignores brackets inside strings and comments when measuring nesting', () => {
    const query = `# {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{
      { product(sku: "{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{") { name description(format: """{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{""") } }`;
    expect(rejection(query)).toBeUndefined();
  });

  it('stops parsing at the token limit', () => {
    const query = `{ ${'a,'.repeat(20_000)} }`;
    expect(rejection(query)).toMatchObject({ extensions: { limit: 'maxTokens', maximum: 15_000 } });
  });

  it('counts variable values (scalars, list items, object fields) and refuses more than the limit before coercion', () => {
    const request = post({
      query: 'query ($s: [ID!]!) { __typename }',
      variables: { s: Array.from({ length: 10_000 }, (_, i) => String(i)) },
    });
    // 10,001 values: the list and its 10,000 items.
    expect(createDocumentLimits(LIMITS).check(request)).toMatchObject({
      status: 400,
      code: 'DOCUMENT_LIMIT_EXCEEDED',
      extensions: { limit: 'maxVariableValues', maximum: 10_000, found: 'more than 10000' },
    });
    expect(checkVariables({ s: Array.from({ length: 9_999 }, () => 'x') }, LIMITS)).toBeUndefined();
    expect(checkVariables({ a: { b: [{ c: 1 }, { c: 2 }] } }, { maxVariableValues: 6 })).toBeUndefined();
    expect(checkVariables({ a: { b: [{ c: 1 }, { c: 2 }] } }, { maxVariableValues: 5 })).toBeDefined();
    // JSON nested far deeper than any recursion could follow is counted without overflowing the stack.
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`) as unknown;
    expect(checkVariables({ s: deep }, LIMITS)).toMatchObject({ extensions: { limit: 'maxVariableValues' } });
    expect(checkVariables({ s: deep }, { maxVariableValues: 1_000_000 })).toBeUndefined();
  });

  it('leaves syntax errors to Apollo Server, which reports GRAPHQL_PARSE_FAILED', () => {
    expect(checkDocument('{ me { id }', LIMITS)).toEqual({ kind: 'unparsable' });
  });

  it('measures every operation of the document, not only the one to run', () => {
    expect(rejection(`query Small { me { id } } query Big ${nested(20)}`)).toMatchObject({
      extensions: { limit: 'maxDepth' },
    });
  });

  it('lets every client operation of the shop through with the defaults', () => {
    // Each as a client sends it: the operation with the fragments it spreads (the trusted documents manifest).
    const manifest = JSON.parse(
      fs.readFileSync(path.join(__dirname, '../../schema/trusted-documents.json'), 'utf8'),
    ) as { operations: { name: string; body: string }[] };
    expect(manifest.operations.length).toBeGreaterThan(10);
    for (const operation of manifest.operations)
      expect([operation.name, rejection(operation.body)]).toEqual([operation.name, undefined]);
  });
});

describe('operation resolution and persisted queries', () => {
  const resolved = (body: unknown) => {
    const request = post(body);
    createDocumentLimits(LIMITS).check(request);
    return { rejection: resolveOperation(request), request };
  };

  it('picks the only operation, or the named one', () => {
    expect(resolved({ query: 'query A { me { id } }' }).request.operation?.name?.value).toBe('A');
    expect(resolved({ query: 'query A { a } query B { b }', operationName: 'B' }).request.operation?.name?.value).toBe(
      'B',
    );
  });

  it('refuses several operations without a name, and an unknown name, with 400 OPERATION_RESOLUTION_FAILURE', () => {
    expect(resolved({ query: 'query A { a } query B { b }' }).rejection).toMatchObject({
      status: 400,
      code: 'OPERATION_RESOLUTION_FAILURE',
      extensions: { operationNames: ['A', 'B'] },
    });
    expect(resolved({ query: 'query A { a }', operationName: 'Z' }).rejection).toMatchObject({
      status: 400,
      code: 'OPERATION_RESOLUTION_FAILURE',
    });
  });

  it('refuses a subscription over plain HTTP with 400 SUBSCRIPTION_OVER_HTTP', () => {
    expect(resolved({ query: 'subscription { orderUpdated { id } }' }).rejection).toMatchObject({
      status: 400,
      code: 'SUBSCRIPTION_OVER_HTTP',
    });
  });

  it('refuses malformed persisted queries and hashes that do not match', () => {
    const query = '{ me { id } }';
    const hash = documentId(query);
    const check = (extensions: unknown, text?: string) => checkPersistedQuery(post({ query: text, extensions }));
    expect(check({ persistedQuery: { version: 1, sha256Hash: hash } }, query)).toBeUndefined();
    expect(check({ persistedQuery: { version: 1, sha256Hash: hash } })).toBeUndefined();
    expect(check({ persistedQuery: { version: 2, sha256Hash: hash } }, query)).toMatchObject({
      code: 'PERSISTED_QUERY_INVALID',
    });
    expect(check({ persistedQuery: { version: 1, sha256Hash: 'abc' } })).toMatchObject({
      code: 'PERSISTED_QUERY_INVALID',
    });
    expect(check({ persistedQuery: { version: 1, sha256Hash: 'f'.repeat(64) } }, query)).toMatchObject({
      status: 400,
      code: 'PERSISTED_QUERY_HASH_MISMATCH',
    });
  });
});

describe('trusted documents', () => {
  const known = 'query Me { me { id name } }';
  let dir: string;
  let manifestPath: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trusted-'));
    manifestPath = path.join(dir, 'manifest.json');
    fs.writeFileSync(
      manifestPath,
      JSON.stringify({
        format: 'apollo-persisted-query-manifest',
        version: 1,
        operations: [{ id: documentId(known), name: 'Me', type: 'query', body: known }],
      }),
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const spy = () => {
    const results: string[] = [];
    const unknown: string[] = [];
    return {
      results,
      unknown,
      events: { onDocument: (r: string) => results.push(r), onFirstUnknown: (id: string) => unknown.push(id) },
    };
  };

  it('in enforce mode, runs a known document sent by text or by id, and refuses anything else with 400', () => {
    const { results, events } = spy();
    const trusted = createTrustedDocuments({ mode: 'enforce', manifestPath }, events);
    expect(trusted.check(post({ query: known }))).toBeUndefined();
    const byId = post({ extensions: { persistedQuery: { version: 1, sha256Hash: documentId(known) } } });
    expect(trusted.check(byId)).toBeUndefined();
    // The id is replaced by the manifest's text, so Apollo runs it as an ordinary query.
    expect(byId.body).toEqual({ query: known, extensions: {} });
    const byDocumentId = post({ documentId: documentId(known) });
    expect(trusted.check(byDocumentId)).toBeUndefined();
    expect(byDocumentId.body).toEqual({ query: known });
    expect(trusted.check(post({ query: '{ me { email } }' }))).toMatchObject({
      status: 400,
      code: 'PERSISTED_QUERY_NOT_IN_LIST',
    });
    expect(trusted.check(post({ documentId: 'f'.repeat(64) }))).toMatchObject({ code: 'PERSISTED_QUERY_NOT_IN_LIST' });
    expect(results).toEqual(['known', 'known', 'known', 'rejected', 'rejected']);
  });

  it('in allow-unknown mode, runs unknown documents and reports each once', () => {
    const { results, unknown, events } = spy();
    const trusted = createTrustedDocuments({ mode: 'allow-unknown', manifestPath }, events);
    for (const query of [known, '{ me { email } }', '{ me { email } }', '{ me { id } }'])
      expect(trusted.check(post({ query }))).toBeUndefined();
    expect(results).toEqual(['known', 'unknown', 'unknown', 'unknown']);
    expect(unknown).toEqual([documentId('{ me { email } }'), documentId('{ me { id } }')]);
  });

  it('refuses a manifest whose id is not the hash of its body, naming the operation', () => {
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(
      bad,
      JSON.stringify({
        format: 'apollo-persisted-query-manifest',
        version: 1,
        operations: [{ id: 'f'.repeat(64), name: 'Me', type: 'query', body: known }],
      }),
    );
    expect(() => createTrustedDocuments({ mode: 'enforce', manifestPath: bad }, spy().events)).toThrow(
      'operations[0] ("Me"): id is not the SHA-256 of body',
    );
    expect(() =>
      createTrustedDocuments({ mode: 'enforce', manifestPath: path.join(dir, 'none.json') }, spy().events),
    ).toThrow(/TRUSTED_DOCUMENTS_MANIFEST: cannot read/);
  });
});
