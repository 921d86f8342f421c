import type { ApolloServerPlugin } from '@apollo/server';
import type { Config } from '../../lib/config';
import { CHANGES_EXTENSION, createLocalEventBroker, createRedisEventBroker, type EntityChange, type EventBroker } from '../../lib/events';
import type { Logger } from '../../lib/logger';
import type { OutboxRelay } from './outbox';

/**
 * Where resolvers and services note what a write changed, once it has committed, for the response. Publishing
 * is not theirs to do: the store wrote the same changes into the outbox in the write's own transaction.
 */
export interface ChangeRecorder {
  /** Changes this service committed (and put in its outbox): announced in the response. */
  record(...changes: EntityChange[]): void;
  /** Changes another service committed on this request's behalf and published itself: announced in the response only. */
  forward(changes: readonly EntityChange[]): void;
}

/** A recorder for callers that have no request to report to (tests, scripts). */
export const IGNORE_CHANGES: ChangeRecorder = { record: () => undefined, forward: () => undefined };

/** One request's changes, deduplicated (releasing what was just reserved names the same products twice). */
export class RequestChanges implements ChangeRecorder {
  readonly #seen = new Set<string>();
  readonly #own: EntityChange[] = [];
  readonly #announced: EntityChange[] = [];

  record(...changes: EntityChange[]): void {
    for (const change of changes) if (this.#add(change)) this.#own.push(change);
  }

  forward(changes: readonly EntityChange[]): void {
    for (const change of changes) this.#add(change);
  }

  /** What this service committed itself (so its outbox has rows to relay). */
  get own(): readonly EntityChange[] {
    return this.#own;
  }

  /** What the response's extension carries: this service's changes and the ones it forwards. */
  get announced(): readonly EntityChange[] {
    return this.#announced;
  }

  #add(change: EntityChange): boolean {
    const id = changeId(change);
    if (this.#seen.has(id)) return false;
    this.#seen.add(id);
    this.#announced.push(change);
    return true;
  }
}

function changeId(change: EntityChange): string {
  const fields = Object.keys(change.key).sort();
  return JSON.stringify([change.typename, ...fields.map((field) => [field, change.key[field]])]);
}

/**
 * Announces each request's changes once its resolvers have finished, which is after every write committed:
 * the changes go into the response (`extensions.entityChanges`, on every mutation, empty when nothing
 * changed), so the gateway that sent the write can evict at once with or without Redis. When this service wrote
 * something, the response also waits (at most `flushWaitMs`) for an outbox relay pass that started after the
 * commit, so in the common case the event is in the stream by the time the client sees its write succeed; if
 * the broker is slow or down, the response goes anyway and the relay delivers later.
 */
export function entityChangesPlugin<TContext extends { changes: RequestChanges }>(
  outbox: Pick<OutboxRelay, 'flush'>,
  flushWaitMs = 500,
): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ contextValue, operation, response }) {
          const { changes } = contextValue;
          if (operation?.operation !== 'mutation' && changes.announced.length === 0) return;
          if (response.body.kind === 'single') {
            const result = response.body.singleResult;
            result.extensions = { ...result.extensions, [CHANGES_EXTENSION]: changes.announced };
          }
          if (changes.own.length > 0) await outbox.flush(flushWaitMs);
        },
      };
    },
  };
}

/** The one switch: the Redis streams when Redis is configured (a server or a cluster), otherwise an in-process bus. */
export function createEventBroker(config: Readonly<Config>, logger: Logger): EventBroker {
  const { target, changeStream, commandTimeoutMs } = config.redis;
  if (!target) return createLocalEventBroker(logger);
  return createRedisEventBroker({ redis: target, streamKey: changeStream, commandTimeoutMs, logger });
}
