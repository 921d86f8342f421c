import { ConfigError, loadConfig } from '../lib/config';
import { listen } from '../lib/http';
import { createLogger } from '../lib/logger';
import { createGatewayServer } from './server';
import { messageOf } from '../lib/errors';

/** Reads config, builds the gateway, listens; SIGHUP reloads the supergraph; SIGTERM drains and exits. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(`gateway: ${error instanceof ConfigError ? error.message : String(error)}`);
    process.exit(78);
  }
  const logger = createLogger('gateway', config.log);
  try {
    const gateway = await createGatewayServer(config, logger);
    const listening = await listen(gateway.listener, config.gateway.port, config.host);
    logger.info(`listening on ${listening.url}/graphql`, { supergraph: config.gateway.supergraphPath });
    const metricsListening = gateway.metricsListener
      ? await listen(gateway.metricsListener, config.gateway.metrics.port!, config.host)
      : undefined;
    if (metricsListening) logger.info(`metrics on ${metricsListening.url}/metrics`);
    process.on('SIGHUP', () => gateway.reloadSupergraph());
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info(`${signal} received, draining`);
      void Promise.all([listening.close(), metricsListening?.close()])
        .then(() => gateway.stop())
        .then(() => process.exit(0));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  } catch (error) {
    logger.error(`failed to start: ${messageOf(error)}`);
    process.exit(1);
  }
}

void main();
