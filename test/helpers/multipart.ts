/**
 * A client for incremental delivery (`multipart/mixed; deferSpec=20220824`), as Apollo Client reads it: the
 * payloads in arrival order, and the result they merge into (each incremental item's data merged at its path).
 */
export interface IncrementalResponse {
  status: number;
  contentType: string;
  /** Each part's JSON, in the order the parts arrived. */
  parts: Record<string, unknown>[];
  /** How many parts had arrived when each chunk of the body was read (shows parts arrive separately). */
  partsPerChunk: number[];
}

export const ACCEPT_INCREMENTAL = 'multipart/mixed; deferSpec=20220824, application/json';

export async function postIncremental(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
  /** Called as each part arrives, before the rest of the body is read. */
  onPart?: (part: Record<string, unknown>, index: number) => void,
): Promise<IncrementalResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: ACCEPT_INCREMENTAL, ...headers },
    body: JSON.stringify(body),
  });
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('multipart/mixed')) {
    return {
      status: response.status,
      contentType,
      parts: [(await response.json()) as Record<string, unknown>],
      partsPerChunk: [1],
    };
  }
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const delimiter = `\r\n--${boundary}`;
  const parts: Record<string, unknown>[] = [];
  const partsPerChunk: number[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  let closed = false;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    // A part is complete once the next delimiter has arrived; the closing one ends with `--`.
    for (;;) {
      const start = buffer.indexOf(delimiter);
      if (start === -1) break;
      const next = buffer.indexOf(delimiter, start + delimiter.length);
      if (next === -1) break;
      const part = buffer.slice(start + delimiter.length, next);
      buffer = buffer.slice(next);
      const separator = part.indexOf('\r\n\r\n');
      parts.push(JSON.parse(part.slice(separator + 4)) as Record<string, unknown>);
      onPart?.(parts[parts.length - 1]!, parts.length - 1);
    }
    if (buffer.startsWith(`${delimiter}--`)) closed = true;
    partsPerChunk.push(parts.length);
  }
  if (!closed) throw new Error(`multipart body did not end with the closing delimiter: ${JSON.stringify(buffer)}`);
  return { status: response.status, contentType, parts, partsPerChunk };
}

/** The result the parts merge into, as a client merges them. */
export function mergeIncremental(parts: Record<string, unknown>[]): Record<string, unknown> {
  const [initial, ...rest] = parts;
  const data = structuredClone(initial?.data ?? null) as Record<string, unknown> | null;
  const errors = [...((initial?.errors as unknown[]) ?? [])];
  for (const part of rest) {
    for (const item of (part.incremental as { data: unknown; path: (string | number)[]; errors?: unknown[] }[]) ?? []) {
      if (item.errors) errors.push(...item.errors);
      let target: unknown = data;
      for (const key of item.path) target = (target as Record<string | number, unknown>)[key];
      if (item.data && target) deepMerge(target as Record<string, unknown>, item.data as Record<string, unknown>);
    }
    if (part.errors) errors.push(...(part.errors as unknown[]));
  }
  return errors.length > 0 ? { data, errors } : { data };
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (existing && typeof existing === 'object' && value && typeof value === 'object') {
      if (Array.isArray(existing) && Array.isArray(value))
        value.forEach((element, index) => {
          if (existing[index] && typeof existing[index] === 'object' && element && typeof element === 'object')
            deepMerge(existing[index] as Record<string, unknown>, element as Record<string, unknown>);
          else existing[index] = element;
        });
      else deepMerge(existing as Record<string, unknown>, value as Record<string, unknown>);
    } else target[key] = value;
  }
}
