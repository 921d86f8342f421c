/**
 * `npm start`: the whole system on one machine, under a supervisor. It refuses to start when a port it needs is
 * taken (naming the process that holds it, when it can tell), starts the three subgraphs, each its own process
 * with its own database, waits until they answer, then starts the gateway, and prints where to go. Every process
 * writes to this one terminal, each line tagged with its service.
 *
 * - SIGHUP is passed to the gateway, which reloads the supergraph; the supervisor carries on.
 * - SIGINT (Ctrl-C) or SIGTERM stops the gateway first, then the subgraphs, each gracefully within its own
 *   DRAIN_MS + SHUTDOWN_TIMEOUT_MS plus a margin, after which what is left is killed.
 * - A service that exits on its own stops everything, loudly: nothing restarts behind your back.
 *
 * The children run in process groups of their own, so a Ctrl-C reaches the supervisor alone and the shutdown
 * order is ours; each holds an IPC channel to the supervisor and shuts itself down if the supervisor dies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadConfig, SUBGRAPH_NAMES, type Config } from '../lib/config';
import { createLogger, type Logger } from '../lib/logger';
import { messageOf } from '../lib/errors';

const STARTUP_TIMEOUT_MS = 60_000;
/** Added to a service's own shutdown bound before it is killed: process exit, log flushing, a busy machine. */
const STOP_MARGIN_MS = 2_000;

interface Service {
  name: string;
  /** The configuration variable that sets its port, for messages. */
  portVariable: string;
  port: number;
}

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<void>;
}

/** The ports `npm start` will listen on, each with the variable that sets it. */
function servicesOf(config: Readonly<Config>): Service[] {
  const services: Service[] = SUBGRAPH_NAMES.map((name) => ({
    name,
    portVariable: `${name.toUpperCase()}_PORT`,
    port: config.subgraphs[name].port,
  }));
  services.push({ name: 'gateway', portVariable: 'GATEWAY_PORT', port: config.gateway.port });
  if (config.gateway.metrics.port !== undefined) {
    services.push({ name: 'gateway metrics', portVariable: 'METRICS_PORT', port: config.gateway.metrics.port });
  }
  return services;
}

/** True when nothing listens on `port` (tried by listening on it, on the host the services will use). */
function portIsFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE'
        ? resolve(false)
        : reject(new Error(`cannot listen on ${host}:${port}: ${error.message}`)),
    );
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/**
 * Which process listens on `port`, from /proc (Linux): the listening socket's inode in /proc/net/tcp{,6}, then
 * the process with a descriptor on that inode. Undefined elsewhere, or when the process is another user's.
 */
function portOwner(port: number): string | undefined {
  try {
    const inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      if (!fs.existsSync(table)) continue;
      for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
        const fields = line.trim().split(/\s+/);
        const local = fields[1];
        // State 0A is LISTEN; the local address ends in the port, in hex.
        if (local && fields[3] === '0A' && parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) {
          inodes.add(fields[9]!);
        }
      }
    }
    if (inodes.size === 0) return undefined;
    for (const pid of fs.readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
      let descriptors: string[];
      try {
        descriptors = fs.readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue; // gone, or not ours to look at
      }
      for (const descriptor of descriptors) {
        let target: string;
        try {
          target = fs.readlinkSync(`/proc/${pid}/fd/${descriptor}`);
        } catch {
          continue;
        }
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode && inodes.has(inode)) {
          const command = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
          return `pid ${pid} (${command.length > 120 ? `${command.slice(0, 117)}...` : command})`;
        }
      }
    }
  } catch {
    // Not Linux, or /proc unreadable: the port is still named.
  }
  return undefined;
}

/** Every port that is already taken, described; empty when all are free. */
async function takenPorts(services: Service[], host: string): Promise<string[]> {
  const problems: string[] = [];
  for (const service of services) {
    if (service.port === 0) {
      problems.push(`${service.portVariable}=0: npm start needs a fixed port for the ${service.name}`);
      continue;
    }
    if (await portIsFree(service.port, host)) continue;
    const owner = portOwner(service.port);
    problems.push(
      `port ${service.port} (${service.name}, ${service.portVariable}) is already in use` +
        (owner ? ` by ${owner}` : ' (by a process this user cannot see)'),
    );
  }
  return problems;
}

function localUrl(config: Readonly<Config>, port: number): string {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  return `http://${host}:${port}`;
}

/** Polls `url` until it answers 2xx; fails when the child exits first (so nothing else answering counts). */
async function waitFor(url: string, child: Child, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(`exited (${describeExit(child.process)}) before it was ready`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.ok && child.process.exitCode === null) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`not ready at ${url} after ${STARTUP_TIMEOUT_MS / 1000} s`);
}

function describeExit(child: ChildProcess): string {
  return child.signalCode ? `killed by ${child.signalCode}` : `code ${child.exitCode}`;
}

/**
 * Stops `children` with SIGTERM and waits; what is still running after `graceMs` is killed. True when every one
 * of them exited by itself with code 0.
 */
