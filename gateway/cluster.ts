import cluster, { type Worker } from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { bearerMatches } from '../lib/bearer';
import type { Config } from '../lib/config';
import type { ErrorCode } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { METRICS_CONTENT_TYPE } from '../lib/metrics';

/**
 * GATEWAY_WORKERS > 1: the process started becomes a primary that serves nothing itself and runs that many gateway
 * workers on the one port (node:cluster: the primary accepts and hands connections round robin). Workers share
 * nothing but Redis; without it each keeps its own entity cache, persisted queries and rate limits.
 *
 * The primary forwards SIGTERM and SIGINT to every worker (each drains as a lone gateway would, lib/shutdown.ts)
 * and exits once they all have, with the worst of their exit codes; it forwards SIGHUP (supergraph reload). A
 * worker that dies while serving is replaced, after a pause that doubles with each death in quick succession
 * (a worker that crashes at every request must not turn the primary into a fork loop); a worker that fails
 * before it ever listened stops the whole gateway, since its replacement would fail the same way. Metrics:
 * the primary asks every serving worker for its registries over the cluster's IPC and sums them with prom-client's
 * `AggregatorRegistry.aggregate`; it serves the sum on METRICS_PORT, and a worker asked for `/metrics` on the
 * public port asks the primary for it, so every scrape sees the whole gateway whichever worker answers. (Not
 * prom-client's own `clusterMetrics()`: it asks every connected worker, and one still starting, which cannot
 * answer yet, would fail every scrape for prom-client's 5 s timeout.) A dead worker's counts go with it.
 */

/** Worker to primary: the sum, please; primary to worker: here it is. */
const METRICS_REQUEST = 'gateway:metrics-request';
const METRICS_RESPONSE = 'gateway:metrics-response';
/** Primary to worker: your registries, please; worker to primary: here they are. */
const COLLECT_REQUEST = 'gateway:metrics-collect';
const COLLECT_RESPONSE = 'gateway:metrics-collected';
/** How long the primary waits for every worker's registries before the scrape fails. */
const COLLECT_TIMEOUT_MS = 5_000;
/** A worker that served at least this long before dying is not part of a crash loop: the backoff restarts. */
const STABLE_AFTER_MS = 10_000;
const FIRST_RESTART_DELAY_MS = 100;
const MAX_RESTART_DELAY_MS = 10_000;

type MetricsMessage =
  | { type: typeof METRICS_REQUEST | typeof COLLECT_REQUEST; id: number }
  | { type: typeof METRICS_RESPONSE; id: number; text?: string; error?: string }
  | { type: typeof COLLECT_RESPONSE; id: number; registries: object[] };
const METRICS_MESSAGES: readonly string[] = [METRICS_REQUEST, METRICS_RESPONSE, COLLECT_REQUEST, COLLECT_RESPONSE];
const isMetricsMessage = (message: unknown): message is MetricsMessage =>
  typeof message === 'object' && message !== null && METRICS_MESSAGES.includes((message as MetricsMessage).type);

/** This process's worker id in a gateway cluster; undefined outside one. */
export const clusterWorkerId = (): number | undefined => (cluster.isWorker ? cluster.worker?.id : undefined);

