/**
 * Serves one static subgraph on node:http as cheaply as graphql-js allows: each distinct query text is parsed
 * and validated once, then only executed. `GET /metrics` exports the two counters the bench reads from every
 * subgraph (HTTP requests and entity representations), `GET /readyz` answers 200. Signature headers the shop's
 * subgraphs would check are ignored, as any foreign subgraph would.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execute, parse, validate, type DocumentNode, type GraphQLError, type GraphQLSchema } from 'graphql';
import { buildStaticSubgraphSchema, type StaticSubgraphName } from './subgraphs';

interface GraphQLBody {
  query?: unknown;
  variables?: unknown;
  operationName?: unknown;
}

/** Distinct query texts kept parsed; gateways send a handful, so this bound is never reached in a bench. */
const DOCUMENT_CACHE_LIMIT = 1_000;

export interface StaticSubgraphServer {
  url: string;
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: string, contentType = 'application/json'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function errorBody(message: string): string {
  return JSON.stringify({ errors: [{ message }] });
}

export function createStaticSubgraphHandler(name: StaticSubgraphName): http.RequestListener {
  const schema: GraphQLSchema = buildStaticSubgraphSchema(name);
  const documents = new Map<string, DocumentNode | readonly GraphQLError[]>();
  let httpRequests = 0;
  let representations = 0;

  const documentFor = (query: string) => {
    let document = documents.get(query);
    if (document === undefined) {
      try {
        const parsed = parse(query);
        const errors = validate(schema, parsed);
        document = errors.length > 0 ? errors : parsed;
      } catch (error) {
        document = [error as GraphQLError];
      }
      if (documents.size < DOCUMENT_CACHE_LIMIT) documents.set(query, document);
    }
    return document;
  };

  const answer = async (text: string): Promise<{ status: number; body: string }> => {
    let body: GraphQLBody;
    try {
      body = JSON.parse(text) as GraphQLBody;
    } catch {
      return { status: 400, body: errorBody('the body is not JSON') };
    }
    if (typeof body.query !== 'string') return { status: 400, body: errorBody('no query') };
    const variables =
      typeof body.variables === 'object' && body.variables !== null ? (body.variables as Record<string, unknown>) : undefined;
    if (Array.isArray(variables?.representations)) representations += variables.representations.length;
    const document = documentFor(body.query);
    if (!('kind' in document)) {
      return { status: 400, body: JSON.stringify({ errors: document.map((error) => ({ message: error.message })) }) };
    }
    const result = await execute({
      schema,
      document,
      variableValues: variables,
      operationName: typeof body.operationName === 'string' ? body.operationName : undefined,
    });
    return { status: 200, body: JSON.stringify(result) };
  };

  return (req, res) => {
    if (req.method === 'GET' && req.url === '/readyz') return send(res, 200, '{"ready":true}');
    if (req.method === 'GET' && req.url === '/metrics') {
      const text =
        `# TYPE subgraph_http_requests_total counter\nsubgraph_http_requests_total ${httpRequests}\n` +
        `# TYPE subgraph_entity_representations_total counter\nsubgraph_entity_representations_total ${representations}\n`;
      return send(res, 200, text, 'text/plain; version=0.0.4');
    }
    if (req.method !== 'POST') return send(res, 405, errorBody('POST a GraphQL request'));
    httpRequests++;
    readBody(req)
      .then(answer)
      .then(
        ({ status, body }) => send(res, status, body),
        (error: unknown) => send(res, 500, errorBody(error instanceof Error ? error.message : String(error))),
      );
  };
}

/** Listens on 127.0.0.1:`port` (0: a free port). */
export async function startStaticSubgraph(name: StaticSubgraphName, port = 0): Promise<StaticSubgraphServer> {
  const server = http.createServer({ keepAliveTimeout: 65_000 }, createStaticSubgraphHandler(name));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/graphql`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