async function stopChildren(children: Child[], graceMs: number, logger: Logger): Promise<boolean> {
  const running = children.filter((child) => child.process.exitCode === null && child.process.signalCode === null);
  for (const child of running) child.process.kill('SIGTERM');
  let clean = true;
  await Promise.all(
    running.map(async (child) => {
      let timer: NodeJS.Timeout | undefined;
      const overdue = new Promise<true>((resolve) => (timer = setTimeout(resolve, graceMs, true)));
      if (await Promise.race([child.exited.then(() => false), overdue])) {
        clean = false;
        logger.error(`${child.name} (pid ${child.process.pid}) still running ${graceMs} ms after SIGTERM; killing it`);
        child.process.kill('SIGKILL');
        await child.exited;
      } else if (child.process.exitCode !== 0) {
        clean = false;
        logger.warn(`${child.name} (pid ${child.process.pid}) stopped with ${describeExit(child.process)}`);
      }
      clearTimeout(timer);
    }),
  );
  return clean;
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

  const problems = await takenPorts(servicesOf(config), config.host);
  if (problems.length > 0) {
    for (const problem of problems) logger.error(`cannot start: ${problem}`);
    logger.error(
      'nothing was started; free those ports or choose others (GATEWAY_PORT, USERS_PORT, ORDERS_PORT, INVENTORY_PORT)',
    );
    process.exit(1);
  }

  const subgraphs: Child[] = [];
  let gateway: Child | undefined;
  let stopping = false;
  const graceMs = config.shutdown.drainMs + config.shutdown.timeoutMs + STOP_MARGIN_MS;
  const stopAll = async (reason: string, code: number) => {
    if (stopping) {
      logger.info(`${reason}; already stopping`);
      return;
    }
    stopping = true;
    logger.info(`${reason}: stopping the gateway, then the subgraphs (each within ${graceMs} ms)`);
    // The gateway first, so that requests it is finishing can still reach the subgraphs.
    const gatewayClean = await stopChildren(gateway ? [gateway] : [], graceMs, logger);
    const subgraphsClean = await stopChildren(subgraphs, graceMs, logger);
    logger.info('stopped');
    process.exit(gatewayClean && subgraphsClean ? code : 1);
  };
  process.on('SIGINT', () => void stopAll('SIGINT', 0));
  process.on('SIGTERM', () => void stopAll('SIGTERM', 0));
  process.on('SIGHUP', () => {
    if (gateway && gateway.process.exitCode === null && !stopping) {
      logger.info(`SIGHUP: asking the gateway (pid ${gateway.process.pid}) to reload the supergraph`);
      gateway.process.kill('SIGHUP');
    } else {
      logger.info('SIGHUP ignored: the gateway is not running');
    }
  });

  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SUBGRAPH_NAMES) {
    env[`SUBGRAPH_URL_${name.toUpperCase()}`] ??= `${localUrl(config, config.subgraphs[name].port)}/graphql`;
  }
  // Compiled (dist/scripts/start.js) the services are .js files beside this one; from source, .ts files that
  // need the same TypeScript loader.
  const fromSource = path.extname(__filename) === '.ts';
  const launch = (name: string, entry: string): Child => {
    const file = path.join(__dirname, '..', `${entry}${fromSource ? '.ts' : '.js'}`);
    const child = spawn(process.execPath, [...(fromSource ? ['-r', '@swc-node/register'] : []), file], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env,
      detached: true,
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('error', (error) => logger.error(`${name} could not be started: ${error.message}`));
    child.once('exit', () => {
      if (stopping) return;
      logger.error(
        `!!! ${name} (pid ${child.pid}) exited unexpectedly (${describeExit(child)}); stopping everything !!!`,
      );
      void stopAll(`${name} exited`, 1);
    });
    logger.info(`${name} started`, { pid: child.pid });
    return { name, process: child, exited };
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  try {
    await Promise.all(
      SUBGRAPH_NAMES.map((name) => {
        const child = launch(name, `subgraphs/${name}/index`);
        subgraphs.push(child);
        return waitFor(`${localUrl(config, config.subgraphs[name].port)}/readyz`, child, deadline).catch(
          (error: Error) => {
            throw new Error(`${name} ${error.message}`);
          },
        );
      }),
    );
    if (stopping) return;
    gateway = launch('gateway', 'gateway/index');
    const gatewayUrl = localUrl(config, config.gateway.port);
    await waitFor(`${gatewayUrl}/readyz`, gateway, deadline).catch((error: Error) => {
      throw new Error(`gateway ${error.message}`);
    });
    if (stopping) return;
    logger.info('ready', {
      pids: Object.fromEntries([...subgraphs, gateway].map((child) => [child.name, child.process.pid])),
    });
    console.log(
      [
        '',
        `  GraphQL endpoint   ${gatewayUrl}/graphql`,
        `  GraphiQL           ${gatewayUrl}/explorer   (works offline)`,
        `  Apollo Sandbox     ${gatewayUrl}/   (development; loads from Apollo's CDN)`,
        `  Health, metrics    ${gatewayUrl}/healthz  ${gatewayUrl}/readyz  ${gatewayUrl}/metrics`,
        `  Admin token        npm run -s token -- --sub 1 --admin`,
        `  Reload supergraph  kill -HUP ${process.pid}`,
        '',
      ].join('\n'),
    );
  } catch (error) {
    if (stopping) return;
    logger.error(`start-up failed: ${messageOf(error)}`);
    await stopAll('start-up failed', 1);
  }
}

void main();
