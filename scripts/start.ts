/**
 * `npm start`: the whole system on one machine. Starts the three subgraphs, each its own process with its own
 * database, waits until they answer, then starts the gateway, and prints where to go. Every process writes to
 * this one terminal, each line tagged with its service. Ctrl-C (or SIGTERM) stops them all gracefully.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { loadConfig, SUBGRAPH_NAMES, type Config } from '../lib/config';
import { createLogger } from '../lib/logger';
import { messageOf } from '../lib/errors';

const STARTUP_TIMEOUT_MS = 60_000;

async function waitFor(url: string, child: ChildProcess, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not ready at ${url} after ${STARTUP_TIMEOUT_MS / 1000} s`);
}

function localUrl(config: Readonly<Config>, port: number): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `http://${host}:${port}`;
}

async function main(): Promise<void> {
  let config: Readonly<Config>;
  try {
    config = loadConfig();
  } catch (error) {
    console.error(messageOf(error));
    process.exit(78);
  }
  const logger = createLogger('start', config.log);
  const children: ChildProcess[] = [];
  let stopping = false;
  const stopAll = (code: number) => {
    if (stopping) return;
    stopping = true;
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    const force = setTimeout(() => children.forEach((child) => child.kill('SIGKILL')), 10_000);
    force.unref();
    void Promise.all(children.map((child) => (child.exitCode !== null ? undefined : new Promise((r) => child.once('exit', r))))).then(
      () => process.exit(code),
    );
  };
  process.on('SIGINT', () => stopAll(0));
  process.on('SIGTERM', () => stopAll(0));

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SUBGRAPH_NAMES) {
    env[`SUBGRAPH_URL_${name.toUpperCase()}`] ??= `${localUrl(config, config.subgraphs[name].port)}/graphql`;
  }
  const launch = (name: string, entry: string) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', entry)], { stdio: 'inherit', env });
    child.on('exit', (code, signal) => {
      if (stopping) return;
      logger.error(`${name} exited (${signal ?? `code ${code}`}); stopping everything`);
      stopAll(1);
    });
    children.push(child);
    return child;
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  try {
    await Promise.all(
      SUBGRAPH_NAMES.map((name) => {
        const child = launch(name, `subgraphs/${name}/index.js`);
        return waitFor(`${localUrl(config, config.subgraphs[name].port)}/readyz`, child, deadline).catch((error: Error) => {
          throw new Error(`${name} ${error.message}`);
        });
      }),
    );
    const gateway = launch('gateway', 'gateway/index.js');
    const gatewayUrl = localUrl(config, config.gateway.port);
    await waitFor(`${gatewayUrl}/readyz`, gateway, deadline).catch((error: Error) => {
      throw new Error(`gateway ${error.message}`);
    });
    logger.info('ready', {});
    console.log(
      [
        '',
        `  GraphQL endpoint   ${gatewayUrl}/graphql`,
        `  Apollo Sandbox     ${gatewayUrl}/   (development; loads from the internet)`,
        `  Offline explorer   ${gatewayUrl}/explorer`,
        `  Health, metrics    ${gatewayUrl}/healthz  ${gatewayUrl}/readyz  ${gatewayUrl}/metrics`,
        `  Admin token        npm run -s token -- --sub 1 --admin`,
        '',
      ].join('\n'),
    );
  } catch (error) {
    logger.error(`start-up failed: ${messageOf(error)}`);
    stopAll(1);
  }
}

void main();
