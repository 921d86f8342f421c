import crypto from 'node:crypto';
import type http from 'node:http';
import net from 'node:net';
import { Kind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import { messageOf } from '../../lib/errors';
import type { RedisTarget } from '../../lib/config';
import { createOutageLog, createRedisConnection, reconnectDelayMs, withDeadline } from '../../lib/redis';
import type { Caller } from '../../lib/identity';
import type { Logger } from '../../lib/logger';

/**
 * Per-client rate limits, shared by every gateway replica.
 *
 * The algorithm is GCRA (the generic cell rate algorithm, as in redis-cell): a policy of `perMinute` requests
 * emits one unit every `interval = 60 s / perMinute`, and a client's whole state is one number, its
 * theoretical arrival time (TAT): the moment its bucket would be empty again if it stopped now. A request
 * costing `c` is allowed when `max(TAT, now) + c·interval` is no more than `tolerance = (burst + 1)·interval`
 * ahead of now; it then becomes the new TAT. So an idle client may send `burst + 1` units at once and then one
 * per interval, and a key that has expired (TTL = TAT − now) is exactly a full bucket: nothing to sweep.
 *
 * One request may charge two policies (its request or operation limit, and the mutation limit). Both are
 * charged or neither is: a refused mutation must not also spend the client's request budget. In Redis the
 * whole decision is one Lua script, so concurrent requests from any replica are serialised by Redis, and it
 * reads Redis's own clock so replicas with skewed clocks agree.
 */

/** One rate: `perMinute` units per minute, `burst` more in one go after idling. */
export interface RatePolicy {
  /** Names the policy in the `RateLimit` headers, in errors and in storage keys. */
  name: string;
  perMinute: number;
  burst: number;
}

export interface GcraOutcome {
  /** This policy alone would allow the charge. */
  allowed: boolean;
  /** The TAT to keep (ms): the new one when allowed, the unchanged one when not. */
  tat: number;
  /** Units that could still be spent right now. */
  remaining: number;
  /** Whole ms until this charge would be allowed; 0 when allowed; `Infinity` when its cost exceeds the burst. */
  retryAfterMs: number;
  /** Whole ms until the bucket is full again (and its key may expire). */
  resetAfterMs: number;
}

/**
 * Sub-microsecond float noise must not flip a decision: times near 1.7e12 ms carry about 2e-4 ms of rounding,
 * and Redis's clock has 1 µs resolution. The Lua script uses the same constant.
 */
const EPSILON_MS = 0.001;

const emissionIntervalMs = (policy: Pick<RatePolicy, 'perMinute'>): number => 60_000 / policy.perMinute;
const toleranceMs = (policy: Pick<RatePolicy, 'perMinute' | 'burst'>): number =>
  (policy.burst + 1) * emissionIntervalMs(policy);

/**
 * One GCRA decision. `now` and `tat` in ms on any one clock (`tat` undefined: never seen, or expired).
 * Pure; the Redis script is a line-by-line transcription, with the same operations in the same order so both
 * backends compute the same doubles.
 */
export function gcra(
  now: number,
  tat: number | undefined,
  cost: number,
  policy: Pick<RatePolicy, 'perMinute' | 'burst'>,
): GcraOutcome {
  const interval = emissionIntervalMs(policy);
  const tolerance = toleranceMs(policy);
  const base = tat === undefined || tat < now ? now : tat;
  const fresh = base + cost * interval;
  const allowed = fresh - tolerance - now <= EPSILON_MS;
  const kept = allowed ? fresh : base;
  let retryAfterMs = 0;
  if (!allowed) retryAfterMs = cost * interval - tolerance > EPSILON_MS ? Infinity : Math.ceil(fresh - tolerance - now);
  return {
    allowed,
    tat: kept,
    remaining: Math.max(0, Math.floor((tolerance - (kept - now) + EPSILON_MS) / interval)),
    retryAfterMs,
    resetAfterMs: Math.ceil(kept - now),
  };
}

export interface RateCharge {
  policy: RatePolicy;
  /** Positive whole units. */
  cost: number;
}

/** A policy after a decision: what the client has left under it. */
export interface PolicyState {
  policy: RatePolicy;
  allowed: boolean;
  remaining: number;
  retryAfterMs: number;
  resetAfterMs: number;
}

/**
 * Charges every policy or none: when one refuses, the others report their state without the charge (cost 0).
 * Returns the outcomes and the TATs to keep (only when allowed).
 */
function chargeAll(now: number, tats: (number | undefined)[], charges: RateCharge[]): GcraOutcome[] {
  const outcomes = charges.map((charge, index) => gcra(now, tats[index], charge.cost, charge.policy));
  if (outcomes.every((outcome) => outcome.allowed)) return outcomes;
  return outcomes.map((outcome, index) =>
    outcome.allowed ? gcra(now, tats[index], 0, charges[index]!.policy) : outcome,
  );
}

/** Where the TATs live: Redis, shared by every replica, or this process. */
export interface RateLimitStore {
  readonly kind: 'redis' | 'memory';
  /**
   * Charges `client` under every policy, or under none if any refuses, atomically. `undefined` when the store
   * is unavailable (down, slow, restarting): the caller fails open. Never throws.
   */
  consume(client: string, charges: RateCharge[]): Promise<PolicyState[] | undefined>;
  close(): Promise<void>;
}

export interface MemoryRateLimitStore extends RateLimitStore {
  readonly kind: 'memory';
  /** Keys held (one per policy and client). */
  readonly size: number;
}

const toStates = (charges: RateCharge[], outcomes: GcraOutcome[]): PolicyState[] =>
  outcomes.map(({ allowed, remaining, retryAfterMs, resetAfterMs }, index) => ({
    policy: charges[index]!.policy,
    allowed,
    remaining,
    retryAfterMs,
    resetAfterMs,
  }));

/**
 * The same algorithm in an LRU, for one replica (`npm start` without Redis). At most `maxEntries` keys: the
 * least recently seen is dropped first. Dropping a key forgives that client's debt, so the bound should be
 * well above the clients active within one burst window; 100,000 keys are a few MB.
 */
export function createMemoryRateLimitStore(
  options: { maxEntries?: number; now?: () => number } = {},
): MemoryRateLimitStore {
  const maxEntries = options.maxEntries ?? 100_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1)
    throw new Error(`createMemoryRateLimitStore: maxEntries must be a positive integer, got ${maxEntries}`);
  const now = options.now ?? Date.now;
  const tats = new LRUCache<string, number>({ max: maxEntries });
  return {
    kind: 'memory',
    get size() {
      return tats.size;
    },
    async consume(client, charges) {
      const at = now();
      const keys = charges.map((charge) => `${charge.policy.name}\u0000${client}`);
      const outcomes = chargeAll(
        at,
        keys.map((key) => tats.get(key)),
        charges,
      );
      if (outcomes.every((outcome) => outcome.allowed))
        keys.forEach((key, index) => tats.set(key, outcomes[index]!.tat));
      return toStates(charges, outcomes);
    },
    async close() {
      tats.clear();
    },
  };
}

