/**
 * The one module that reads the environment. Everything else receives a frozen, validated `Config`.
 *
 * Every variable is parsed by a typed parser; all problems are collected and reported together, each naming
 * the variable and the value it had, so a bad deployment fails at start-up with one readable message.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { closestName, parseSettingsFile } from './config-file';
import { projectRoot } from './paths';

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'pretty' | 'json';
export type SubgraphName = 'users' | 'orders' | 'inventory';
/** Which identical concurrent client queries share one execution (never across different callers). */
export type InboundDedup = 'off' | 'anonymous' | 'all';
export type PlanExecutorKind = 'waves' | 'apollo';
/** Trusted documents: `off`, `allow-unknown` (run them, log and count), `enforce` (only the manifest's). */
export type TrustedDocumentsMode = 'off' | 'allow-unknown' | 'enforce';
/** OTEL_TRACES_SAMPLER values (the specification's, without the Jaeger and X-Ray ones). */
export type TraceSampler =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

/** OpenTelemetry tracing (lib/tracing.ts), with the specification's variables; off unless an endpoint is set. */
export interface TracingConfig {
  /**
   * Where spans are sent, OTLP over HTTP (JSON): OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, else
   * OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`. Undefined (the default, or OTEL_SDK_DISABLED=true): no tracing.
   */
  endpoint: string | undefined;
  /** OTEL_SERVICE_NAME; default: each process's own name (`gateway`, `users`, `orders`, `inventory`). */
  serviceName: string | undefined;
  /** OTEL_TRACES_SAMPLER. Default `parentbased_always_on` (a client's sampling decision is kept). */
  sampler: TraceSampler;
  /** OTEL_TRACES_SAMPLER_ARG: the ratio of the `traceidratio` samplers, from 0 to 1. Default 1. */
  samplerRatio: number;
}

/** Limits on one GraphQL document, checked before validation and planning. */
export interface DocumentLimits {
  /** The document's text, in bytes (UTF-16 code units), checked before anything reads it. Default 131,072. */
  maxDocumentBytes: number;
  /** Lexical tokens (graphql-js `maxTokens`). Default 15,000. */
  maxTokens: number;
  /** Selection-set depth, fragments expanded. Default 15. */
  maxDepth: number;
  /** Aliased fields in the whole operation, fragments expanded. Default 30. */
  maxAliases: number;
  /** Fields at the root of an operation (for a mutation: each is one write). Default 20. */
  maxRootFields: number;
  /** Selections in one selection set (validation compares same-named ones pairwise). Default 100. */
  maxFieldsPerSelection: number;
  /** Directives on one field, fragment spread or inline fragment. Default 10. */
  maxDirectives: number;
  /** Fragment definitions in the document. Default 100. */
  maxFragments: number;
  /** Operations in the document (validation reads every one). Default 10. */
  maxOperations: number;
  /** Fields in one operation with fragments expanded where spread (a fragment bomb's size). Default 2,000. */
  maxFields: number;
  /**
   * Values in the request's variables: every scalar, list item and object field, counted before the variables
   * are coerced (coercing 100,000 list items costs the gateway tens of ms). Default 10,000.
   */
  maxVariableValues: number;
}

/** Cross-origin browser access (gateway/edge/cors.ts). */
export interface CorsConfig {
  /** `'*'`, exact origins, and patterns matched against the whole origin. Default: `['*']` outside production, none in production. */
  origins: (string | RegExp)[];
  /** `Access-Control-Allow-Credentials: true`. Default false. */
  credentials: boolean;
  /** Request headers a cross-origin page may send. Default: authorization, content-type, Apollo's and tracing headers. */
  allowHeaders: string[];
  /** Response headers a cross-origin page may read. Default: x-request-id, ratelimit, ratelimit-policy, retry-after. */
  exposeHeaders: string[];
  /** How long a browser may reuse a preflight's answer. Default 600 s. */
  maxAgeSeconds: number;
}

export interface RateLimitConfig {
  enabled: boolean;
  /** Requests per minute per client (verified user, else client IP). Default 600. */
  perMinute: number;
  /** Extra requests allowed in a burst above the steady rate. Default 60. */
  burst: number;
  /** Mutation root fields per minute per client (each aliased mutation counts). Default 60. */
  mutationsPerMinute: number;
  /** Per operation name: requests per minute, instead of `perMinute`. */
  operations: Record<string, number>;
  /** Proxies whose `X-Forwarded-For` is believed (IP addresses); empty: the socket's address is the client. */
  trustedProxies: string[];
}

export const SUBGRAPH_NAMES: readonly SubgraphName[] = ['users', 'orders', 'inventory'];

/** Where a subgraph keeps its data: a file-backed SQLite database, or a PostgreSQL schema. */
export type DatabaseConfig =
  { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string; schema: string; poolSize: number };

export interface SubgraphServiceConfig {
  name: SubgraphName;
  port: number;
  database: DatabaseConfig;
}

