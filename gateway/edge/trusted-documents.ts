import crypto from 'node:crypto';
import fs from 'node:fs';
import type { TrustedDocumentsMode } from '../../lib/config';
import { messageOf, type ErrorCode } from '../../lib/errors';
import { reject, type EdgeRequest, type StageResult } from './request';

/**
 * Trusted documents (Apollo's "safelisting with persisted queries", Hive's "persisted documents"): the
 * gateway runs only the operations the organisation's clients ship.
 *
 * The manifest is Apollo's persisted query manifest format (`apollo-persisted-query-manifest`, version 1:
 * `operations: [{ id, name, type, body }]`, `id` the SHA-256 of `body`), written by `npm run schema --
 * manifest` from the client operations folder, or by Apollo's own client tooling. A client sends a document
 * by its id (`extensions.persistedQuery.sha256Hash` without `query`, as APQ does, or a `documentId` field)
 * or by full text that hashes to a known id.
 *
 * Modes (`TRUSTED_DOCUMENTS`): `off` (default); `allow-unknown`, for rolling out: every request runs, unknown
 * documents are counted and logged once each; `enforce`: an unknown document is refused with 400
 * `PERSISTED_QUERY_NOT_IN_LIST`, before it is even parsed.
 */
export interface TrustedDocumentsOptions {
  /** Default `off`. */
  mode: TrustedDocumentsMode;
  /** The manifest file; required unless the mode is `off`. Default `schema/trusted-documents.json`. */
  manifestPath: string;
}

export interface TrustedDocumentsManifest {
  format: 'apollo-persisted-query-manifest';
  version: 1;
  operations: { id: string; name: string; type: 'query' | 'mutation' | 'subscription'; body: string }[];
}

export const PERSISTED_QUERY_NOT_IN_LIST = 'PERSISTED_QUERY_NOT_IN_LIST' satisfies ErrorCode;

export const documentId = (body: string): string => crypto.createHash('sha256').update(body).digest('hex');

/** Reads and checks a manifest; the message names the file and what is wrong. */
export function readManifest(manifestPath: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (error) {
    throw new Error(`TRUSTED_DOCUMENTS_MANIFEST: cannot read '${manifestPath}': ${messageOf(error)}`);
  }
  const manifest = parsed as Partial<TrustedDocumentsManifest>;
  if (
    manifest?.format !== 'apollo-persisted-query-manifest' ||
    manifest.version !== 1 ||
    !Array.isArray(manifest.operations)
  )
    throw new Error(
      `TRUSTED_DOCUMENTS_MANIFEST: '${manifestPath}' is not an apollo-persisted-query-manifest, version 1`,
    );
  const documents = new Map<string, string>();
  for (const [index, operation] of manifest.operations.entries()) {
    if (typeof operation?.body !== 'string' || typeof operation.id !== 'string')
      throw new Error(`TRUSTED_DOCUMENTS_MANIFEST: operations[${index}] needs an "id" and a "body"`);
    if (documentId(operation.body) !== operation.id.toLowerCase())
      throw new Error(
        `TRUSTED_DOCUMENTS_MANIFEST: operations[${index}] ("${operation.name}"): id is not the SHA-256 of body`,
      );
    documents.set(operation.id.toLowerCase(), operation.body);
  }
  return documents;
}

export interface TrustedDocumentsEvents {
  /** `known`, `unknown` (run in allow-unknown) or `rejected` (enforce). */
  onDocument(result: 'known' | 'unknown' | 'rejected'): void;
  onFirstUnknown(id: string): void;
}

export function createTrustedDocuments(options: TrustedDocumentsOptions, events: TrustedDocumentsEvents) {
  const documents = options.mode === 'off' ? new Map<string, string>() : readManifest(options.manifestPath);
  // Bounded: one log line per distinct unknown document, up to this many.
  const reported = new Set<string>();
  return {
    /** Known ids, for tests and `/readyz`-style reporting. */
    size: documents.size,
    check(request: EdgeRequest): StageResult {
      if (options.mode === 'off') return undefined;
      const params = request.params;
      if (!params) return undefined;
      const body = request.body as { documentId?: unknown } | undefined;
      const persisted = params.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined;
      const requestedId =
        typeof body?.documentId === 'string'
          ? body.documentId
          : typeof persisted?.sha256Hash === 'string'
            ? persisted.sha256Hash
            : undefined;
      let id: string | undefined;
      if (params.query !== undefined) id = documentId(params.query);
      else if (requestedId !== undefined) id = requestedId.toLowerCase();
      const known = id !== undefined && documents.has(id);
      if (known) {
        events.onDocument('known');
        if (params.query === undefined) {
          // Sent by id: run the manifest's text (Apollo then treats it as an ordinary query).
          params.query = documents.get(id!);
          delete params.extensions?.persistedQuery;
          const rewritten = request.body;
          if (rewritten !== null && typeof rewritten === 'object' && !Array.isArray(rewritten)) {
            const record = rewritten as Record<string, unknown>;
            record.query = params.query;
            delete record.documentId;
            if (record.extensions && typeof record.extensions === 'object')
              delete (record.extensions as Record<string, unknown>).persistedQuery;
          }
        }
        return undefined;
      }
      if (options.mode === 'enforce') {
        events.onDocument('rejected');
        return reject(
          400,
          PERSISTED_QUERY_NOT_IN_LIST,
          'This gateway runs only trusted documents; this one is not in its manifest',
          {
            ...(id ? { documentId: id } : {}),
          },
        );
      }
      events.onDocument('unknown');
      if (id !== undefined && !reported.has(id) && reported.size < 10_000) {
        reported.add(id);
        events.onFirstUnknown(id);
      }
      return undefined;
    },
  };
}

/** The operation names of the manifest (none when trusted documents are off): metrics label them as themselves. */
export function manifestOperationNames(options: TrustedDocumentsOptions): string[] {
  if (options.mode === 'off') return [];
  try {
    const manifest = JSON.parse(fs.readFileSync(options.manifestPath, 'utf8')) as Partial<TrustedDocumentsManifest>;
    return (manifest.operations ?? []).flatMap((operation) =>
      typeof operation?.name === 'string' ? [operation.name] : [],
    );
  } catch {
    return []; // readManifest reports an unreadable manifest when the edge is built
  }
}