/**
 * `gcra` for every key at once, in Redis. KEYS: one TAT per policy. ARGV[1]: now in ms, or '' for Redis's
 * clock (TIME); then per key: emission interval (ms), tolerance (ms), cost. TATs are written with %.17g so they
 * read back as the same double; each key expires when its bucket is full again.
 * Reply: { allowed, then per key: allowed, remaining, retry after ms (-1: never), reset after ms }.
 */
const GCRA_SCRIPT = `
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
end
local epsilon = ${EPSILON_MS}
local intervals, tolerances, costs, bases, freshes, fits = {}, {}, {}, {}, {}, {}
local allowed = 1
for i = 1, #KEYS do
  intervals[i] = tonumber(ARGV[3 * i - 1])
  tolerances[i] = tonumber(ARGV[3 * i])
  costs[i] = tonumber(ARGV[3 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  bases[i] = tat
  freshes[i] = tat + costs[i] * intervals[i]
  fits[i] = freshes[i] - tolerances[i] - now <= epsilon
  if not fits[i] then allowed = 0 end
end
local reply = { allowed }
for i = 1, #KEYS do
  local kept = bases[i]
  if allowed == 1 then
    kept = freshes[i]
    redis.call('SET', KEYS[i], string.format('%.17g', kept), 'PX', math.max(1, math.ceil(kept - now)))
  end
  local retry = 0
  if not fits[i] then
    if costs[i] * intervals[i] - tolerances[i] > epsilon then
      retry = -1
    else
      retry = math.ceil(freshes[i] - tolerances[i] - now)
    end
  end
  local remaining = math.floor((tolerances[i] - (kept - now) + epsilon) / intervals[i])
  if remaining < 0 then remaining = 0 end
  reply[#reply + 1] = fits[i] and 1 or 0
  reply[#reply + 1] = remaining
  reply[#reply + 1] = retry
  reply[#reply + 1] = math.ceil(kept - now)
end
return reply
`;
const GCRA_SHA1 = crypto.createHash('sha1').update(GCRA_SCRIPT).digest('hex');

