import zlib from 'node:zlib';
import { Agent } from 'undici';
import { messageOf } from '../../lib/errors';

/**
 * The gateway's HTTP client to subgraphs: one keep-alive connection pool per origin (undici), so a fetch costs
 * no TCP handshake, TLS or DNS work after warm-up; compressed responses are accepted and inflated when a
 * subgraph offers them. Much cheaper per request than the node-fetch path of Apollo's default data source.
 */
export interface SubgraphResponse {
  status: number;
  /** The response body as text (already decompressed). */
  body: string;
}

export class SubgraphRequestError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'circuit-open',
  ) {
    super(message);
    this.name = 'SubgraphRequestError';
  }
}

export interface SubgraphHttpClient {
  post(url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<SubgraphResponse>;
  close(): Promise<void>;
}

const MAX_TARGETS = 1_000;

export function createSubgraphHttpClient(options: { connectionsPerOrigin?: number } = {}): SubgraphHttpClient {
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? 64,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });
  // undici's `request(url)` parses the URL on every call; a gateway talks to a handful of URLs.
  const targets = new Map<string, { origin: string; path: string }>();
  const targetOf = (url: string) => {
    let target = targets.get(url);
    if (target === undefined) {
      const parsed = new URL(url);
      target = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      if (targets.size >= MAX_TARGETS) targets.clear();
      targets.set(url, target);
    }
    return target;
  };
  return {
    async post(url, body, headers, timeoutMs) {
      let response;
      try {
        const { origin, path } = targetOf(url);
        response = await agent.request({
          origin,
          path,
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            accept: 'application/graphql-response+json, application/json',
            'accept-encoding': 'gzip, br, deflate',
            ...headers,
          },
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
      } catch (error) {
        const code = (error as { code?: string }).code;
        const timedOut = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
        throw new SubgraphRequestError(messageOf(error), timedOut ? 'timeout' : 'network');
      }
      let raw: Buffer;
      try {
        raw = Buffer.from(await response.body.arrayBuffer());
      } catch (error) {
        const code = (error as { code?: string }).code;
        throw new SubgraphRequestError(messageOf(error), code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'network');
      }
      const encoding = response.headers['content-encoding'];
      return { status: response.statusCode, body: decode(raw, typeof encoding === 'string' ? encoding : undefined) };
    },
    close: () => agent.close(),
  };
}

function decode(raw: Buffer, encoding: string | undefined): string {
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(raw).toString('utf8');
    case 'br':
      return zlib.brotliDecompressSync(raw).toString('utf8');
    case 'deflate':
      return zlib.inflateSync(raw).toString('utf8');
    default:
      return raw.toString('utf8');
  }
}
