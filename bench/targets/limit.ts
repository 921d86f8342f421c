/**
 * The ceiling: a bare node:http server that reads each request body and answers it with the exact bytes the
 * reference gateway answered, looked up by body. No GraphQL, no subgraphs: what one Node process on this
 * machine can serve at all over the same connections and payload sizes.
 *
 * The bench loads the answers before each run with `PUT /__bench/answers` ([{ "request": body, "response":
 * bytes }, ...]), so the bytes stay current when a workload's mutations change them.
 *
 *   node dist/bench/targets/limit.js --port <n>
 */
import http from 'node:http';
import { parseArgs } from 'node:util';

const CONTROL_PATH = '/__bench/answers';

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function main(): void {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { port: { type: 'string' } }, strict: true });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: expected a port, got '${values.port}'`);
  let answers = new Map<string, Buffer>();
  const notFound = Buffer.from('{"errors":[{"message":"the limit server has no answer for this request","extensions":{"code":"NOT_FOUND"}}]}');

  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    readBody(req).then(
      (body) => {
        if (req.method === 'PUT' && req.url === CONTROL_PATH) {
          const entries = JSON.parse(body.toString('utf8')) as { request: string; response: string }[];
          answers = new Map(entries.map((entry) => [entry.request, Buffer.from(entry.response)]));
          res.writeHead(204).end();
          return;
        }
        const answer = answers.get(body.toString('utf8'));
        res.writeHead(answer ? 200 : 404, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': (answer ?? notFound).length,
        });
        res.end(answer ?? notFound);
      },
      () => res.destroy(),
    );
  });
  server.listen(port, '127.0.0.1');
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