export interface RedisRateLimitStoreOptions {
  /** One server (its URL) or a cluster. */
  redis: RedisTarget | string;
  /** Bound on one decision; past it the request is allowed. */
  timeoutMs: number;
  /** Namespaces every key, so several gateways (or test runs) can share one Redis. */
  keyPrefix: string;
  logger: Logger;
  /** For tests: decide at this clock's time (ms) instead of Redis's TIME. */
  now?: () => number;
}

/**
 * One key per (policy, client): `<prefix>ratelimit:{<client>}:<policy>`. The client is the hash tag, so the
 * keys one decision reads together hash to one slot and the script also runs on a Redis Cluster.
 */
export const rateLimitKey = (keyPrefix: string, client: string, policy: string): string =>
  `${keyPrefix}ratelimit:{${client}}:${policy}`;

/**
 * Redis, shared by every replica. Every decision is bounded by the timeout and never throws: a Redis that is
 * down, slow or restarting answers `undefined` (the caller allows the request and counts it), and the outage
 * is logged once, like the cache store's.
 */
export function createRedisRateLimitStore(options: RedisRateLimitStoreOptions): RateLimitStore {
  const { logger, keyPrefix, timeoutMs } = options;
  const outage = createOutageLog(logger, {
    down: 'rate limit store unavailable; allowing requests without limits until it is back',
    back: 'rate limit store available again',
  });
  let closed = false;
  const failed = (error: unknown) => {
    if (!closed) outage.failed(error);
  };
  // Connects in the background: the gateway serves (unlimited) whether or not Redis is up yet.
  const connection = createRedisConnection(options.redis, {
    connectTimeoutMs: 2000,
    reconnectDelayMs,
    onError: failed,
  });
  if (connection.kind === 'single') connection.client.on('ready', () => outage.recovered());
  const { client } = connection;

  // On a cluster the script runs on the node that owns the client's slot (its keys share the client's hash
  // tag); each node keeps its own script cache, and a replica promoted by a failover starts with an empty one.
  const evaluate = async (keys: string[], args: string[]): Promise<unknown> => {
    try {
      return await client.evalSha(GCRA_SHA1, { keys, arguments: args });
    } catch (error) {
      // A restarted or flushed Redis has forgotten the script: send it once, Redis caches it again.
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error;
      return client.eval(GCRA_SCRIPT, { keys, arguments: args });
    }
  };

  return {
    kind: 'redis',
    async consume(clientKey, charges) {
      if (charges.length === 0) return [];
      if (!connection.ready) {
        failed(new Error('not connected'));
        return undefined;
      }
      const keys = charges.map((charge) => rateLimitKey(keyPrefix, clientKey, charge.policy.name));
      const args = [options.now ? String(options.now()) : ''];
      for (const { policy, cost } of charges)
        args.push(String(emissionIntervalMs(policy)), String(toleranceMs(policy)), String(cost));
      try {
        const reply = (await withDeadline(
          evaluate(keys, args),
          timeoutMs,
          `rate limit store did not answer within ${timeoutMs} ms`,
        )) as number[];
        // A cluster has no "ready again" event for a node that came back: the first answer says it.
        if (connection.kind === 'cluster') outage.recovered();
        return charges.map(({ policy }, index) => {
          const at = 1 + index * 4;
          return {
            policy,
            allowed: reply[at] === 1,
            remaining: Number(reply[at + 1]),
            retryAfterMs: reply[at + 2] === -1 ? Infinity : Number(reply[at + 2]),
            resetAfterMs: Number(reply[at + 3]),
          };
        });
      } catch (error) {
        failed(error);
        return undefined;
      }
    },
    async close() {
      // Destroy first: while Redis is unreachable the background connect retries for ever and never settles.
      closed = true;
      connection.destroy();
      await connection.firstAttempt;
    },
  };
}

