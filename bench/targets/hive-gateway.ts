/**
 * Baseline: Hive Gateway's runtime over the same supergraph file, served by node:http in one process (the
 * hive-gateway CLI would fork a worker per CPU in production, which no other target does). Default options,
 * or with `--planner rust` Hive's Rust query planner (`@graphql-hive/router-runtime`), and with
 * `--inbound-dedup` its inbound in-flight request deduplication (keyed by every header, so per caller).
 *
 * Its one addition is the client's caller (from its JWT) signed onto every subgraph request, in an `onFetch`
 * plugin hook, where the body it signs is final. The client's `authorization` is forwarded too, which keeps
 * Hive's default in-flight subgraph request deduplication per caller.
 *
 *   node dist/bench/targets/hive-gateway.js --port <n> --supergraph <file> --service-secret <s> --jwt-secret <s>
 *     [--planner javascript|rust] [--inbound-dedup]
 */
import http from 'node:http';
import { createGatewayRuntime } from '@graphql-hive/gateway';
import { unifiedGraphHandler } from '@graphql-hive/router-runtime';
import { readTargetArgs } from './args';
import { benchCallerHeaders, createBenchCallerResolver } from './caller';

async function main(): Promise<void> {
  const args = readTargetArgs(process.argv.slice(2));
  const resolveCaller = createBenchCallerResolver(args.jwtSecret);
  const gateway = createGatewayRuntime({
    supergraph: args.supergraph,
    ...(args.planner === 'rust' ? { unifiedGraphHandler } : {}),
    ...(args.inboundDedup ? { inboundInflightRequestDeduplication: true } : {}),
    // Forwarding the client's auth, as a Hive deployment does: forwarded headers are part of the key of Hive's
    // in-flight subgraph request deduplication (on by default), so it never shares a fetch across callers.
    propagateHeaders: {
      fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') }),
    },
    plugins: () => [
      {
        async onFetch({ context, options, setOptions }) {
          const body = typeof options.body === 'string' ? options.body : '';
          const caller = await resolveCaller('headers' in context ? context.headers.authorization : undefined);
          setOptions({ ...options, headers: { ...options.headers, ...benchCallerHeaders(args.serviceSecret, body, caller) } });
        },
      },
    ],
  });
  const server = http.createServer(gateway);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(args.port, '127.0.0.1', () => resolve());
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    void Promise.resolve(gateway.dispose()).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(`hive-gateway: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
