import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { DEFAULT_DEMAND_CONTROL } from '../../lib/cost-model';
import { inputError, loaded, readInputFile, type Loaded } from './input';

/**
 * The composition config: rover's `supergraph.yaml` (federation_version, subgraphs.<name>.routing_url,
 * subgraphs.<name>.schema.file, .sdl or .subgraph_url, or subgraphs.<name>.introspection_url) plus an optional
 * `checks:` section that only this tool reads.
 * Paths in the file are relative to the file; every path in the parsed config is absolute.
 */
export interface SchemaConfig {
  readonly file: string;
  readonly federationVersion: string | undefined;
  readonly subgraphs: readonly SubgraphConfig[];
  /** The committed supergraph: where `compose` writes, what `check` tests for staleness and diffs against. */
  readonly supergraphFile: string;
  readonly operationsDir: string;
  /** False when the operations folder is only the default, so a missing folder means "no operations yet". */
  readonly operationsDirConfigured: boolean;
  readonly budget: HopBudget;
  readonly costBudget: CostBudget;
  /** Keys we did not recognise outside `checks:` (rover may know them); reported, not fatal. */
  readonly warnings: readonly string[];
}

export type SubgraphSource =
  | { kind: 'file'; file: string }
  | { kind: 'inline'; sdl: string }
  /** Read from a running subgraph with `{ _service { sdl } }` before any command runs (see remote.ts). */
  | { kind: 'remote'; url: string; key: string; headers: Readonly<Record<string, string>> }
  /** A remote source after it was read. */
  | { kind: 'fetched'; url: string; sdl: string };

export interface SubgraphConfig {
  readonly name: string;
  readonly routingUrl: string;
  readonly source: SubgraphSource;
}

export interface HopBudget {
  /** Default ceiling on sequential fetch steps for every operation; undefined means no ceiling. */
  readonly maxSequentialFetches: number | undefined;
  readonly perOperation: ReadonlyMap<string, number>;
}

export interface CostBudget {
  /** Default ceiling on every operation's static cost (`@cost`/`@listSize`); undefined means no ceiling. */
  readonly maxCost: number | undefined;
  readonly perOperation: ReadonlyMap<string, number>;
  /** The list size assumed where the schema gives none: the gateway's COST_DEFAULT_LIST_SIZE (default 10). */
  readonly defaultListSize: number;
}

export const DEFAULT_CONFIG_FILE = path.join('schema', 'supergraph.yaml');
/** Where `--config` is looked for by default, first match wins, as rover users keep it: the root, then schema/. */
export const DEFAULT_CONFIG_CANDIDATES = ['supergraph.yaml', DEFAULT_CONFIG_FILE] as const;

/**
 * The default config: the first candidate in `cwd`, else in the repository root above it (the nearest folder
 * with `.git`), so the command works from a sub-folder too. Undefined when there is none.
 */
export function findDefaultConfig(cwd: string): string | undefined {
  const roots = [cwd];
  for (let dir = cwd; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, '.git'))) {
      if (dir !== cwd) roots.push(dir);
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  for (const root of roots) {
    for (const candidate of DEFAULT_CONFIG_CANDIDATES) {
      const file = path.join(root, candidate);
      if (fs.existsSync(file)) return file;
    }
  }
  return undefined;
}
const DEFAULT_SUPERGRAPH_FILE = 'supergraph.graphql';
const DEFAULT_OPERATIONS_DIR = 'operations';

const TOP_LEVEL_KEYS = new Set(['federation_version', 'subgraphs', 'checks']);
const SUBGRAPH_KEYS = new Set(['routing_url', 'schema', 'introspection_url']);
const CHECKS_KEYS = new Set([
  'supergraph',
  'operations',
  'max_sequential_fetches',
  'max_cost',
  'default_list_size',
  'operation_budgets',
]);
const OPERATION_BUDGET_KEYS = new Set(['max_sequential_fetches', 'max_cost']);