/** Redis when one is configured (a server or a cluster), else this process: the one switch between the two backends. */
export function createRateLimitStore(options: {
  redis: RedisTarget | string | undefined;
  timeoutMs: number;
  keyPrefix: string;
  logger: Logger;
  /** In-process store only: keys kept. Default 100,000. */
  maxEntries?: number;
}): RateLimitStore {
  return options.redis
    ? createRedisRateLimitStore({
        redis: options.redis,
        timeoutMs: options.timeoutMs,
        keyPrefix: options.keyPrefix,
        logger: options.logger,
      })
    : createMemoryRateLimitStore({ maxEntries: options.maxEntries });
}

/**
 * An address in one spelling: ports and brackets dropped, IPv6 lower-cased and compressed, IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`, `::ffff:102:304`) as plain IPv4. `undefined` when it is not an IP address.
 */
export function normalizeAddress(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let address = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) address = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(address)) address = address.slice(0, address.lastIndexOf(':'));
  switch (net.isIP(address)) {
    case 4:
      return address;
    case 6: {
      if (address.includes('%')) return undefined; // zone ids never identify a remote client
      // The WHATWG URL parser serialises IPv6 canonically (RFC 5952), mapped IPv4 tail as hex words.
      const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
      const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
      if (!mapped) return canonical;
      const high = parseInt(mapped[1]!, 16);
      const low = parseInt(mapped[2]!, 16);
      return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
    }
    default:
      return undefined;
  }
}

/**
 * Who is charged: a verified user (`user:<id>`) or service (`service:<name>`), else the client's address
 * (`ip:<address>`).
 *
 * The address is the socket's peer, unless that peer is a trusted proxy: then `X-Forwarded-For` is read from
 * the right, skipping trusted proxies, and the first address that is not one is the client. Only the
 * right-most entries were written by proxies we trust (each appends the peer it saw); anything to their left
 * came from the client and may be forged, so the left-most entry is never believed. When every entry is a
 * trusted proxy, the left-most is the client; an entry that is not an address ends the walk at the last
 * trusted hop.
 */
export function clientKey(req: http.IncomingMessage, caller: Caller, trustedProxies: string[]): string {
  switch (caller.kind) {
    case 'user':
      return `user:${caller.userId}`;
    case 'service':
      return `service:${caller.service}`;
    case 'anonymous':
      return `ip:${clientAddress(req, trustedProxySet(trustedProxies))}`;
  }
}

const trustedSets = new WeakMap<string[], Set<string>>();
function trustedProxySet(trustedProxies: string[]): Set<string> {
  let set = trustedSets.get(trustedProxies);
  if (!set) {
    set = new Set(trustedProxies.map((proxy) => normalizeAddress(proxy) ?? proxy));
    trustedSets.set(trustedProxies, set);
  }
  return set;
}

