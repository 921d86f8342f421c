import { LRUCache } from 'lru-cache';
import type { DocumentLimits } from '../../lib/config';
import { checkDocument, checkVariables, type DocumentVerdict } from '../../lib/document-limits';
import type { EdgeRequest, StageResult } from './request';

/**
 * The document-limits stage (see `lib/document-limits.ts` for the limits and why): parses the request's
 * query once, with bounded tokens and nesting, measures it, and keeps the document for the later stages.
 * Verdicts for documents up to 16 KiB are remembered by text (bounded by size), so a client repeating its
 * queries pays for the check once.
 */
export type DocumentLimitsOptions = DocumentLimits;

const REMEMBERED_TEXT_BYTES = 16 * 1024;

/** The document-limits stage: parses the request's query once and keeps the document for later stages. */
export function createDocumentLimits(limits: DocumentLimitsOptions) {
  // Bounded by the texts' size (an AST is roughly ten times its text), not only by count.
  const remembered = new LRUCache<string, DocumentVerdict>({
    max: 2_000,
    maxSize: 16 * 2 ** 20,
    sizeCalculation: (_verdict, query) => query.length * 10 + 64,
  });
  return {
    check(request: EdgeRequest): StageResult {
      const tooMany = checkVariables(request.params?.variables, limits);
      if (tooMany) return tooMany;
      const query = request.params?.query;
      if (query === undefined) return undefined;
      let verdict = query.length <= REMEMBERED_TEXT_BYTES ? remembered.get(query) : undefined;
      if (!verdict) {
        verdict = checkDocument(query, limits);
        if (query.length <= REMEMBERED_TEXT_BYTES) remembered.set(query, verdict);
      }
      if (verdict.kind === 'rejected') return verdict.rejection;
      if (verdict.kind === 'ok') request.document = verdict.document;
      return undefined;
    },
  };
}
