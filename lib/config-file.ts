/**
 * The gateway's YAML config file: the environment variables' names as keys (`PORT: 4000`,
 * `SUBGRAPH_URL_USERS: http://...`), so one list of settings serves both and a file is a saved environment.
 * Only parsing lives here; `lib/config.ts` reads the file, layers it under the environment and validates it.
 */
import { parseDocument, isMap, isScalar, isSeq, type Node } from 'yaml';

export interface ParsedSettingsFile {
  /** Each known key's value as the environment would carry it (text). */
  readonly values: Record<string, string>;
  /** Keys that name no setting, upper-cased, in file order. */
  readonly unknown: readonly string[];
  /** Everything else wrong with the file, each naming the key (when there is one) and the file. */
  readonly problems: readonly string[];
}

type Scalar = string | number | boolean;
const isPlainScalar = (value: unknown): value is Scalar =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/**
 * Keys are matched case-insensitively (`port` is `PORT`). Values may be a string, number or boolean; a list of
 * them is joined with commas (`TRUSTED_PROXIES: [10.0.0.1, 10.0.0.2]`) and a map of them becomes `key=value`
 * pairs (`ENTITY_CACHE_TTL: { Product: 120 }`), the forms those variables take. `null` leaves a setting unset.
 */
export function parseSettingsFile(text: string, file: string, isKnown: (name: string) => boolean): ParsedSettingsFile {
  const values: Record<string, string> = {};
  const unknown: string[] = [];
  const problems: string[] = [];
  const document = parseDocument(text, { uniqueKeys: true });
  const firstError = document.errors[0];
  if (firstError) {
    return { values, unknown, problems: [`config file ${file}: invalid YAML: ${firstError.message.split('\n')[0]}`] };
  }
  const root = document.contents;
  if (root === null || (isScalar(root) && root.value === null)) return { values, unknown, problems };
  if (!isMap(root)) {
    return { values, unknown, problems: [`config file ${file}: expected a mapping of setting names to values`] };
  }
  for (const pair of root.items) {
    const key = isScalar(pair.key) ? pair.key.value : undefined;
    if (!isPlainScalar(key)) {
      problems.push(`config file ${file}: every key must be a setting name, got ${String(pair.key)}`);
      continue;
    }
    const name = String(key).toUpperCase();
    if (!isKnown(name)) {
      unknown.push(name);
      continue;
    }
    if (name in values) {
      problems.push(`${name}: set twice (in ${file})`);
      continue;
    }
    const value = settingValue(pair.value as Node | null);
    if (value === null) continue;
    if (value === undefined) {
      problems.push(
        `${name}: expected a string, number, boolean, or a list or map of them, got '${String(pair.value).trim()}' (in ${file})`,
      );
      continue;
    }
    values[name] = value;
  }
  return { values, unknown, problems };
}

/** The text a value stands for; null for an explicit `null`; undefined for shapes no setting takes. */
function settingValue(node: Node | null): string | null | undefined {
  if (node === null) return null;
  if (isScalar(node)) return node.value === null ? null : isPlainScalar(node.value) ? String(node.value) : undefined;
  const json: unknown = node.toJSON();
  if (isSeq(node) && Array.isArray(json) && json.every(isPlainScalar)) return json.join(',');
  if (isMap(node) && typeof json === 'object' && json !== null) {
    const entries = Object.entries(json);
    if (entries.every(([, value]) => isPlainScalar(value)))
      return entries.map(([key, value]) => `${key}=${String(value)}`).join(',');
  }
  return undefined;
}

/** The candidate nearest to `name` by edit distance, if it is near enough to be a likely typo. */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (best === undefined || distance < best.distance) best = { candidate, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.candidate : undefined;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