/**
 * The socket's peer, normalised once per distinct address (bounded): normalising an IPv6 or IPv4-mapped peer
 * goes through the URL parser, which was most of the rate limit's cost per request.
 */
const peers = new Map<string, string | undefined>();
function normalizedPeer(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (peers.has(raw)) return peers.get(raw);
  const normalized = normalizeAddress(raw);
  if (peers.size >= 10_000) peers.clear();
  peers.set(raw, normalized);
  return normalized;
}

function clientAddress(req: http.IncomingMessage, trusted: Set<string>): string {
  const peer = normalizedPeer(req.socket.remoteAddress);
  if (peer === undefined) return 'unknown';
  if (!trusted.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  // Node joins repeated X-Forwarded-For headers with ", "; an array would come from a hand-built request.
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').filter((hop) => hop.trim());
  let client = peer;
  for (let index = hops.length - 1; index >= 0; index--) {
    const hop = normalizeAddress(hops[index]);
    if (hop === undefined) break;
    client = hop;
    if (!trusted.has(hop)) break;
  }
  return client;
}

/**
 * The mutation root fields an operation would run, each alias counted: `mutation { a: pay(…) b: pay(…) }` is 2.
 * Fragments at the root are followed; a repeated response key counts once (GraphQL runs it once); `__typename`
 * is free. 0 for queries and subscriptions, and when the operation cannot be found.
 */
export function countMutationFields(document: DocumentNode, operationName?: string | null): number {
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName
    ? operations.find((definition) => definition.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (!operation || operation.operation !== 'mutation') return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions)
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  const responseKeys = new Set<string>();
  const visited = new Set<string>();
  const collect = (selectionSet: SelectionSetNode) => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value !== '__typename') responseKeys.add(selection.alias?.value ?? selection.name.value);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet);
      } else if (!visited.has(selection.name.value)) {
        visited.add(selection.name.value);
        const fragment = fragments.get(selection.name.value);
        if (fragment) collect(fragment.selectionSet);
      }
    }
  };
  collect(operation.selectionSet);
  return responseKeys.size;
}

export interface RateLimitOptions {
  /** Off: every request is allowed, no store is asked and no headers are sent. Default true. */
  enabled?: boolean;
  /** Requests per minute per client (verified user or service, else client IP). Default 600. */
  perMinute?: number;
  /**
   * Extra requests allowed at once, above the steady rate, after idling: `burst + 1` in one go. Default 60.
   * The mutation and per-operation policies get the same burst window in time: `burst × theirRate / perMinute`
   * units, rounded (6 mutations at the defaults, so at most 7 mutation root fields in one request).
   */
  burst?: number;
  /** Mutation root fields per minute per client, each alias counted; charged on top of the request. Default 60. */
  mutationsPerMinute?: number;
  /** Per operation name: requests per minute, instead of `perMinute`, on a budget of its own. Default none. */
  operations?: Record<string, number>;
  /** Proxies whose `X-Forwarded-For` is believed (IP addresses). Default none: the socket's peer is the client. */
  trustedProxies?: string[];
  /** For tests: this replica's clock (ms), which times leases. Default `Date.now`. */
  now?: () => number;
}