export interface Config {
  nodeEnv: NodeEnv;
  /** True outside production and test: stack traces, plan inspection and the sandbox are on. */
  development: boolean;
  host: string;
  log: {
    level: LogLevel;
    format: LogFormat;
    /**
     * Key of the HMAC that stands for a caller's id in access log lines (LOG_CALLER_SALT): set the same on every
     * replica to follow one caller across them. Default: random per process.
     */
    callerSalt: string | undefined;
  };
  /** Signs the caller identity that the gateway (or a service) forwards to subgraphs. */
  serviceSecret: string;
  /** How old a signed subgraph request may be before the subgraph refuses it (replay window). Default 60 s. */
  signatureMaxAgeMs: number;
  /**
   * Graceful shutdown, for every service. On SIGTERM `/readyz` answers 503 at once and the process keeps serving
   * for `drainMs` (the load balancer's deregistration time; default 5 s in production, 0 elsewhere), then stops
   * accepting, finishes in-flight requests and closes its clients; it exits within drain + `shutdownTimeoutMs`
   * (default 10 s) whatever is unreachable.
   */
  shutdown: { drainMs: number; timeoutMs: number };
  /** Stock reservations (orders ↔ inventory). */
  saga: {
    /** A reservation not confirmed within this is returned to stock by inventory itself. Default 30 s. */
    holdMs: number;
    /** How often orders and inventory look for unfinished work (PENDING orders, expired holds). Default 2 s. */
    recoveryIntervalMs: number;
  };
  /** How often each subgraph's outbox relay publishes committed events. Default 200 ms (and after every write). */
  outboxIntervalMs: number;
  seedDemoData: boolean;
  tracing: TracingConfig;
  subgraphs: Record<SubgraphName, SubgraphServiceConfig>;
  /** Where the orders service reaches inventory directly (for stock reservations). */
  inventoryUrl: string;
  /** Redis for the entity cache, persisted queries and change events; absent: in-process fallbacks. */
  redis: {
    /** Where Redis is (REDIS_URL or REDIS_CLUSTER_NODES); undefined: in-process fallbacks. Clients come from it. */
    target: RedisTarget | undefined;
    /** REDIS_URL: the one server; undefined without Redis and on a cluster. */
    url: string | undefined;
    commandTimeoutMs: number;
    /** The change stream's key; on a cluster always with a hash tag (`{entity-changes}`), see `changeStreamKey`. */
    changeStream: string;
    keyPrefix: string;
  };
  gateway: {
    port: number;
    /**
     * Worker processes serving the one port (node:cluster), sharing nothing but Redis (GATEWAY_WORKERS: a number,
     * or `auto` for one per CPU). Default 1: no cluster, the gateway runs in the process started.
     */
    workers: number;
    supergraphPath: string;
    /**
     * Reload the supergraph when its file's content changes (its directory is watched, so a Kubernetes ConfigMap
     * update and an editor's rename both count). Default true; SIGHUP reloads either way.
     */
    supergraphWatch: boolean;
    /** Overrides of the supergraph's routing URLs, by subgraph name (from SUBGRAPH_URL_<NAME>). */
    subgraphUrls: Record<string, string>;
    subgraphTimeoutMs: number;
    bodyLimitBytes: number;
    /**
     * Operations one batched request (a JSON array of operations in one POST) may carry; each passes every edge
     * check on its own. 0 refuses batches. Default 10.
     */
    batchMaxOperations: number;
    jwt: {
      secret: string | undefined;
      jwksUrl: string | undefined;
      issuer: string | undefined;
      audience: string | undefined;
    };
    /** Coalesce a plan wave's fetches to one subgraph into one HTTP request, and send each representation once. */
    batching: boolean;
    /** Share identical in-flight subgraph fetches (same document, variables and caller). */
    dedupInflight: boolean;
    dedupInbound: InboundDedup;
    /**
     * Who runs query plans: `waves`, ours (one request per subgraph per wave, response shaping compiled per
     * operation), or `apollo`, Apollo Gateway's own executor. Unsupported plans always go to Apollo's.
     */
    planExecutor: PlanExecutorKind;
    entityCache: {
      enabled: boolean;
      maxEntries: number;
      ttlOverrides: Record<string, number>;
      /**
       * maxAge (seconds) for object types without `@cacheControl`, which are otherwise not cached
       * (ENTITY_CACHE_DEFAULT_MAX_AGE). Default 0: off. Such types are PRIVATE unless in `publicTypes`.
       */
      defaultMaxAge: number;
      /** Types without `@cacheControl` whose entries every caller shares (ENTITY_CACHE_PUBLIC_TYPES). Default none. */
      publicTypes: string[];
    };
    persistedQueries: boolean;
    /** Allow `x-debug-plan` requests and the per-request fetch extension (on in development). */
    debugExtensions: boolean;
    /** Document limits, checked before validation; `undefined` when turned off (DOCUMENT_LIMITS=false). */
    limits: DocumentLimits | undefined;
    /** Demand control: operations whose static cost exceeds `maxCost` are rejected before planning. */
    cost: { enabled: boolean; maxCost: number; defaultListSize: number };
    rateLimit: RateLimitConfig;
    trustedDocuments: { mode: TrustedDocumentsMode; manifestPath: string };
    /** Subgraph calls: retries, circuit breaking and stale-if-error (see gateway/fetch/resilience). */
    resilience: {
      /** One retry with jitter for a query fetch that failed to connect (never mutations, never after a timeout). */
      retry: boolean;
      /** Consecutive failures that open a subgraph's circuit. Default 5; 0 turns the breaker off. */
      breakerFailures: number;
      /** How long an open circuit fails at once before one probe is let through. Default 5 s. */
      breakerResetMs: number;
      /** How long past their TTL cached entities may be served when their subgraph fails. Default 300 s; 0 off. */
      staleIfErrorSeconds: number;
    };
    /** Introspection queries answered (default: not in production). */
    introspection: boolean;
    /** The explorer page and the Sandbox landing page (default: not in production). */
    explorer: boolean;
    cors: CorsConfig;
    /** GraphQL subscriptions over graphql-ws and SSE on `/graphql` (gateway/subscriptions); they need Redis. */
    subscriptions: SubscriptionsConfig;
    /** `/metrics`: on its own port when set (not the public one), and/or behind a bearer token. */
    metrics: {
      port: number | undefined;
      token: string | undefined;
      public: boolean;
      /**
       * Distinct operation names that get their own `operation_name` label value, besides those of the trusted
       * documents manifest; later ones are `other` (METRICS_OPERATION_NAMES). Default 100.
       */
      operationNames: number;
    };
  };
}

