import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import type { ErrorCode } from './errors';

/**
 * A small node:http integration for Apollo Server: no framework between the socket and the GraphQL engine,
 * so the hot path is one body read, one JSON parse and one write.
 */
export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

/** A GraphQL-shaped error response, for failures before the request reaches the GraphQL engine. */
export function sendGraphQLError(res: http.ServerResponse, status: number, code: ErrorCode, message: string) {
  sendJson(res, status, { errors: [{ message, extensions: { code } }] });
}

export async function readBody(req: http.IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) {
    throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `Request body is larger than ${limitBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limitBytes)
      throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `Request body is larger than ${limitBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

export function toHeaderMap(req: http.IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

/** Parses a POST body as JSON; a malformed body is the client's error (400), never a crash. */
export async function readGraphQLBody(req: http.IncomingMessage, limitBytes: number): Promise<unknown> {
  if (req.method !== 'POST') return undefined;
  const raw = await readBody(req, limitBytes);
  const type = req.headers['content-type'] ?? '';
  if (!type.includes('json')) return raw.toString('utf8');
  if (raw.length === 0) throw new HttpError(400, 'BAD_REQUEST', 'Request body is empty; expected a JSON object');
  const text = raw.toString('utf8');
  // Deeply nested JSON parses, but everything that walks it afterwards (variable coercion, keys, logging)
  // recurses: refused here, in one pass, instead of overflowing a stack later.
  if (jsonNestingOver(text, MAX_JSON_NESTING))
    throw new HttpError(400, 'BAD_REQUEST', `Request body is nested more than ${MAX_JSON_NESTING} levels deep`);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BAD_REQUEST', 'Request body is not valid JSON');
  }
}

const MAX_JSON_NESTING = 128;

/** Whether JSON text nests objects and arrays deeper than `limit` (strings skipped). */
export function jsonNestingOver(text: string, limit: number): boolean {
  let depth = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x7b || code === 0x5b) {
      if (++depth > limit) return true;
    } else if (code === 0x7d || code === 0x5d) depth--;
    else if (code === 0x22) {
      for (index++; index < text.length; index++) {
        const inner = text.charCodeAt(index);
        if (inner === 0x5c) index++;
        else if (inner === 0x22) break;
      }
    }
  }
  return false;
}

export interface GraphQLHttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  /**
   * `body` encoded as UTF-8, filled in by the first `writeGraphQLResult`: a result shared by several waiting
   * requests (inbound deduplication) is encoded once, not once per waiter.
   */
  bytes?: Buffer;
}

/** Runs one GraphQL HTTP request through Apollo Server and returns the whole response. */
export async function runGraphQL<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  req: http.IncomingMessage,
  body: unknown,
  context: () => Promise<TContext>,
): Promise<GraphQLHttpResult> {
  const url = req.url ?? '/';
  const queryStart = url.indexOf('?');
  const response = await server.executeHTTPGraphQLRequest({
    httpGraphQLRequest: {
      method: (req.method ?? 'GET').toUpperCase(),
      headers: toHeaderMap(req),
      search: queryStart === -1 ? '' : url.slice(queryStart),
      body,
    },
    context,
  });
  const headers: Record<string, string> = {};
  for (const [key, value] of response.headers) headers[key] = value;
  let text: string;
  if (response.body.kind === 'complete') text = response.body.string;
  else {
    text = '';
    for await (const chunk of response.body.asyncIterator) text += chunk;
  }
  return { status: response.status ?? 200, headers, body: text };
}

/**
 * Encodes the body once and writes the bytes: the length comes from the buffer, so the text (often hundreds
 * of KB) is walked once instead of twice (`Buffer.byteLength`, then the socket's own encoding).
 */
export function writeGraphQLResult(res: http.ServerResponse, result: GraphQLHttpResult): void {
  const bytes = (result.bytes ??= Buffer.from(result.body, 'utf8'));
  res.writeHead(result.status, { ...result.headers, 'content-length': bytes.length });
  res.end(bytes);
}

export async function executeGraphQL<TContext extends BaseContext>(
  server: ApolloServer<TContext>,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: unknown,
  context: () => Promise<TContext>,
): Promise<void> {
  writeGraphQLResult(res, await runGraphQL(server, req, body, context));
}

