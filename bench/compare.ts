/**
 * The correctness gate in front of every timed run: a target's answer must equal the reference answer (our
 * gateway with every mechanism off) as parsed JSON, or the numbers it produces are not comparable.
 */
import { isDeepStrictEqual } from 'node:util';

/**
 * Where two JSON values first differ, as `path: expected … got …`; undefined when they are deep-equal. Object
 * key order is ignored (two gateways may serialise fields in different orders); array order is not.
 */
export function firstDifference(expected: unknown, actual: unknown, path = '$'): string | undefined {
  if (isDeepStrictEqual(expected, actual)) return undefined;
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length !== actual.length) return `${path}: expected ${expected.length} items, got ${actual.length}`;
    for (let index = 0; index < expected.length; index++) {
      const difference = firstDifference(expected[index], actual[index], `${path}[${index}]`);
      if (difference) return difference;
    }
    return undefined;
  }
  if (isPlainObject(expected) && isPlainObject(actual)) {
    const keys = new Set([...Object.keys(expected), ...Object.keys(actual)]);
    for (const key of [...keys].sort()) {
      if (!(key in actual)) return `${path}.${key}: missing`;
      if (!(key in expected)) return `${path}.${key}: unexpected ${preview(actual[key])}`;
      const difference = firstDifference(expected[key], actual[key], `${path}.${key}`);
      if (difference) return difference;
    }
    return undefined;
  }
  return `${path}: expected ${preview(expected)}, got ${preview(actual)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/**
 * Which fields to keep, nested like the selection set: `true` keeps a field as it is, an object projects it.
 * Lists are projected item by item, so a shape never mentions them.
 */
export interface Shape {
  [field: string]: true | Shape;
}

/**
 * Projects a JSON value onto a shape. The subgraph-direct target answers a subgraph's own query, which is a
 * part of what the gateway answers; projecting the reference answer gives what the subgraph must return.
 */
export function project(value: unknown, shape: Shape): unknown {
  if (Array.isArray(value)) return value.map((item) => project(item, shape));
  if (!isPlainObject(value)) return value;
  const projected: Record<string, unknown> = {};
  for (const [field, inner] of Object.entries(shape)) {
    if (!(field in value)) continue;
    projected[field] = inner === true ? value[field] : project(value[field], inner);
  }
  return projected;
}

/** The value at a dotted path (`data.users.edges`), undefined when any step is missing. */
export function valueAt(value: unknown, path: string): unknown {
  let current = value;
  for (const step of path.split('.')) {
    if (!isPlainObject(current)) return undefined;
    current = current[step];
  }
  return current;
}

/** The GraphQL errors in a parsed response, as short `code: message` strings. */
export function graphQLErrorsOf(response: unknown): string[] {
  const errors = isPlainObject(response) ? response.errors : undefined;
  if (!Array.isArray(errors)) return [];
  return errors.map((error) => {
    const message = isPlainObject(error) && typeof error.message === 'string' ? error.message : JSON.stringify(error);
    const extensions = isPlainObject(error) && isPlainObject(error.extensions) ? error.extensions : undefined;
    const code = extensions && typeof extensions.code === 'string' ? extensions.code : undefined;
    return code ? `${code}: ${message}` : message;
  });
}

/** The `extensions.code` of each GraphQL error in a parsed response (undefined for an error without one). */
export function graphQLErrorCodesOf(response: unknown): (string | undefined)[] {
  const errors = isPlainObject(response) ? response.errors : undefined;
  if (!Array.isArray(errors)) return [];
  return errors.map((error) => {
    const extensions = isPlainObject(error) && isPlainObject(error.extensions) ? error.extensions : undefined;
    return extensions && typeof extensions.code === 'string' ? extensions.code : undefined;
  });
}

/**
 * A cheap test on a raw response body for the load loop, where parsing every body would cost more CPU than
 * some targets spend answering it. `"errors":` can only appear unescaped as a key: inside a JSON string the
 * quotes would be escaped.
 */
export function bodyHasGraphQLErrors(body: string): boolean {
  return body.includes('"errors":');
}