export interface SubscriptionsConfig {
  /** Serve subscriptions (SUBSCRIPTIONS). Default true. */
  enabled: boolean;
  /** Subscriptions one graphql-ws connection may hold at once (SUBSCRIPTIONS_MAX_PER_CONNECTION). Default 20. */
  maxPerConnection: number;
  /**
   * Open graphql-ws connections and SSE streams per caller: a signed-in user, else the client address
   * (SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER). Default 10.
   */
  maxConnectionsPerCaller: number;
  /** graphql-ws ping interval; a client that misses a pong for as long is dropped (SUBSCRIPTIONS_HEARTBEAT_MS). Default 12,000. */
  heartbeatMs: number;
  /** Events waiting for one subscriber before it is dropped as a slow consumer (SUBSCRIPTIONS_MAX_QUEUED_EVENTS). Default 100. */
  maxQueuedEvents: number;
  /** Bytes waiting in one connection's socket before it is dropped as a slow consumer (SUBSCRIPTIONS_MAX_BUFFERED_BYTES). Default 1 MiB. */
  maxBufferedBytes: number;
}

export const DEVELOPMENT_JWT_SECRET = 'development-only-jwt-secret-change-me';
export const DEVELOPMENT_SERVICE_SECRET = 'development-only-service-secret-change-me';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** One setting as the reader asks for it: the single table behind `--help` and the config file's key check. */
export interface SettingDescription {
  readonly name: string;
  /** What it accepts, for people: `an integer from 0 to 65535`, `one of off, all`. */
  readonly accepts: string;
  /** The default when nothing sets it, as text; undefined when it is unset by default. */
  readonly default: string | undefined;
}

/** Where a setting's value came from: named in messages, and the folder its relative paths are resolved in. */
interface SettingOrigin {
  /** `in <file>`, `from --port`; undefined for the environment. */
  readonly origin: string | undefined;
  readonly baseDir: string;
}

class EnvReader {
  readonly problems: string[] = [];
  /** Every setting asked for, in the order asked (which is the order of `loadConfig`'s code). */
  readonly settings = new Map<string, SettingDescription>();
  constructor(
    private readonly env: Env,
    private readonly originOf: (name: string) => SettingOrigin | undefined = () => undefined,
  ) {}

  private describe(name: string, accepts: string, fallback: unknown): void {
    this.settings.set(name, { name, accepts, default: fallback === undefined ? undefined : String(fallback) });
  }

  raw(name: string): string | undefined {
    if (!this.settings.has(name)) this.describe(name, 'text', undefined);
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    this.describe(name, 'text', fallback);
    return this.raw(name) ?? fallback;
  }

  /** A file or folder; a relative value is resolved in the config file's folder when the file set it. */
  path(name: string, fallback: string): string {
    this.describe(name, 'a path', fallback);
    return path.resolve(this.originOf(name)?.baseDir ?? projectRoot, this.raw(name) ?? fallback);
  }