/** Routes by path; unknown paths get a JSON 404; a handler that throws gets a JSON 500 and a log line. */
export function createRouter(
  routes: Record<string, RouteHandler>,
  onError: (error: unknown, req: http.IncomingMessage) => void,
): http.RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    const queryStart = url.indexOf('?');
    const pathname = queryStart === -1 ? url : url.slice(0, queryStart);
    const handler = routes[pathname];
    if (!handler) {
      sendGraphQLError(res, 404, 'NOT_FOUND', `No route for ${pathname}`);
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => {
        if (error instanceof HttpError) {
          if (!res.headersSent) sendGraphQLError(res, error.status, error.code, error.message);
          return;
        }
        onError(error, req);
        if (!res.headersSent) sendGraphQLError(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error');
        else res.destroy();
      });
  };
}

export interface ListeningServer {
  server: http.Server;
  port: number;
  url: string;
  /** Requests being answered right now. */
  inFlight(): number;
  /** Requests received since the server started listening. */
  received(): number;
  /**
   * Shutdown has begun: from now on `/readyz` answers 503 `{"status":"draining"}`, and every response (those of
   * requests already in flight included) carries `Connection: close`, so keep-alive clients reconnect, through a
   * load balancer that has taken this replica out. Everything else is served as before.
   */
  drain(): void;
  /**
   * Stops accepting connections and resolves once every connection has closed: requests in flight are answered,
   * idle keep-alive connections are closed. Before `drain()` (tests), connections still open after 2 s are cut.
   */
  close(): Promise<void>;
  /** Cuts every connection, answered or not: the shutdown deadline has passed. */
  destroyConnections(): void;
}

/**
 * After the listener closed, how long a connection with no request in progress may still deliver one. The kernel
 * hands Node a new connection one event-loop turn before Node reads its first bytes, so a client that connected
 * just before the close may have its request on the wire while the connection still looks idle; closing such
 * connections at once (what `http.Server.close()` does) fails requests that had been accepted.
 */
const IDLE_GRACE_MS = 250;
/** Without a drain (tests closing their servers), how long requests in flight get before their connections are cut. */
const UNDRAINED_CLOSE_MS = 2_000;

/** Listens (port 0 picks a free one) and returns the server with its draining and closing controls. */
export async function listen(listener: http.RequestListener, port: number, host: string): Promise<ListeningServer> {
  const pending = new Set<http.ServerResponse>();
  let received = 0;
  let draining = false;
  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    received++;
    pending.add(res);
    res.once('close', () => pending.delete(res));
    if (draining) {
      res.setHeader('connection', 'close');
      if (req.url === '/readyz' || req.url?.startsWith('/readyz?')) {
        sendJson(res, 503, { status: 'draining' });
        return;
      }
    }
    listener(req, res);
  });
  // Requests Node refuses before any handler runs (headers or URL over its 16 KiB limit, malformed HTTP) still
  // get a JSON answer with a code, like every other refusal.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({
      errors: [
        {
          message: tooLarge ? 'Request headers (or URL) are too large' : 'Malformed HTTP request',
          extensions: { code: tooLarge ? 'REQUEST_HEADERS_TOO_LARGE' : 'BAD_REQUEST' },
        },
      ],
    });
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  let closed: Promise<void> | undefined;
  return {
    server,
    port: address.port,
    url: `http://${shownHost}:${address.port}`,
    inFlight: () => pending.size,
    received: () => received,
    drain() {
      draining = true;
      for (const res of pending) if (!res.headersSent) res.setHeader('connection', 'close');
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        if (!draining) {
          server.close(() => resolve());
          setTimeout(() => server.closeAllConnections(), UNDRAINED_CLOSE_MS).unref();
          return;
        }
        // The base class's close stops accepting without http.Server's immediate sweep of idle connections. The
        // sweep repeats for connections that go idle later: a response whose headers left before the drain began
        // kept its connection alive.
        const sweep = setInterval(() => server.closeIdleConnections(), IDLE_GRACE_MS).unref();
        net.Server.prototype.close.call(server, () => {
          clearInterval(sweep);
          resolve();
        });
      });
      return closed;
    },
    destroyConnections: () => server.closeAllConnections(),
  };
}