/** Runs the primary: forks the workers and supervises them until they have all exited, then exits. */
export async function runPrimary(config: Readonly<Config>, logger: Logger): Promise<void> {
  const count = config.gateway.workers;
  if (!config.redis.target)
    logger.warn(
      `${count} workers without Redis (REDIS_URL): each worker has its own entity cache, persisted queries and rate limits`,
    );
  let stopping = false;
  let quickDeaths = 0;
  const startedAt = new Map<number, number>();
  const listened = new Set<number>();
  const exitCodes: number[] = [];
  // Only /metrics, on METRICS_PORT: the primary loads neither Apollo nor the gateway (it stays small).
  let metricsServer: http.Server | undefined;
  const collections = new Map<number, { waitingFor: Set<number>; registries: object[]; done(): void }>();
  let nextCollection = 0;

  /**
   * Every serving worker's registries, summed (prom-client's `AggregatorRegistry.aggregate`). Only workers that
   * listen are asked, so a worker still starting (or one just replaced) never holds a scrape up; one that exits
   * meanwhile is no longer waited for.
   */
  const sumOfWorkers = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const id = nextCollection++;
      const asked = workers().filter((worker) => listened.has(worker.id) && worker.isConnected());
      const timer = setTimeout(() => {
        collections.delete(id);
        reject(new Error(`workers did not hand over their metrics within ${COLLECT_TIMEOUT_MS} ms`));
      }, COLLECT_TIMEOUT_MS);
      const collection = {
        waitingFor: new Set(asked.map((worker) => worker.id)),
        registries: [] as object[],
        done: () => {
          clearTimeout(timer);
          collections.delete(id);
          AggregatorRegistry.aggregate(collection.registries).metrics().then(resolve, reject);
        },
      };
      collections.set(id, collection);
      if (asked.length === 0) collection.done();
      for (const worker of asked) worker.send({ type: COLLECT_REQUEST, id });
    });
  const noLongerWaitFor = (workerId: number) => {
    for (const collection of [...collections.values()])
      if (collection.waitingFor.delete(workerId) && collection.waitingFor.size === 0) collection.done();
  };

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
  };
  const workers = () => Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => !!worker);
  const signalAll = (signal: NodeJS.Signals) => {
    for (const worker of workers()) worker.process.kill(signal);
  };

  const finish = async () => {
    metricsServer?.closeAllConnections();
    await new Promise((resolve) => (metricsServer ? metricsServer.close(resolve) : resolve(undefined)));
    const code = Math.max(0, ...exitCodes);
    logger.info(`all ${count} workers exited; exiting ${code}`);
    process.exit(code);
  };

  const stop = (reason: string) => {
    if (stopping) {
      logger.info(`${reason} received while stopping; waiting for ${workers().length} workers`);
      return;
    }
    stopping = true;
    logger.info(`${reason} received: stopping ${workers().length} workers`);
    signalAll('SIGTERM');
    // Each worker bounds its own shutdown by DRAIN_MS + SHUTDOWN_TIMEOUT_MS; this is for one that hangs anyway.
    const { drainMs, timeoutMs } = config.shutdown;
    setTimeout(
      () => {
        logger.error(`workers still running ${drainMs + timeoutMs + 2_000} ms after ${reason}; killing them`);
        exitCodes.push(1);
        signalAll('SIGKILL');
      },
      drainMs + timeoutMs + 2_000,
    ).unref();
    if (workers().length === 0) void finish();
  };

  cluster.on('online', (worker) => logger.info(`worker ${worker.process.pid} started`));
  cluster.on('listening', (worker, address) => {
    listened.add(worker.id);
    if (listened.size === count)
      logger.info(`${count} workers listening on http://${config.host}:${address.port}/graphql`, {
        workers: workers().map((each) => each.process.pid),
      });
  });

  cluster.on('exit', (worker, code, signal) => {
    const ranFor = Date.now() - (startedAt.get(worker.id) ?? Date.now());
    startedAt.delete(worker.id);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    noLongerWaitFor(worker.id);
    if (stopping) {
      exitCodes.push(signal ? 1 : code);
      logger.info(`worker ${worker.process.pid} exited (${how})`);
      if (workers().length === 0) void finish();
      return;
    }
    if (!listened.has(worker.id)) {
      logger.error(`worker ${worker.process.pid} failed to start (${how}); stopping the gateway`);
      exitCodes.push(code || 1);
      stop('a worker failing to start');
      return;
    }
    listened.delete(worker.id);
    quickDeaths = ranFor >= STABLE_AFTER_MS ? 0 : quickDeaths + 1;
    const delay = Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** Math.max(0, quickDeaths - 1));
    logger.error(`worker ${worker.process.pid} died (${how}) after ${ranFor} ms; starting another in ${delay} ms`);
    // Referenced: with every worker dead, this timer is what keeps the primary alive to start the next.
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  cluster.on('message', (worker, message: unknown) => {
    if (!isMetricsMessage(message)) return;
    if (message.type === COLLECT_RESPONSE) {
      const collection = collections.get(message.id);
      if (!collection?.waitingFor.has(worker.id)) return;
      collection.registries.push(...message.registries);
      noLongerWaitFor(worker.id);
      return;
    }
    if (message.type !== METRICS_REQUEST) return;
    // A worker asking for `/metrics` on the public port gets the whole gateway's.
    sumOfWorkers().then(
      (text) => worker.isConnected() && worker.send({ type: METRICS_RESPONSE, id: message.id, text }),
      (error: unknown) =>
        worker.isConnected() && worker.send({ type: METRICS_RESPONSE, id: message.id, error: String(error) }),
    );
  });

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    logger.info(`SIGHUP: reloading the supergraph in ${workers().length} workers`);
    signalAll('SIGHUP');
  });
  if (process.channel) {
    // Started by `npm start`: if the supervisor dies, stop rather than linger (as a lone gateway does).
    process.channel.unref();
    process.once('disconnect', () => stop('supervisor gone'));
  }

  if (config.gateway.metrics.port !== undefined) {
    const server = http.createServer(metricsListener(config, sumOfWorkers));
    metricsServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.gateway.metrics.port, config.host, resolve);
    });
    const { port } = server.address() as AddressInfo;
    logger.info(`metrics of all workers on http://${config.host}:${port}/metrics`);
  }
  logger.info(`starting ${count} workers`);
  for (let index = 0; index < count; index++) fork();
}

