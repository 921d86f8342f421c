import { ConfigError, loadConfig, redact, type Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { closeBy, createGracefulShutdown } from '../lib/shutdown';
import type { GatewayDependencies } from './server';
import { messageOf } from '../lib/errors';
import { processRegistry } from '../lib/metrics';
import { clusterWorkerId, joinClusterMetrics, runPrimary } from './cluster';

/**
 * Reads config, builds the gateway, listens; SIGHUP reloads the supergraph; SIGTERM drains and exits. The
 * `federation-gateway` command (gateway/bin.ts) passes its own `load`, which adds its config file and flags.
 * With GATEWAY_WORKERS > 1 this process becomes the cluster's primary and each worker runs this same `main`
 * (gateway/cluster.ts).
 */
export async function main(load: () => Readonly<Config> = () => loadConfig()): Promise<void> {
  let config;
  try {
    config = load();
  } catch (error) {
    console.error(`gateway: ${error instanceof ConfigError ? error.message : String(error)}`);
    process.exit(78);
  }
  const logger = createLogger('gateway', config.log);
  const workerId = clusterWorkerId();
  if (config.gateway.workers > 1 && workerId === undefined) {
    try {
      await runPrimary(config, logger);
    } catch (error) {
      logger.error(`failed to start the workers: ${messageOf(error)}`);
      process.exit(1);
    }
    return;
  }
  // In a cluster, /metrics is the primary's sum over the workers (gateway/cluster.ts).
  const clusterMetrics = workerId === undefined ? undefined : joinClusterMetrics();
  try {
    // Required only here, as gateway/bin.ts does: a cluster primary serves nothing and stays small without Apollo
    // and OpenTelemetry (60 MB resident instead of 130).
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { listen } = require('../lib/http') as typeof import('../lib/http');
    const { startTracing, stopTracingBy } = require('../lib/tracing') as typeof import('../lib/tracing');
    if (await startTracing(config.tracing, 'gateway'))
      logger.info(`tracing to ${redact(config.tracing.endpoint ?? '')}`);
    // A worker's /metrics is every worker's (the primary sums them); METRICS_PORT is the primary's.
    const dependencies: GatewayDependencies =
      workerId === undefined || clusterMetrics === undefined
        ? {}
        : {
            renderMetrics: clusterMetrics.render,
            ...(config.nodeEnv === 'production' ? {} : { health: { worker: workerId, pid: process.pid } }),
          };
    const { createGatewayServer } = require('./server') as typeof import('./server');
    /* eslint-enable @typescript-eslint/no-require-imports */
    const gateway = await createGatewayServer(config, logger, dependencies);
    clusterMetrics?.share([gateway.metrics.registry, processRegistry()]);
    // Attached: graphql-ws upgrades, and subscribers told to go away (1001) when the listener closes on SIGTERM.
    const listening = gateway.attach(await listen(gateway.listener, config.gateway.port, config.host));
    logger.info(`listening on ${listening.url}/graphql`, {
      supergraph: config.gateway.supergraphPath,
      worker: workerId,
    });
    const metricsListening =
      gateway.metricsListener && workerId === undefined
        ? await listen(gateway.metricsListener, config.gateway.metrics.port!, config.host)
        : undefined;
    if (metricsListening) logger.info(`metrics on ${metricsListening.url}/metrics`);
    process.on('SIGHUP', () => gateway.reloadSupergraph());
    createGracefulShutdown({
      logger,
      ...config.shutdown,
      servers: metricsListening ? [listening, metricsListening] : [listening],
      stop: (deadline) =>
        closeBy(
          'the gateway (Apollo, Redis clients, subgraph connections)',
          () => gateway.stop(),
          deadline,
          logger,
        ).then(() => stopTracingBy(deadline, logger)),
    }).handleSignals();
  } catch (error) {
    logger.error(`failed to start: ${messageOf(error)}`);
    process.exit(1);
  }
}

// Started as a program (`npm start`, `node dist/gateway/index.js`), not imported by the command line.
if (require.main === module) void main();