  /** Appends where the value came from (a config file, a flag) to a problem that starts with a setting's name. */
  attribute(problem: string): string {
    const name = /^([A-Z][A-Z0-9_]*):/.exec(problem)?.[1];
    const origin = name === undefined ? undefined : this.originOf(name)?.origin;
    return origin === undefined ? problem : `${problem} (${origin})`;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    this.describe(name, `one of ${allowed.join(', ')}`, fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name}: expected one of ${allowed.join(', ')}, got '${value}'`);
    return fallback;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    this.describe(name, `an integer from ${min} to ${max}`, fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name}: expected an integer from ${min} to ${max}, got '${value}'`);
      return fallback;
    }
    return parsed;
  }

  /** An integer, or `auto` for `automatic` (say, one per CPU). */
  integerOrAuto(name: string, fallback: number, min: number, max: number, automatic: number): number {
    this.describe(name, `auto or an integer from ${min} to ${max}`, fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (value.toLowerCase() === 'auto') return automatic;
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      this.problems.push(`${name}: expected auto or an integer from ${min} to ${max}, got '${value}'`);
      return fallback;
    }
    return parsed;
  }

  /** A number from 0 to 1 (a ratio). */
  fraction(name: string, fallback: number): number {
    this.describe(name, 'a number from 0 to 1', fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!/^\d*\.?\d+$|^\d+\.$/.test(value) || parsed < 0 || parsed > 1) {
      this.problems.push(`${name}: expected a number from 0 to 1, got '${value}'`);
      return fallback;
    }
    return parsed;
  }

  boolean(name: string, fallback: boolean): boolean {
    this.describe(name, 'true or false', fallback);
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(value.toLowerCase())) return true;
    if (['0', 'false', 'no', 'off'].includes(value.toLowerCase())) return false;
    this.problems.push(`${name}: expected true or false, got '${value}'`);
    return fallback;
  }

  url(name: string, protocols: readonly string[]): string | undefined {
    this.describe(name, `a URL (${protocols.join(' or ')})`, undefined);
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name}: expected a ${protocols.join(' or ')} URL, got '${redact(value)}'`);
        return undefined;
      }
      return value;
    } catch {
      this.problems.push(`${name}: expected a URL, got '${redact(value)}'`);
      return undefined;
    }
  }

  /** Comma-separated URLs; undefined when unset. */
  urls(name: string, protocols: readonly string[]): string[] | undefined {
    this.describe(name, `comma-separated ${protocols.join(' or ')} URLs`, undefined);
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const urls: string[] = [];
    for (const entry of value.split(',').map((part) => part.trim())) {
      let protocol: string | undefined;
      try {
        protocol = new URL(entry).protocol;
      } catch {
        protocol = undefined;
      }
      if (protocol !== undefined && protocols.includes(protocol)) urls.push(entry);
      else this.problems.push(`${name}: expected comma-separated ${protocols.join(' or ')} URLs, got '${redact(entry)}'`);
    }
    return urls;
  }

  /** Names of variables starting with `prefix`. */
  withPrefix(prefix: string, accepts = 'text'): string[] {
    this.describe(`${prefix}<NAME>`, accepts, undefined);
    return Object.keys(this.env).filter((key) => key.startsWith(prefix));
  }
}

/** Hides the password of a URL so that error messages and logs can name it. */
export function redact(value: string): string {
  return value.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}

const DEFAULT_PORTS: Record<SubgraphName, number> = { users: 4001, orders: 4002, inventory: 4003 };

/** Where settings come from besides the environment; the gateway's command line fills these. */
export interface ConfigSources {
  /**
   * A YAML file of settings under the environment variables' names (`PORT: 4000`); the environment overrides it.
   * Relative paths in it are resolved in its folder.
   */
  readonly configFile?: string;
  /** Settings that override the file and the environment, each with what set it, for messages (`--port`). */
  readonly overrides?: Readonly<Record<string, { readonly value: string; readonly origin: string }>>;
  /** Where relative paths from the environment and the overrides are resolved. Default: the project root. */
  readonly baseDir?: string;
}

/** Names that set one setting: whichever layer sets either replaces both from the layers below it. */
const SAME_SETTING: readonly (readonly string[])[] = [['GATEWAY_PORT', 'PORT']];

/**
 * The validated config from, lowest first: defaults, the config file, the environment, the overrides. Problems
 * from every layer are reported together, each naming the setting, the value and (for the file or a flag) where
 * it came from.
 */
export function loadConfig(env: Env = process.env, sources: ConfigSources = {}): Readonly<Config> {
  const merged: Record<string, string> = {};
  const origins = new Map<string, SettingOrigin>();
  const layer = (values: Env, origin: (name: string) => SettingOrigin) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined || value.trim() === '') continue;
      for (const alias of SAME_SETTING.find((names) => names.includes(name)) ?? [name]) {
        delete merged[alias];
        origins.delete(alias);
      }
      merged[name] = value;
      origins.set(name, origin(name));
    }
  };
  const baseDir = sources.baseDir ?? projectRoot;
  const fileProblems: string[] = [];
  if (sources.configFile !== undefined) {
    const file = path.resolve(baseDir, sources.configFile);
    let text: string | undefined;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      fileProblems.push(
        `config file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
    if (text !== undefined) {
      const known = describeSettings();
      const parsed = parseSettingsFile(text, file, (name) => settingIsKnown(name, known));
      fileProblems.push(...parsed.problems);
      for (const name of parsed.unknown) {
        const closest = closestName(
          name,
          known.map((setting) => setting.name),
        );
        fileProblems.push(`${name}: not a known setting${closest ? `; did you mean ${closest}?` : ''} (in ${file})`);
      }
      layer(parsed.values, () => ({ origin: `in ${file}`, baseDir: path.dirname(file) }));
    }
  }
  layer(env, () => ({ origin: undefined, baseDir }));
  const overrides = sources.overrides ?? {};
  const overrideValues = Object.fromEntries(Object.entries(overrides).map(([name, { value }]) => [name, value]));
  layer(overrideValues, (name) => ({ origin: `from ${overrides[name]?.origin ?? 'the command line'}`, baseDir }));
  try {
    const config = buildConfig(new EnvReader(merged, (name) => origins.get(name) ?? { origin: undefined, baseDir }));
    if (fileProblems.length > 0) throw new ConfigError(fileProblems);
    return config;
  } catch (error) {
    if (error instanceof ConfigError && fileProblems.length > 0 && error.problems !== fileProblems)
      throw new ConfigError([...fileProblems, ...error.problems]);
    throw error;
  }
}