const sendError = (
  res: http.ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  headers: http.OutgoingHttpHeaders = {},
) => {
  const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(body);
};

/** The primary's `/metrics`, as a lone gateway's on METRICS_PORT: behind METRICS_TOKEN when set. */
function metricsListener(config: Readonly<Config>, render: () => Promise<string>): http.RequestListener {
  return (req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      sendError(res, 404, 'NOT_FOUND', 'Only /metrics is served on METRICS_PORT');
      return;
    }
    const token = config.gateway.metrics.token;
    if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
      sendError(res, 401, 'UNAUTHENTICATED', 'GET /metrics needs the METRICS_TOKEN bearer token', {
        'www-authenticate': 'Bearer',
      });
      return;
    }
    void render().then(
      (text) => {
        res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
        res.end(text);
      },
      () => sendError(res, 503, 'SERVICE_UNAVAILABLE', 'the workers did not answer with their metrics'),
    );
  };
}

export interface ClusterMetrics {
  /** From now on the primary's sums include these registries. */
  share(registries: Registry[]): void;
  /** What this worker's `/metrics` serves: the sum over every worker, from the primary. */
  render(): Promise<string>;
}

/** In a worker: hands its registries to the primary when asked, and asks the primary for the sum. */
export function joinClusterMetrics(): ClusterMetrics {
  let shared: Registry[] = [];
  let nextId = 0;
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  process.on('message', (message: unknown) => {
    if (!isMetricsMessage(message)) return;
    if (message.type === COLLECT_REQUEST) {
      void Promise.all(shared.map((registry) => registry.getMetricsAsJSON())).then((registries) =>
        process.send?.({ type: COLLECT_RESPONSE, id: message.id, registries }),
      );
      return;
    }
    if (message.type !== METRICS_RESPONSE) return;
    const request = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) request?.reject(new Error(message.error));
    else request?.resolve(message.text ?? '');
  });
  const render = () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('the cluster primary did not answer with the metrics within 6 s'));
      }, COLLECT_TIMEOUT_MS + 1_000);
      pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      process.send!({ type: METRICS_REQUEST, id });
    });
  return {
    share: (registries) => {
      shared = registries;
    },
    render,
  };
}