/**
 * Leases, for hot clients on a shared (Redis) store. A decision in Redis costs this replica a round trip and
 * several µs of CPU, as much as the rest of a cached request; a client sending hundreds of requests a second
 * pays it hundreds of times a second. So a replica may take a client's units from Redis a few at a time, in one
 * charge (all or nothing, as any charge), and spend them locally without asking again.
 *
 * The guarantees: a replica never allows a request it did not pay for in Redis, so the limit holds across
 * replicas exactly as without leases; the price is that units leased but not spent are lost to the client (it
 * is refused early, never allowed late), at most one lease per replica, and a lease dies unspent after
 * `LEASE_TTL_MS`. To keep that loss small, a lease is sized by the client's own pace: it starts at 1 unit
 * (which is exactly the unleased behaviour), doubles while each lease is spent within `LEASE_WINDOW_MS`,
 * halves when it is not, and never exceeds 1/32 of the policy's burst (nor `MAX_LEASE`). So a lease holds at
 * most about 100 ms of the client's own traffic, and a policy with a burst under 63 (the default is 60) is
 * never leased: every one of its decisions is made in Redis. Near the limit a lease is refused whole; the
 * request is then charged 1 unit exactly, and the lease shrinks back to 1. Mutations (two policies at once)
 * are never leased.
 */
const LEASE_WINDOW_MS = 50;
const LEASE_TTL_MS = 1_000;
const MAX_LEASE = 1_000;
const leaseLimit = (policy: RatePolicy): number => Math.min(MAX_LEASE, Math.floor((policy.burst + 1) / 32));

interface Lease {
  /** Units paid for in Redis and not yet spent. */
  units: number;
  /** Units taken by the last charge. */
  size: number;
  leasedAt: number;
  /** What Redis said was left after the last charge, and when the bucket would be full again (this clock). */
  remaining: number;
  resetAt: number;
  /** A charge for this key in flight: concurrent requests wait for it rather than each leasing. */
  pending: Promise<void> | undefined;
  /**
   * Redis refused this client a unit until then (this clock): until then it is refused here, without asking.
   * Exact, since other replicas can only push that moment later; a flood of 2,000 requests from one client
   * then costs Redis one decision per emission interval instead of 2,000.
   */
  refusedUntil: number;
}

export interface RateLimitRequest {
  req: http.IncomingMessage;
  caller: Caller;
  operationName?: string | null;
  /** Root fields of a mutation (`countMutationFields`); 0 or absent for queries and subscriptions. */
  mutationFields?: number;
}

export type RateLimitDecision =
  | {
      allowed: true;
      client: string;
      headers: Record<string, string>;
      /** The store did not answer (down, slow): allowed unchecked. Count it. */
      storeUnavailable: boolean;
    }
  | {
      allowed: false;
      client: string;
      status: 429;
      /** Seconds until the request would be allowed; `undefined` when it never would (cost above the burst). */
      retryAfterSeconds: number | undefined;
      headers: Record<string, string>;
      /** Names of the policies that refused. */
      policies: string[];
      error: RateLimitedError;
    };

export interface RateLimitedError {
  message: string;
  extensions: { code: 'RATE_LIMITED'; policies: string[]; retryAfterSeconds?: number };
}

export interface RateLimiter {
  check(request: RateLimitRequest): Promise<RateLimitDecision>;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`RateLimitOptions.${name}: expected a positive number, got ${value}`);
  return value;
}

/**
 * The decision for one GraphQL request: 1 unit from the request policy (or the operation's own), plus
 * `mutationFields` units from the mutation policy, all charged or none.
 *
 * Headers follow draft-ietf-httpapi-ratelimit-headers-11 (May 2026; the field syntax is unchanged since -08):
 * `RateLimit-Policy` lists each policy the request was charged under (`"request";q=600;w=60`) and `RateLimit`
 * what is left under it (`"request";r=42;t=3`): `r` the units that could be spent now, `t` the seconds until
 * the policy's quota is whole again. A refused request also gets `Retry-After` (seconds, RFC 9110).
 */