/** Every setting with what it accepts and its default (development defaults; production ones where they differ). */
export function describeSettings(): SettingDescription[] {
  const describeUnder = (env: Env) => {
    const read = new EnvReader(env);
    try {
      buildConfig(read);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
    }
    return read.settings;
  };
  const development = describeUnder({});
  const production = describeUnder({ NODE_ENV: 'production' });
  const described = [...development.values()].map((setting) => {
    const inProduction = production.get(setting.name)?.default;
    return inProduction === setting.default || setting.name === 'NODE_ENV'
      ? setting
      : { ...setting, default: `${shownDefault(setting.default)} (production: ${shownDefault(inProduction)})` };
  });
  for (const setting of production.values()) if (!development.has(setting.name)) described.push(setting);
  return described;
}

const shownDefault = (value: string | undefined) => (value === undefined ? 'unset' : value === '' ? '""' : value);

/** True for a described setting, or a name under a described prefix (`SUBGRAPH_URL_<NAME>`). */
function settingIsKnown(name: string, known: readonly SettingDescription[]): boolean {
  return known.some(({ name: described }) => {
    if (!described.endsWith('<NAME>')) return described === name;
    const prefix = described.slice(0, -'<NAME>'.length);
    return name.startsWith(prefix) && name.length > prefix.length;
  });
}

/** Where Redis is: one server, or a Redis Cluster reached through some of its nodes (seeds; it finds the rest). */
export type RedisTarget = { kind: 'single'; url: string } | { kind: 'cluster'; rootNodes: readonly string[] };

/**
 * The change stream's key. On a cluster the name goes inside a hash tag (`entity-changes` becomes
 * `{entity-changes}`) unless it has one, so that the order event stream named after it
 * (`{entity-changes}:order-events`) is in the same slot and one script can append to both.
 */
export function changeStreamKey(name: string, target: RedisTarget | undefined): string {
  if (target?.kind !== 'cluster') return name;
  const open = name.indexOf('{');
  const close = open === -1 ? -1 : name.indexOf('}', open + 1);
  return close > open + 1 ? name : `{${name}}`;
}

function readTracing(read: EnvReader): TracingConfig {
  const tracesEndpoint = read.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', ['http:', 'https:']);
  const baseEndpoint = read.url('OTEL_EXPORTER_OTLP_ENDPOINT', ['http:', 'https:']);
  const disabled = read.boolean('OTEL_SDK_DISABLED', false);
  const endpoint =
    tracesEndpoint ?? (baseEndpoint === undefined ? undefined : `${baseEndpoint.replace(/\/+$/, '')}/v1/traces`);
  return {
    endpoint: disabled ? undefined : endpoint,
    serviceName: read.raw('OTEL_SERVICE_NAME'),
    sampler: read.oneOf<TraceSampler>(
      'OTEL_TRACES_SAMPLER',
      [
        'always_on',
        'always_off',
        'traceidratio',
        'parentbased_always_on',
        'parentbased_always_off',
        'parentbased_traceidratio',
      ],
      'parentbased_always_on',
    ),
    samplerRatio: read.fraction('OTEL_TRACES_SAMPLER_ARG', 1),
  };
}

function readRedis(read: EnvReader): Config['redis'] {
  const url = read.url('REDIS_URL', ['redis:', 'rediss:']);
  const clusterNodes = read.urls('REDIS_CLUSTER_NODES', ['redis:', 'rediss:']);
  if (url !== undefined && clusterNodes !== undefined)
    read.problems.push(
      `REDIS_CLUSTER_NODES: set it or REDIS_URL, not both (REDIS_URL is '${redact(url)}', REDIS_CLUSTER_NODES is '${clusterNodes.map(redact).join(',')}')`,
    );
  const target: RedisTarget | undefined =
    clusterNodes !== undefined && clusterNodes.length > 0
      ? { kind: 'cluster', rootNodes: clusterNodes }
      : url !== undefined
        ? { kind: 'single', url }
        : undefined;
  return {
    target,
    url: target?.kind === 'single' ? url : undefined,
    commandTimeoutMs: read.integer('REDIS_TIMEOUT_MS', 50, 1, 60_000),
    changeStream: changeStreamKey(read.string('CHANGE_STREAM', 'entity-changes'), target),
    keyPrefix: read.string('REDIS_KEY_PREFIX', 'gw:'),
  };
}