type YamlMap = Record<string, unknown>;

const isMap = (value: unknown): value is YamlMap =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function loadConfig(configFile: string): Loaded<SchemaConfig> {
  const text = readInputFile(configFile, 'config');
  if (!text.ok) return text;
  const document = parseDocument(text.value);
  const firstError = document.errors[0];
  if (firstError) return inputError(`config ${configFile}: invalid YAML: ${firstError.message.split('\n')[0]}`);
  return parseConfig(document.toJS() as unknown, configFile);
}

/** Validates the parsed YAML; every error names the file and the key path, e.g. `subgraphs.users.schema.file`. */
export function parseConfig(raw: unknown, configFile: string): Loaded<SchemaConfig> {
  const fail = (key: string, problem: string) => inputError<SchemaConfig>(`config ${configFile}: ${key} ${problem}`);
  if (!isMap(raw)) return fail('(root)', 'must be a mapping with a `subgraphs` key');
  const dir = path.dirname(path.resolve(configFile));
  const warnings: string[] = [];
  for (const key of Object.keys(raw)) {
    if (!TOP_LEVEL_KEYS.has(key)) warnings.push(`config ${configFile}: ignoring unknown key \`${key}\``);
  }

  const federationVersion = raw.federation_version;
  if (
    federationVersion !== undefined &&
    typeof federationVersion !== 'string' &&
    typeof federationVersion !== 'number'
  ) {
    return fail('federation_version', 'must be a string such as "=2.14.4"');
  }

  if (!isMap(raw.subgraphs) || Object.keys(raw.subgraphs).length === 0) {
    return fail('subgraphs', 'must map at least one subgraph name to its routing_url and schema');
  }
  const subgraphs: SubgraphConfig[] = [];
  for (const [name, entry] of Object.entries(raw.subgraphs)) {
    const key = `subgraphs.${name}`;
    if (!isMap(entry)) return fail(key, 'must be a mapping with routing_url and schema');
    for (const entryKey of Object.keys(entry)) {
      if (!SUBGRAPH_KEYS.has(entryKey))
        warnings.push(`config ${configFile}: ignoring unknown key \`${key}.${entryKey}\``);
    }
    const routingUrl = entry.routing_url ?? '';
    if (typeof routingUrl !== 'string') return fail(`${key}.routing_url`, 'must be a string');
    const schema = entry.schema;
    let source: SubgraphSource;
    if (schema === undefined && entry.introspection_url !== undefined) {
      const url = parseHttpUrl(entry.introspection_url);
      if (url === undefined) return fail(`${key}.introspection_url`, 'must be an http(s) URL of a running subgraph');
      subgraphs.push({
        name,
        routingUrl,
        source: { kind: 'remote', url, key: `${key}.introspection_url`, headers: {} },
      });
      continue;
    }
    if (!isMap(schema)) return fail(`${key}.schema`, 'must be a mapping with `file`, `sdl` or `subgraph_url`');
    if (typeof schema.file === 'string' && schema.file !== '') {
      source = { kind: 'file', file: path.resolve(dir, schema.file) };
    } else if (typeof schema.sdl === 'string') {
      source = { kind: 'inline', sdl: schema.sdl };
    } else if ('subgraph_url' in schema) {
      const url = parseHttpUrl(schema.subgraph_url);
      if (url === undefined) return fail(`${key}.schema.subgraph_url`, 'must be an http(s) URL of a running subgraph');
      const headers = schema.introspection_headers ?? {};
      if (!isMap(headers) || !Object.values(headers).every((value) => typeof value === 'string')) {
        return fail(`${key}.schema.introspection_headers`, 'must map header names to strings');
      }
      source = { kind: 'remote', url, key: `${key}.schema.subgraph_url`, headers: headers as Record<string, string> };
    } else if ('graphref' in schema) {
      return fail(`${key}.schema`, 'reads from GraphOS; this tool needs `file`, `sdl` or `subgraph_url`');
    } else {
      return fail(`${key}.schema.file`, 'must be a path to the subgraph SDL');
    }
    subgraphs.push({ name, routingUrl, source });
  }

  const checks = raw.checks ?? {};
  if (!isMap(checks)) return fail('checks', 'must be a mapping');
  for (const key of Object.keys(checks)) {
    if (!CHECKS_KEYS.has(key)) {
      return fail(`checks.${key}`, `is not a known key (expected one of: ${[...CHECKS_KEYS].join(', ')})`);
    }
  }
  const supergraph = checks.supergraph ?? DEFAULT_SUPERGRAPH_FILE;
  if (typeof supergraph !== 'string' || supergraph === '') return fail('checks.supergraph', 'must be a file path');
  const operations = checks.operations ?? DEFAULT_OPERATIONS_DIR;
  if (typeof operations !== 'string' || operations === '') return fail('checks.operations', 'must be a folder path');

  const defaultBudget = parseBudget(checks.max_sequential_fetches);
  if (!defaultBudget.ok) return fail('checks.max_sequential_fetches', defaultBudget.error);
  const defaultCostBudget = parseBudget(checks.max_cost);
  if (!defaultCostBudget.ok) return fail('checks.max_cost', defaultCostBudget.error);
  const defaultListSize = checks.default_list_size ?? DEFAULT_DEMAND_CONTROL.defaultListSize;
  if (typeof defaultListSize !== 'number' || !Number.isInteger(defaultListSize) || defaultListSize < 0) {
    return fail(
      'checks.default_list_size',
      `must be a whole number of at least 0 (got ${JSON.stringify(defaultListSize)})`,
    );
  }
  const perOperation = new Map<string, number>();
  const costPerOperation = new Map<string, number>();
  const overrides = checks.operation_budgets ?? {};
  if (!isMap(overrides)) return fail('checks.operation_budgets', 'must map operation names to budgets');
  for (const [operationName, override] of Object.entries(overrides)) {
    const key = `checks.operation_budgets.${operationName}`;
    if (!isMap(override)) {
      return fail(key, 'must be a mapping such as `{ max_sequential_fetches: 4 }` or `{ max_cost: 2000 }`');
    }
    for (const overrideKey of Object.keys(override)) {
      if (!OPERATION_BUDGET_KEYS.has(overrideKey)) return fail(`${key}.${overrideKey}`, 'is not a known key');
    }
    const budget = parseBudget(override.max_sequential_fetches);
    if (!budget.ok) return fail(`${key}.max_sequential_fetches`, budget.error);
    if (budget.value !== undefined) perOperation.set(operationName, budget.value);
    const costBudget = parseBudget(override.max_cost);
    if (!costBudget.ok) return fail(`${key}.max_cost`, costBudget.error);
    if (costBudget.value !== undefined) costPerOperation.set(operationName, costBudget.value);
  }

  return loaded(
    Object.freeze({
      file: path.resolve(configFile),
      federationVersion: federationVersion === undefined ? undefined : String(federationVersion),
      subgraphs: Object.freeze(subgraphs),
      supergraphFile: path.resolve(dir, supergraph),
      operationsDir: path.resolve(dir, operations),
      operationsDirConfigured: checks.operations !== undefined,
      budget: Object.freeze({ maxSequentialFetches: defaultBudget.value, perOperation }),
      costBudget: Object.freeze({
        maxCost: defaultCostBudget.value,
        perOperation: costPerOperation,
        defaultListSize,
      }),
      warnings: Object.freeze(warnings),
    }),
  );
}

function parseHttpUrl(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? value : undefined;
  } catch {
    return undefined;
  }
}

function parseBudget(value: unknown): Loaded<number | undefined> {
  if (value === undefined || value === null) return loaded(undefined);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    return inputError(`must be a whole number of at least 1 (got ${JSON.stringify(value)})`);
  }
  return loaded(value);
}
