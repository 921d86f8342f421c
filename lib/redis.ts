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
