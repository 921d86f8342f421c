import { createClient, createCluster } from 'redis';
import type { RedisTarget } from './config';
import type { Logger } from './logger';

/**
 * What every Redis client of ours shares (the cache store, the rate-limit store, the change streams): a
 * deadline on each call that never mistakes a late turn of a busy event loop for a timeout, and an outage log
 * that says when Redis went away and when it came back, once each, however many attempts fail in between.
 */
export class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
}

/**
 * Rejects with `DeadlineExceeded(message)` when `promise` takes longer than `ms`; the promise runs on and its
 * late failure is ignored. The timer decides one event-loop phase late (setImmediate runs after I/O): on a busy
 * loop it can fire in the same turn that the answer arrived, before the socket was read.
 */
export function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => setImmediate(() => reject(new DeadlineExceeded(message))), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

export interface OutageMessages {
  /** Logged (warn) at the first failure of an outage, with `{ error }`. */
  down: string;
  /** Logged (info) when it works again. */
  back: string;
  /** How an error is shown in the log line. Default: its message. */
  describe?: (error: unknown) => string;
  /** Extra fields on the `back` line (how long it was down, how many attempts failed). Default: none. */
  withDuration?: boolean;
}

export type OutageLog = ReturnType<typeof createOutageLog>;

/** Logs the first failure of an outage and the recovery that ends it; the attempts in between only count. */
export function createOutageLog(logger: Logger, messages: OutageMessages) {
  const describe = messages.describe ?? ((error: unknown) => (error instanceof Error ? error.message : String(error)));
  let since: number | undefined;
  let failures = 0;
  return {
    get down(): boolean {
      return since !== undefined;
    },
    failed(error: unknown) {
      failures++;
      if (since !== undefined) return;
      since = Date.now();
      logger.warn(messages.down, { error: describe(error) });
    },
    recovered() {
      if (since === undefined) return;
      if (messages.withDuration)
        logger.info(messages.back, { downForMs: Date.now() - since, failedAttempts: failures });
      else logger.info(messages.back);
      since = undefined;
      failures = 0;
    },
  };
}

/** Reconnect delays of a background client: exponential from 100 ms, capped at 2 s. */
export const reconnectDelayMs = (retries: number): number => Math.min(100 * 2 ** retries, 2000);

/**
 * One Redis connection for every user of Redis (the cache store, the rate-limit store, the stream writers and
 * readers), to one server or to a Redis Cluster: every user makes the same choice from the same config.
 *
 * On a cluster, node-redis follows MOVED and ASK redirections of single commands (and learns the new topology
 * from a MOVED, as after a failover), but not those of a MULTI or a pipeline, which go to the node of their
 * first key whatever the others' slots: so users send single commands or one script whose keys share a hash tag.
 * A cluster client gives up when none of its seed nodes answers at start-up, where a single-server client
 * keeps retrying; `firstAttempt` below retries it the same way, so both kinds connect in the background.
 */
export type RedisConnection = SingleRedisConnection | ClusterRedisConnection;
type SingleClient = ReturnType<typeof createClient>;
type ClusterClient = ReturnType<typeof createCluster>;

interface RedisConnectionBase {
  /** Ready for commands: connected to the server, or the cluster's topology known (a node may still be down). */
  readonly ready: boolean;
  /** Not yet destroyed. */
  readonly open: boolean;
  /** Settles (never rejects) when the first connection attempt succeeded or failed, or on `destroy()`. */
  readonly firstAttempt: Promise<void>;
  /** Closes every socket at once, without waiting for replies, and stops reconnecting. */
  destroy(): void;
}
export interface SingleRedisConnection extends RedisConnectionBase {
  readonly kind: 'single';
  readonly client: SingleClient;
}
export interface ClusterRedisConnection extends RedisConnectionBase {
  readonly kind: 'cluster';
  readonly client: ClusterClient;
}

export interface RedisConnectionOptions {
  /** The connection's name on the server (`CLIENT SETNAME`); characters Redis refuses become `_`. */
  name?: string;
  connectTimeoutMs: number;
  /** Delay before reconnect attempt `retries` (also between a cluster's attempts to reach its seed nodes). */
  reconnectDelayMs: (retries: number) => number;
  /** node-redis's per-command timeout (a command still waiting to be written). Default none. */
  commandTimeoutMs?: number;
  /** Every connection error (a failed attempt, a lost socket, a cluster node's error). */
  onError: (error: unknown) => void;
}

/** Connects in the background (see `firstAttempt`); commands fail at once while disconnected (no offline queue). */
export function createRedisConnection(target: RedisTarget | string, options: RedisConnectionOptions): RedisConnection {
  const resolved: RedisTarget = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const nodeOptions = {
    name: options.name?.replace(/[^\x21-\x7e]/g, '_'),
    disableOfflineQueue: true,
    socket: { connectTimeout: options.connectTimeoutMs, reconnectStrategy: options.reconnectDelayMs },
  };
  const commandOptions = options.commandTimeoutMs === undefined ? undefined : { timeout: options.commandTimeoutMs };
  return resolved.kind === 'single'
    ? connectSingle(createClient({ url: resolved.url, ...nodeOptions, commandOptions }), options)
    : connectCluster(
        createCluster({
          rootNodes: resolved.rootNodes.map((url) => ({ url })),
          defaults: nodeOptions,
          commandOptions,
          // Reads from replicas could miss a write just made, and a stale entity is what the cache must avoid.
          useReplicas: false,
        }),
        options,
      );
}

function connectSingle(client: SingleClient, options: RedisConnectionOptions): SingleRedisConnection {
  client.on('error', options.onError);
  const firstAttempt = new Promise<void>((resolve) => {
    const events = ['ready', 'error', 'end'] as const;
    const done = () => {
      for (const event of events) client.off(event, done);
      resolve();
    };
    for (const event of events) client.on(event, done);
  });
  // node-redis retries by itself (reconnectStrategy); this only reports a failure of the very first attempt.
  client.connect().catch(options.onError);
  return {
    kind: 'single',
    client,
    firstAttempt,
    get ready() {
      return client.isReady;
    },
    get open() {
      return client.isOpen;
    },
    destroy() {
      if (client.isOpen) client.destroy();
    },
  };
}

function connectCluster(client: ClusterClient, options: RedisConnectionOptions): ClusterRedisConnection {
  let destroyed = false;
  let wake: (() => void) | undefined;
  let firstAttemptDone!: () => void;
  const firstAttempt = new Promise<void>((resolve) => (firstAttemptDone = resolve));
  client.on('error', options.onError);
  client.on('node-error', options.onError);
  void (async () => {
    for (let attempt = 0; !destroyed; attempt++) {
      try {
        await client.connect();
        return;
      } catch (error) {
        if (!destroyed) options.onError(error);
      } finally {
        firstAttemptDone();
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.reconnectDelayMs(attempt));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    kind: 'cluster',
    client,
    firstAttempt,
    get ready() {
      return !destroyed && client.isOpen && client.masters.length > 0;
    },
    get open() {
      return !destroyed;
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      firstAttemptDone();
      wake?.();
      client.destroy();
    },
  };
}
