import { setTimeout as sleep } from 'node:timers/promises';
import { messageOf } from './errors';
import type { ListeningServer } from './http';
import type { Logger } from './logger';

/**
 * Graceful shutdown, the same for the gateway and every subgraph. On SIGTERM or SIGINT:
 *
 * 1. draining (`drainMs`): `/readyz` answers 503 at once and everything else is served as before, each response
 *    with `Connection: close`, while the load balancer notices and takes this replica out of rotation;
 * 2. closing: the listeners stop accepting, requests in flight are answered, idle connections are closed;
 * 3. stopping: background work, the GraphQL engine and the Redis and database clients are closed, each bounded;
 * 4. exit 0.
 *
 * Everything after the drain shares `timeoutMs`. Requests still in flight when only a quarter of it (at most a
 * second) is left are cut, so the clients still get time to close; clients still closing an eighth of it (at most
 * 250 ms) before the end are abandoned; and a timer armed at the signal for `drainMs + timeoutMs`, kept referenced so that
 * nothing outlives it, cuts every connection and exits 1 if the sequence is somehow still running. A dependency
 * that never answers (a Redis or PostgreSQL that went away, a request or a client waiting on it) costs at most
 * the deadline, never a hung process. A second signal neither restarts nor hurries the sequence; it says where
 * it is.
 */
export interface GracefulShutdownOptions {
  logger: Logger;
  /** How long to keep serving after the signal (config.shutdown.drainMs). */
  drainMs: number;
  /** How long, after the drain, closing may take before the process is cut short (config.shutdown.timeoutMs). */
  timeoutMs: number;
  servers: readonly ListeningServer[];
  /**
   * Closes what the servers used, once no request is in flight. `deadline` (a `Date.now()` time, a little before
   * the hard one) is when anything still closing should be abandoned, so the exit stays clean.
   */
  stop(deadline: number): Promise<void>;
  /** Ends the process (tests replace it). */
  exit?: (code: number) => void;
}

export type ShutdownPhase = 'serving' | 'draining' | 'closing' | 'stopping' | 'exiting';

export interface GracefulShutdown {
  readonly phase: ShutdownPhase;
  /** Starts the sequence, once; later calls only log. */
  begin(reason: string): void;
  /** SIGTERM and SIGINT start the sequence, and so does the loss of the supervisor's IPC channel (`npm start`). */
  handleSignals(): void;
}

/**
 * Of SHUTDOWN_TIMEOUT_MS, the part kept for closing clients: requests still in flight by then are cut (and the
 * exit code is 1), so that a request stuck on a dead dependency does not leave the clients no time to close.
 */
const reserveForClients = (timeoutMs: number) => Math.min(1_000, timeoutMs / 4);
/** How long before the hard deadline the clients still closing are abandoned, so the exit lands inside it. */
const reserveForExit = (timeoutMs: number) => Math.min(250, timeoutMs / 8);