function buildConfig(read: EnvReader): Readonly<Config> {
  const nodeEnv = read.oneOf<NodeEnv>('NODE_ENV', ['development', 'production', 'test'], 'development');
  const production = nodeEnv === 'production';
  const dataDir = read.path('DATA_DIR', '.data');
  const sharedDatabaseUrl = read.url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const poolSize = read.integer('DATABASE_POOL_SIZE', 10, 1, 1000);
  const schemaPrefix = read.string('DATABASE_SCHEMA_PREFIX', '');
  if (!/^[a-z_][a-z0-9_]*$|^$/.test(schemaPrefix)) {
    read.problems.push(`DATABASE_SCHEMA_PREFIX: expected lower-case letters, digits and _, got '${schemaPrefix}'`);
  }

  const subgraphs = {} as Record<SubgraphName, SubgraphServiceConfig>;
  for (const name of SUBGRAPH_NAMES) {
    const upper = name.toUpperCase();
    const url = read.url(`${upper}_DATABASE_URL`, ['postgres:', 'postgresql:']) ?? sharedDatabaseUrl;
    subgraphs[name] = {
      name,
      port: read.integer(`${upper}_PORT`, DEFAULT_PORTS[name], 0, 65535),
      database: url
        ? { kind: 'postgres', url, schema: `${schemaPrefix}${name}`, poolSize }
        : { kind: 'sqlite', file: path.join(dataDir, `${name}.sqlite`) },
    };
  }

  const subgraphUrls: Record<string, string> = {};
  for (const key of read.withPrefix('SUBGRAPH_URL_', 'a URL (http: or https:)')) {
    const url = read.url(key, ['http:', 'https:']);
    if (url) subgraphUrls[key.slice('SUBGRAPH_URL_'.length).toLowerCase()] = url;
  }

  const jwtSecret = read.raw('JWT_SECRET');
  const jwksUrl = read.url('JWT_JWKS_URL', ['http:', 'https:']);
  const serviceSecret = read.raw('SERVICE_SECRET');
  if (production) {
    if (!jwtSecret && !jwksUrl)
      read.problems.push('JWT_SECRET or JWT_JWKS_URL: one must be set when NODE_ENV=production');
    if (jwtSecret === DEVELOPMENT_JWT_SECRET) {
      read.problems.push('JWT_SECRET: the development default is refused when NODE_ENV=production');
    }
    if (!serviceSecret || serviceSecret === DEVELOPMENT_SERVICE_SECRET) {
      read.problems.push('SERVICE_SECRET: must be set to a private value when NODE_ENV=production');
    }
  }
  // A shared secret shorter than the HMAC's output can be brute-forced offline from one token or signature.
  const minimumSecret = production ? 32 : 16;
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < minimumSecret) {
    read.problems.push(
      `JWT_SECRET: expected at least ${minimumSecret} bytes${production ? ' when NODE_ENV=production' : ''}, got ${Buffer.byteLength(jwtSecret)}`,
    );
  }
  if (serviceSecret !== undefined && Buffer.byteLength(serviceSecret) < minimumSecret) {
    read.problems.push(
      `SERVICE_SECRET: expected at least ${minimumSecret} bytes${production ? ' when NODE_ENV=production' : ''}, got ${Buffer.byteLength(serviceSecret)}`,
    );
  }

  const documentLimits: DocumentLimits = {
    maxDocumentBytes: read.integer('LIMIT_DOCUMENT_BYTES', 131_072, 64, 104_857_600),
    maxTokens: read.integer('LIMIT_TOKENS', 15_000, 1, 10_000_000),
    maxDepth: read.integer('LIMIT_DEPTH', 15, 1, 1_000),
    maxAliases: read.integer('LIMIT_ALIASES', 30, 0, 100_000),
    maxRootFields: read.integer('LIMIT_ROOT_FIELDS', 20, 1, 100_000),
    maxFieldsPerSelection: read.integer('LIMIT_SELECTION_FIELDS', 100, 1, 100_000),
    maxOperations: read.integer('LIMIT_OPERATIONS', 10, 1, 100_000),
    maxFields: read.integer('LIMIT_FIELDS', 2_000, 1, 10_000_000),
    maxVariableValues: read.integer('LIMIT_VARIABLE_VALUES', 10_000, 1, 100_000_000),
    maxDirectives: read.integer('LIMIT_DIRECTIVES', 10, 0, 10_000),
    maxFragments: read.integer('LIMIT_FRAGMENTS', 100, 0, 100_000),
  };

  const operationRates: Record<string, number> = {};
  const rawOperationRates = read.raw('RATE_LIMIT_OPERATIONS');
  if (rawOperationRates !== undefined) {
    for (const entry of rawOperationRates.split(',')) {
      const match = /^\s*([_A-Za-z][_0-9A-Za-z]*)\s*=\s*(\d+)\s*$/.exec(entry);
      if (match && Number(match[2]) > 0) operationRates[match[1]!] = Number(match[2]);
      else
        read.problems.push(
          `RATE_LIMIT_OPERATIONS: expected OperationName=requestsPerMinute (a positive integer), comma-separated, got '${entry}'`,
        );
    }
  }
  const trustedProxies = (read.raw('TRUSTED_PROXIES') ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const proxy of trustedProxies)
    if (net.isIP(proxy) === 0) read.problems.push(`TRUSTED_PROXIES: expected IP addresses, got '${proxy}'`);
  const cors = readCors(read, production);
  const metricsToken = read.raw('METRICS_TOKEN');
  if (metricsToken !== undefined && Buffer.byteLength(metricsToken) < 16)
    read.problems.push(`METRICS_TOKEN: expected at least 16 bytes, got ${Buffer.byteLength(metricsToken)}`);
  const metricsPortRaw = read.raw('METRICS_PORT');
  const metricsPort = metricsPortRaw === undefined ? undefined : read.integer('METRICS_PORT', 0, 0, 65535);

  const ttlOverrides: Record<string, number> = {};
  const rawOverrides = read.raw('ENTITY_CACHE_TTL');
  if (rawOverrides !== undefined) {
    for (const entry of rawOverrides.split(',')) {
      const match = /^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*=\s*(\d+)\s*$/.exec(entry);
      if (match) ttlOverrides[match[1]!] = Number(match[2]);
      else
        read.problems.push(
          `ENTITY_CACHE_TTL: expected Type=seconds or Type.field=seconds, comma-separated, got '${entry}'`,
        );
    }
  }

  const gatewayPort = read.integer('GATEWAY_PORT', read.integer('PORT', 4000, 0, 65535), 0, 65535);
  const config: Config = {
    nodeEnv,
    development: nodeEnv === 'development',
    host: read.string('HOST', '127.0.0.1'),
    log: {
      level: read.oneOf<LogLevel>('LOG_LEVEL', ['debug', 'info', 'warn', 'error'], 'info'),
      format: read.oneOf<LogFormat>('LOG_FORMAT', ['pretty', 'json'], production ? 'json' : 'pretty'),
      callerSalt: read.raw('LOG_CALLER_SALT'),
    },
    serviceSecret: serviceSecret ?? DEVELOPMENT_SERVICE_SECRET,
    signatureMaxAgeMs: read.integer('SIGNATURE_MAX_AGE_MS', 60_000, 1_000, 3_600_000),
    shutdown: {
      drainMs: read.integer('DRAIN_MS', production ? 5_000 : 0, 0, 600_000),
      timeoutMs: read.integer('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    },
    saga: {
      holdMs: read.integer('RESERVATION_HOLD_MS', 30_000, 1_000, 86_400_000),
      recoveryIntervalMs: read.integer('RECOVERY_INTERVAL_MS', 2_000, 50, 3_600_000),
    },
    outboxIntervalMs: read.integer('OUTBOX_INTERVAL_MS', 200, 10, 60_000),
    seedDemoData: read.boolean('SEED_DEMO_DATA', true),
    tracing: readTracing(read),
    subgraphs,
    inventoryUrl:
      read.url('INVENTORY_URL', ['http:', 'https:']) ?? `http://127.0.0.1:${subgraphs.inventory.port}/graphql`,
    redis: readRedis(read),
    gateway: {
      port: gatewayPort,
      workers: read.integerOrAuto('GATEWAY_WORKERS', 1, 1, 256, os.availableParallelism()),
      supergraphPath: read.path('SUPERGRAPH_PATH', 'schema/supergraph.graphql'),
      supergraphWatch: read.boolean('SUPERGRAPH_WATCH', true),
      subgraphUrls,
      subgraphTimeoutMs: read.integer('SUBGRAPH_TIMEOUT_MS', 10_000, 1, 600_000),
      bodyLimitBytes: read.integer('BODY_LIMIT_BYTES', 1_048_576, 1024, 104_857_600),
      batchMaxOperations: read.integer('BATCH_MAX_OPERATIONS', 10, 0, 1_000),
      jwt: {
        secret: jwtSecret ?? (jwksUrl ? undefined : DEVELOPMENT_JWT_SECRET),
        jwksUrl,
        issuer: read.raw('JWT_ISSUER'),
        audience: read.raw('JWT_AUDIENCE'),
      },
      batching: read.boolean('BATCHING', true),
      dedupInflight: read.boolean('DEDUP_INFLIGHT', true),
      dedupInbound: read.oneOf<InboundDedup>('DEDUP_INBOUND', ['off', 'anonymous', 'all'], 'all'),
      planExecutor: read.oneOf<PlanExecutorKind>('PLAN_EXECUTOR', ['waves', 'apollo'], 'waves'),
      entityCache: {
        enabled: read.boolean('ENTITY_CACHE', true),
        maxEntries: read.integer('ENTITY_CACHE_MAX_ENTRIES', 50_000, 0, 100_000_000),
        ttlOverrides,
        defaultMaxAge: read.integer('ENTITY_CACHE_DEFAULT_MAX_AGE', 0, 0, 31_536_000),
        publicTypes: typeNames(read, 'ENTITY_CACHE_PUBLIC_TYPES'),
      },
      persistedQueries: read.boolean('PERSISTED_QUERIES', true),
      debugExtensions: read.boolean('DEBUG_EXTENSIONS', nodeEnv === 'development'),
      limits: read.boolean('DOCUMENT_LIMITS', true) ? documentLimits : undefined,
      cost: {
        enabled: read.boolean('COST_LIMIT', true),
        maxCost: read.integer('COST_MAX', 20_000, 1, 1_000_000_000),
        defaultListSize: read.integer('COST_DEFAULT_LIST_SIZE', 10, 0, 1_000_000),
      },
      rateLimit: {
        enabled: read.boolean('RATE_LIMIT', true),
        perMinute: read.integer('RATE_LIMIT_PER_MINUTE', 600, 1, 100_000_000),
        burst: read.integer('RATE_LIMIT_BURST', 60, 0, 100_000_000),
        mutationsPerMinute: read.integer('RATE_LIMIT_MUTATIONS_PER_MINUTE', 60, 1, 100_000_000),
        operations: operationRates,
        trustedProxies,
      },
      trustedDocuments: {
        mode: read.oneOf<TrustedDocumentsMode>('TRUSTED_DOCUMENTS', ['off', 'allow-unknown', 'enforce'], 'off'),
        manifestPath: read.path('TRUSTED_DOCUMENTS_MANIFEST', 'schema/trusted-documents.json'),
      },
      resilience: {
        retry: read.boolean('SUBGRAPH_RETRY', true),
        breakerFailures: read.integer('CIRCUIT_BREAKER_FAILURES', 5, 0, 1_000_000),
        breakerResetMs: read.integer('CIRCUIT_BREAKER_RESET_MS', 5_000, 100, 3_600_000),
        staleIfErrorSeconds: read.integer('STALE_IF_ERROR_SECONDS', 300, 0, 86_400 * 7),
      },
      introspection: read.boolean('INTROSPECTION', !production),
      explorer: read.boolean('EXPLORER', !production),
      cors,
      subscriptions: {
        enabled: read.boolean('SUBSCRIPTIONS', true),
        maxPerConnection: read.integer('SUBSCRIPTIONS_MAX_PER_CONNECTION', 20, 1, 10_000),
        maxConnectionsPerCaller: read.integer('SUBSCRIPTIONS_MAX_CONNECTIONS_PER_CALLER', 10, 1, 1_000_000),
        heartbeatMs: read.integer('SUBSCRIPTIONS_HEARTBEAT_MS', 12_000, 100, 600_000),
        maxQueuedEvents: read.integer('SUBSCRIPTIONS_MAX_QUEUED_EVENTS', 100, 1, 1_000_000),
        maxBufferedBytes: read.integer('SUBSCRIPTIONS_MAX_BUFFERED_BYTES', 1_048_576, 1024, 1_073_741_824),
      },
      metrics: {
        port: metricsPort,
        token: metricsToken,
        // In production the public port serves /metrics only with a token; METRICS_PORT moves it off it.
        public: metricsPort === undefined && (!production || metricsToken !== undefined),
        operationNames: read.integer('METRICS_OPERATION_NAMES', 100, 0, 10_000),
      },
    },
  };
  if (read.problems.length > 0) throw new ConfigError(read.problems.map((problem) => read.attribute(problem)));
  return deepFreeze(config);
}

/** A comma-separated list of GraphQL type names (empty entries dropped). */
function typeNames(read: EnvReader, name: string): string[] {
  const names = (read.raw(name) ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const typename of names)
    if (!/^[_A-Za-z][_0-9A-Za-z]*$/.test(typename))
      read.problems.push(`${name}: expected comma-separated type names, got '${typename}'`);
  return names;
}

/** A comma-separated list of header names (empty entries dropped), lower-cased. */
function headerList(read: EnvReader, name: string, fallback: readonly string[]): string[] {
  const names = read
    .string(name, fallback.join(','))
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter(Boolean);
  for (const header of names)
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(header))
      read.problems.push(`${name}: expected comma-separated header names, got '${header}'`);
  return names;
}

