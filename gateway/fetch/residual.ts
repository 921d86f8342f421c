import type { GraphQLFormattedError } from 'graphql';
import type { FetchResult, PlannedFetch } from './batch';

/**
 * An `_entities` fetch some of whose entities are already known (from the request's memo or the entity
 * cache): either all of them are (`hit`, no request at all), or only the unknown ones are asked for
 * (`residual`) and `complete` puts the answer back together in the original order, with every error moved to
 * the position it belongs to. `learn` receives the entities that came back clean (not null, no error at their
 * position, no error the subgraph did not tie to one entity, identity checked), for whoever keeps them.
 */
export type KnownOutcome =
  | { kind: 'hit'; result: FetchResult }
  | { kind: 'miss'; residual: PlannedFetch; complete(result: FetchResult): FetchResult };

export function withKnownEntities(
  fetch: PlannedFetch,
  known: (unknown | undefined)[],
  learn: (fresh: { index: number; entity: unknown }[]) => void,
): KnownOutcome {
  const representations = fetch.request.variables!.representations as unknown[];
  const missing: number[] = [];
  for (let index = 0; index < known.length; index++) if (known[index] === undefined) missing.push(index);
  const entities: unknown[] = known.slice();
  if (missing.length === 0) return { kind: 'hit', result: { data: { _entities: entities } } };
  const residual: PlannedFetch =
    missing.length === representations.length
      ? fetch
      : {
          shape: fetch.shape,
          request: {
            ...fetch.request,
            variables: { ...fetch.request.variables, representations: missing.map((index) => representations[index]) },
          },
        };
  return {
    kind: 'miss',
    residual,
    complete(result) {
      const received = result.data?._entities;
      if (!Array.isArray(received)) return remapErrors(result, missing);
      const errors: GraphQLFormattedError[] = [];
      const erroredPositions = new Set<number>();
      let untied = false;
      for (const error of result.errors ?? []) {
        const [head, position, ...rest] = error.path ?? [];
        if (head === '_entities' && typeof position === 'number' && missing[position] !== undefined) {
          erroredPositions.add(position);
          errors.push({ ...error, path: ['_entities', missing[position]!, ...rest] });
        } else {
          untied = true;
          errors.push(error);
        }
      }
      const fresh: { index: number; entity: unknown }[] = [];
      missing.forEach((original, position) => {
        const entity = received[position] ?? null;
        entities[original] = entity;
        if (entity !== null && !untied && !erroredPositions.has(position)) fresh.push({ index: original, entity });
      });
      // Entities placed without a key check serve this request only (see `placeEntities`).
      if (fresh.length > 0 && !result.unverified) learn(fresh);
      return {
        data: { ...result.data, _entities: entities },
        ...(errors.length > 0 ? { errors } : {}),
        ...(result.unverified ? { unverified: true as const } : {}),
      };
    },
  };
}

function remapErrors(result: FetchResult, missing: number[]): FetchResult {
  if (!result.errors) return result;
  return {
    ...result,
    errors: result.errors.map((error) => {
      const [head, position, ...rest] = error.path ?? [];
      return head === '_entities' && typeof position === 'number' && missing[position] !== undefined
        ? { ...error, path: ['_entities', missing[position]!, ...rest] }
        : error;
    }),
  };
}