export function createRateLimit(options: RateLimitOptions & { store: RateLimitStore }): RateLimiter {
  const { store } = options;
  const enabled = options.enabled ?? true;
  const perMinute = positive('perMinute', options.perMinute ?? 600);
  const burst = options.burst ?? 60;
  if (!Number.isInteger(burst) || burst < 0)
    throw new Error(`RateLimitOptions.burst: expected a non-negative integer, got ${burst}`);
  const burstFor = (rate: number) => Math.round((burst * rate) / perMinute);
  const requestPolicy: RatePolicy = { name: 'request', perMinute, burst };
  const mutationsPerMinute = positive('mutationsPerMinute', options.mutationsPerMinute ?? 60);
  const mutationPolicy: RatePolicy = {
    name: 'mutation',
    perMinute: mutationsPerMinute,
    burst: burstFor(mutationsPerMinute),
  };
  const operationPolicies = new Map<string, RatePolicy>();
  for (const [name, rate] of Object.entries(options.operations ?? {}))
    operationPolicies.set(name, {
      name: `operation:${name}`,
      perMinute: positive(`operations.${name}`, rate),
      burst: burstFor(rate),
    });
  const trustedProxies = options.trustedProxies ?? [];
  for (const proxy of trustedProxies)
    if (normalizeAddress(proxy) === undefined)
      throw new Error(`RateLimitOptions.trustedProxies: expected IP addresses, got '${proxy}'`);

  const now = options.now ?? Date.now;
  const leases = new LRUCache<string, Lease>({ max: 10_000 });
  const newLease = (at: number): Lease => ({
    units: 0,
    size: 0,
    leasedAt: -Infinity,
    remaining: 0,
    resetAt: at,
    pending: undefined,
    refusedUntil: -Infinity,
  });
  /** 429 for `waitMs` more: the request would be allowed then. */
  const tooMany = (
    client: string,
    policies: string[],
    waitMs: number,
    headers: Record<string, string>,
  ): RateLimitDecision => {
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return {
      allowed: false,
      client,
      status: 429,
      retryAfterSeconds,
      headers: { ...headers, 'Retry-After': String(retryAfterSeconds) },
      policies,
      error: {
        message: `Too many requests (${policies.join(', ')} rate limit); retry in ${retryAfterSeconds} s`,
        extensions: { code: 'RATE_LIMITED', policies, retryAfterSeconds },
      },
    };
  };
  const policyHeader = (policy: RatePolicy) => `"${policy.name}";q=${Math.floor(policy.perMinute)};w=60`;
  const leasedHeaders = (policy: RatePolicy, lease: Lease, at: number): Record<string, string> => ({
    'RateLimit-Policy': policyHeader(policy),
    RateLimit: `"${policy.name}";r=${lease.remaining + lease.units};t=${Math.max(0, Math.ceil((lease.resetAt - at) / 1000))}`,
  });
  const spend = (lease: Lease | undefined, at: number): boolean => {
    if (!lease || lease.units <= 0) return false;
    if (at - lease.leasedAt >= LEASE_TTL_MS) {
      lease.units = 0;
      return false;
    }
    lease.units--;
    return true;
  };

  /**
   * One request under a leasable policy: a unit of this replica's lease if it has one, else a new lease from
   * the store (the request takes its first unit). `undefined`: decide without a lease (the store refused the
   * lease, so the request is charged 1 unit exactly), or `storeUnavailable`.
   */
  const leased = async (
    key: string,
    client: string,
    policy: RatePolicy,
    cap: number,
  ): Promise<RateLimitDecision | undefined> => {
    let lease = leases.get(key);
    if (spend(lease, now()))
      return { allowed: true, client, headers: leasedHeaders(policy, lease!, now()), storeUnavailable: false };
    if (lease?.pending) {
      await lease.pending;
      if (spend(lease, now()))
        return { allowed: true, client, headers: leasedHeaders(policy, lease, now()), storeUnavailable: false };
    }
    const at = now();
    if (!lease) leases.set(key, (lease = newLease(at)));
    const size =
      lease.size === 0
        ? 1
        : at - lease.leasedAt < LEASE_WINDOW_MS
          ? Math.min(cap, lease.size * 2)
          : Math.max(1, lease.size >> 1);
    if (size === 1 && lease.size <= 1 && at - lease.leasedAt >= LEASE_WINDOW_MS) {
      // A client at an ordinary pace: no lease, the decision is Redis's as without leases (but still timed).
      lease.size = 1;
      lease.leasedAt = at;
      return undefined;
    }
    let settle!: () => void;
    const pending = new Promise<void>((resolve) => (settle = resolve));
    lease.pending = pending;
    try {
      const states = await store.consume(client, [{ policy, cost: size }]);
      if (!states) return { allowed: true, client, headers: {}, storeUnavailable: true };
      const state = states[0]!;
      if (!state.allowed) {
        lease.size = 1;
        return undefined;
      }
      lease.units = (at - lease.leasedAt < LEASE_TTL_MS ? lease.units : 0) + size - 1;
      lease.size = size;
      lease.leasedAt = at;
      lease.remaining = state.remaining;
      lease.resetAt = at + state.resetAfterMs;
      return { allowed: true, client, headers: leasedHeaders(policy, lease, at), storeUnavailable: false };
    } finally {
      if (lease.pending === pending) lease.pending = undefined;
      settle();
    }
  };

  return {
    async check({ req, caller, operationName, mutationFields = 0 }) {
      const client = clientKey(req, caller, trustedProxies);
      if (!enabled) return { allowed: true, client, headers: {}, storeUnavailable: false };
      const policy = (operationName && operationPolicies.get(operationName)) || requestPolicy;
      // One policy on the shared store: this replica may answer from what Redis told it (leases, refusals).
      const key = mutationFields === 0 && store.kind === 'redis' ? `${policy.name}\u0000${client}` : undefined;
      if (key !== undefined) {
        const local = leases.get(key);
        const at = now();
        if (local && at < local.refusedUntil)
          return tooMany(client, [policy.name], local.refusedUntil - at, {
            'RateLimit-Policy': policyHeader(policy),
            RateLimit: `"${policy.name}";r=0;t=${Math.max(0, Math.ceil((local.resetAt - at) / 1000))}`,
          });
        const cap = leaseLimit(policy);
        if (cap > 1) {
          const decision = await leased(key, client, policy, cap);
          if (decision) return decision;
        }
      }
      const charges: RateCharge[] = [{ policy, cost: 1 }];
      if (mutationFields > 0) charges.push({ policy: mutationPolicy, cost: Math.ceil(mutationFields) });
      const states = await store.consume(client, charges);
      if (!states) return { allowed: true, client, headers: {}, storeUnavailable: true };
      const headers: Record<string, string> = {
        'RateLimit-Policy': states.map(({ policy }) => policyHeader(policy)).join(', '),
        RateLimit: states
          .map(
            ({ policy, remaining, resetAfterMs }) =>
              `"${policy.name}";r=${remaining};t=${Math.ceil(resetAfterMs / 1000)}`,
          )
          .join(', '),
      };
      const refused = states.filter((state) => !state.allowed);
      if (refused.length === 0) return { allowed: true, client, headers, storeUnavailable: false };
      const policies = refused.map((state) => state.policy.name);
      const waitMs = Math.max(...refused.map((state) => state.retryAfterMs));
      if (waitMs === Infinity) {
        // States come back in charge order.
        const charge = charges[states.findIndex((state) => state.retryAfterMs === Infinity)]!;
        return {
          allowed: false,
          client,
          status: 429,
          retryAfterSeconds: undefined,
          headers,
          policies,
          error: {
            message: `This request costs ${charge.cost} under the '${charge.policy.name}' rate limit, which allows at most ${charge.policy.burst + 1} at once`,
            extensions: { code: 'RATE_LIMITED', policies },
          },
        };
      }
      if (key !== undefined) {
        const at = now();
        let local = leases.get(key);
        if (!local) leases.set(key, (local = newLease(at)));
        local.refusedUntil = at + waitMs;
        local.resetAt = at + states[0]!.resetAfterMs;
      }
      return tooMany(client, policies, waitMs, headers);
    },
  };
}
