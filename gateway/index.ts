import { ConfigError, loadConfig, redact, type Config } from '../lib/config';
import { listen } from '../lib/http';
import { createLogger } from '../lib/logger';
import { closeBy, createGracefulShutdown } from '../lib/shutdown';
import { startTracing, stopTracingBy } from '../lib/tracing';
import { createGatewayServer } from './server';
import { messageOf } from '../lib/errors';

/**
 * Reads config, builds the gateway, listens; SIGHUP reloads the supergraph; SIGTERM drains and exits. The
 * `federation-gateway` command (gateway/bin.ts) passes its own `load`, which adds its config file and flags.
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
  try {
    if (await startTracing(config.tracing, 'gateway'))
      logger.info(`tracing to ${redact(config.tracing.endpoint ?? '')}`);
    const gateway = await createGatewayServer(config, logger);
    const listening = await listen(gateway.listener, config.gateway.port, config.host);
    logger.info(`listening on ${listening.url}/graphql`, { supergraph: config.gateway.supergraphPath });
    const metricsListening = gateway.metricsListener
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
