/**
 * Baseline: plain Apollo Gateway on Apollo Server's standalone server, default options, over the same
 * supergraph file as ours. Its one addition is the client's caller, signed onto every subgraph request, since
 * our subgraphs answer only signed requests and refuse order data to anonymous callers: the equivalent of
 * forwarding the client's auth. The caller comes from the client's JWT (in Apollo Server's context); the
 * signature covers the exact body, so it is added where the body is final, in the data source's `fetcher`,
 * which `willSendRequest` tells who the caller is through a header of the bench's own.
 *
 *   node dist/bench/targets/apollo-gateway.js --port <n> --supergraph <file> --service-secret <s> --jwt-secret <s>
 */
import fs from 'node:fs';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ANONYMOUS, decodeCaller, encodeCaller, type Caller } from '../../lib/identity';
import { readTargetArgs } from './args';
import { benchCallerHeaders, createBenchCallerResolver } from './caller';

interface BenchContext {
  caller?: Caller;
}

/** Carries the caller from `willSendRequest` to the `fetcher`; removed before the request leaves. */
const CALLER_HANDOFF_HEADER = 'x-bench-caller';

async function main(): Promise<void> {
  const args = readTargetArgs(process.argv.slice(2));
  const resolveCaller = createBenchCallerResolver(args.jwtSecret);
  const gateway = new ApolloGateway({
    supergraphSdl: fs.readFileSync(args.supergraph, 'utf8'),
    buildService: ({ url }) => {
      const source = new RemoteGraphQLDataSource<BenchContext>({
        url,
        willSendRequest({ request, context }) {
          request.http?.headers.set(CALLER_HANDOFF_HEADER, encodeCaller(context.caller ?? ANONYMOUS) ?? 'anonymous');
        },
      });
      const send = source.fetcher;
      source.fetcher = (input, init) => {
        const { [CALLER_HANDOFF_HEADER]: encoded, ...headers } = (init?.headers ?? {}) as Record<string, string>;
        const caller = (encoded && decodeCaller(encoded)) || ANONYMOUS;
        return send(input, {
          ...init,
          headers: { ...headers, ...benchCallerHeaders(args.serviceSecret, String(init?.body ?? ''), caller) },
        });
      };
      return source;
    },
  });
  const server = new ApolloServer<BenchContext>({ gateway });
  await startStandaloneServer(server, {
    listen: { port: args.port, host: '127.0.0.1' },
    context: async ({ req }) => ({ caller: await resolveCaller(req.headers.authorization) }),
  });
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`apollo-gateway: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