function readCors(read: EnvReader, production: boolean): CorsConfig {
  const origins: (string | RegExp)[] = [];
  const entries = read
    .string('CORS_ORIGINS', production ? '' : '*')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const pattern = /^\/(.+)\/([imsu]*)$/.exec(entry);
    if (pattern) {
      // Anchored, so that a pattern for `https://.*\.shop\.example` cannot match `https://a.shop.example.evil.net`.
      try {
        origins.push(new RegExp(`^(?:${pattern[1]})$`, pattern[2]));
      } catch (error) {
        read.problems.push(`CORS_ORIGINS: '${entry}' is not a valid regular expression (${(error as Error).message})`);
      }
    } else if (entry === '*' || /^https?:\/\/[^/\s]+$/.test(entry)) origins.push(entry.toLowerCase());
    else
      read.problems.push(
        `CORS_ORIGINS: expected '*', origins like https://shop.example or /regular expressions/, comma-separated, got '${entry}'`,
      );
  }
  const credentials = read.boolean('CORS_CREDENTIALS', false);
  // Any site on the internet could then send the browser's cookies to the gateway and read the answer.
  if (production && credentials && origins.includes('*'))
    read.problems.push(
      "CORS_CREDENTIALS: true with CORS_ORIGINS='*' is refused when NODE_ENV=production; list the origins",
    );
  return {
    origins,
    credentials,
    allowHeaders: headerList(read, 'CORS_ALLOW_HEADERS', [
      'authorization',
      'content-type',
      'apollo-require-preflight',
      'x-apollo-operation-name',
      'apollo-query-plan-experimental',
      'x-request-id',
      'traceparent',
      'tracestate',
    ]),
    exposeHeaders: headerList(read, 'CORS_EXPOSE_HEADERS', [
      'x-request-id',
      'ratelimit',
      'ratelimit-policy',
      'retry-after',
    ]),
    maxAgeSeconds: read.integer('CORS_MAX_AGE', 600, 0, 86_400),
  };
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
