/**
 * Baseline: plain Apollo Gateway on Apollo Server's standalone server, default options, over the same
 * supergraph file as ours. Its one addition is a signed caller (user 1, admin) on every subgraph request,
 * since our subgraphs answer only signed requests and refuse order data to anonymous callers: the equivalent of
 * forwarding the client's auth, which the bench's admin token stands for. The signature covers the exact body,
 * so it is added where the body is final: in the data source's `fetcher`.
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
  const gateway = new ApolloGateway({
    supergraphSdl: fs.readFileSync(args.supergraph, 'utf8'),
    buildService: ({ url }) => {
      const source = new RemoteGraphQLDataSource({ url });
      const send = source.fetcher;
      source.fetcher = (input, init) =>
        send(input, {
          ...init,
          headers: { ...init?.headers, ...benchCallerHeaders(args.serviceSecret, String(init?.body ?? '')) },
        });
      return source;
    },
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