export function createGracefulShutdown(options: GracefulShutdownOptions): GracefulShutdown {
  const { logger, drainMs, timeoutMs, servers } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let phase: ShutdownPhase = 'serving';
  let startedAt = 0;
  const inFlight = () => servers.reduce((sum, server) => sum + server.inFlight(), 0);

  const describe = (current: ShutdownPhase): string => {
    switch (current) {
      case 'serving':
        return 'serving';
      case 'draining':
        return `draining (listeners close ${Math.max(0, startedAt + drainMs - Date.now())} ms from now)`;
      case 'closing':
        return `waiting for ${inFlight()} requests in flight`;
      case 'stopping':
        return 'closing clients';
      case 'exiting':
        return 'exiting';
    }
  };

  const forceExit = () => {
    logger.error(
      `shutdown did not finish within DRAIN_MS + SHUTDOWN_TIMEOUT_MS (${drainMs + timeoutMs} ms) while ${describe(phase)}; cutting every connection and exiting`,
    );
    phase = 'exiting';
    for (const server of servers) server.destroyConnections();
    exit(1);
  };

  const run = async (reason: string) => {
    startedAt = Date.now();
    const hardDeadline = startedAt + drainMs + timeoutMs;
    // Deliberately not unref()'d: this timer is what guarantees the exit.
    const deadlineTimer = setTimeout(forceExit, drainMs + timeoutMs);
    phase = 'draining';
    for (const server of servers) server.drain();
    logger.info(
      `${reason} received, draining: /readyz answers 503; serving ${drainMs} ms more (DRAIN_MS), then closing`,
      {
        drainMs,
        timeoutMs,
      },
    );
    if (drainMs > 0) await sleep(drainMs);

    phase = 'closing';
    logger.info(`drain over: no longer accepting connections; answering ${inFlight()} requests in flight`);
    let code = 0;
    const cutAt = hardDeadline - reserveForClients(timeoutMs);
    const giveUp = new AbortController();
    const answered = await Promise.race([
      Promise.all(servers.map((server) => server.close())).then(() => true),
      sleep(Math.max(0, cutAt - Date.now()), false, { signal: giveUp.signal }).catch(() => false),
    ]);
    giveUp.abort();
    if (phase !== 'closing') return; // the deadline fired meanwhile
    if (answered) {
      logger.info(`every request answered (${Date.now() - startedAt} ms after ${reason}); closing clients`);
    } else {
      code = 1;
      logger.error(
        `${inFlight()} requests still unanswered ${Date.now() - startedAt} ms after ${reason}; cutting them, closing clients`,
      );
      for (const server of servers) server.destroyConnections();
    }

    phase = 'stopping';
    try {
      await options.stop(hardDeadline - reserveForExit(timeoutMs));
    } catch (error) {
      code = 1;
      logger.error('closing failed', { error: messageOf(error) });
    }
    if (phase !== 'stopping') return; // the deadline fired meanwhile
    phase = 'exiting';
    clearTimeout(deadlineTimer);
    // Every request received was answered (unless cut above): a client-side tally can be checked against this.
    logger.info(`shut down in ${Date.now() - startedAt} ms`, {
      requestsReceived: servers.reduce((sum, server) => sum + server.received(), 0),
    });
    exit(code);
  };

  const shutdown: GracefulShutdown = {
    get phase() {
      return phase;
    },
    begin(reason) {
      if (phase !== 'serving') {
        logger.info(`${reason} received while shutting down; still ${describe(phase)}`);
        return;
      }
      run(reason).catch((error: unknown) => {
        logger.error('shutdown failed; exiting', { error: messageOf(error) });
        exit(1);
      });
    },
    handleSignals() {
      process.on('SIGTERM', () => shutdown.begin('SIGTERM'));
      process.on('SIGINT', () => shutdown.begin('SIGINT'));
      if (process.channel) {
        // Started by `npm start`: if the supervisor dies (even by SIGKILL), stop rather than linger as an orphan.
        process.channel.unref();
        process.once('disconnect', () => shutdown.begin('supervisor gone'));
      }
    },
  };
  return shutdown;
}

/**
 * Waits for `close` until `deadline`; past it, logs that `what` was abandoned (its sockets die with the process)
 * and resolves. Never throws: one client that cannot close must not keep the next from closing.
 */
export async function closeBy(
  what: string,
  close: () => Promise<unknown>,
  deadline: number,
  logger: Logger,
): Promise<void> {
  const remaining = deadline - Date.now();
  const abandoned = new AbortController();
  try {
    const closing = Promise.resolve().then(close);
    const outcome = await Promise.race([
      closing.then(() => 'closed' as const),
      sleep(Math.max(0, remaining), 'abandoned' as const, { signal: abandoned.signal }),
    ]);
    if (outcome === 'abandoned') {
      closing.catch(() => undefined);
      logger.warn(`${what} did not close in time; abandoned`, { waitedMs: Math.max(0, remaining) });
    }
  } catch (error) {
    logger.warn(`${what} failed to close`, { error: messageOf(error) });
  } finally {
    abandoned.abort();
  }
}
