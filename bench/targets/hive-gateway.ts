/**
 * Baseline: Hive Gateway's runtime over the same supergraph file, default options, served by node:http in one
 * process (the hive-gateway CLI would fork a worker per CPU in production, which no other target does). Its one
 * addition is the signed caller on every subgraph request, added in an `onFetch` plugin hook, where the body
 * it signs is final.
 *
 *   node dist/bench/targets/hive-gateway.js --port <n> --supergraph <file> --service-secret <secret>
 */
import http from 'node:http';
import { createGatewayRuntime } from '@graphql-hive/gateway';
import { readTargetArgs } from './args';
import { benchCallerHeaders } from './caller';

async function main(): Promise<void> {
  const args = readTargetArgs(process.argv.slice(2));
  const gateway = createGatewayRuntime({
    supergraph: args.supergraph,
    plugins: () => [
      {
        onFetch({ options, setOptions }) {
          const body = typeof options.body === 'string' ? options.body : '';
          setOptions({ ...options, headers: { ...options.headers, ...benchCallerHeaders(args.serviceSecret, body) } });
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
