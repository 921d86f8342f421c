/**
 * One static subgraph as a process of its own, as the bench runs them (so its CPU is read like any subgraph's):
 *
 *   node dist/bench/static-graph/index.js --name accounts|inventory|products|reviews --port <n>
 */
import { parseArgs } from 'node:util';
import { isStaticSubgraphName, STATIC_SUBGRAPH_NAMES } from './subgraphs';
import { startStaticSubgraph } from './server';

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { name: { type: 'string' }, port: { type: 'string' } },
    strict: true,
  });
  const name = values.name ?? '';
  if (!isStaticSubgraphName(name)) throw new Error(`--name: expected one of ${STATIC_SUBGRAPH_NAMES.join(', ')}, got '${name}'`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: expected a port, got '${values.port}'`);
  const server = await startStaticSubgraph(name, port);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`static subgraph: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
