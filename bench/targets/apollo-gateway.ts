/**
 * Baseline: plain Apollo Gateway on Apollo Server's standalone server, default options, over the same
 * supergraph file as ours. Its one addition is a fixed signed caller (user 1, admin) on every subgraph
 * request, since our subgraphs refuse order data to anonymous callers: the equivalent of forwarding the
 * client's auth, which the bench's admin token stands for.
 *
 *   node dist/bench/targets/apollo-gateway.js --port <n> --supergraph <file> --service-secret <secret>
 */
import fs from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { readTargetArgs } from './args';
import { benchCallerHeaders } from './caller';

async function main(): Promise<void> {
  const args = readTargetArgs(process.argv.slice(2));
  const headers = benchCallerHeaders(args.serviceSecret);
  const gateway = new ApolloGateway({
    supergraphSdl: fs.readFileSync(args.supergraph, 'utf8'),
    buildService: ({ url }) =>
      new RemoteGraphQLDataSource({
        url,
        willSendRequest({ request }) {
          for (const [name, value] of Object.entries(headers)) request.http?.headers.set(name, value);
        },
      }),
  });
  const server = new ApolloServer({ gateway });
  await startStandaloneServer(server, { listen: { port: args.port, host: '127.0.0.1' } });
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`apollo-gateway: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
