import { badInput } from '../../lib/errors';

/** Relay-style connection pages. Cursors are opaque (base64url of the sort key). */
export const MAX_PAGE_SIZE = 100;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

export function pageSize(first: number | null | undefined): number {
  const size = first ?? 20;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw badInput('first', `\`first\` must be between 1 and ${MAX_PAGE_SIZE}, got ${size}`);
  }
  return size;
}

export function encodeCursor(key: string | number): string {
  return Buffer.from(`c:${key}`).toString('base64url');
}

export function decodeCursor(after: string | null | undefined): string | undefined {
  if (after === undefined || after === null) return undefined;
  const decoded = Buffer.from(after, 'base64url').toString('utf8');
  if (!decoded.startsWith('c:') || encodeCursor(decoded.slice(2)) !== after) {
    throw badInput('after', '`after` is not a cursor returned by this connection');
  }
  return decoded.slice(2);
}

export function decodeIntegerCursor(after: string | null | undefined): number | undefined {
  const key = decodeCursor(after);
  if (key === undefined) return undefined;
  const value = Number(key);
  if (!Number.isSafeInteger(value)) throw badInput('after', '`after` is not a cursor returned by this connection');
  return value;
}

/**
 * Builds a page from `rows`, fetched with one extra row past the page so `hasNextPage` needs no second query.
 */
export function toConnection<Row, Node>(
  rows: Row[],
  size: number,
  totalCount: number,
  cursorOf: (row: Row) => string | number,
  toNode: (row: Row) => Node,
): Connection<Node> {
  const page = rows.slice(0, size);
  const edges = page.map((row) => ({ cursor: encodeCursor(cursorOf(row)), node: toNode(row) }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > size, endCursor: edges.at(-1)?.cursor ?? null },
    totalCount,
  };
}
