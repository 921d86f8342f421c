import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper';
import { execute, parse, validate, type GraphQLSchema } from 'graphql';
import {
  planBatch,
  splitBatch,
  type BatchOptions,
  type BatchPlan,
  type EntityFailure,
  type FetchResult,
  type PlannedFetch,
} from '../../gateway/fetch/batch';
import { shapeOf, type FetchShape } from '../../gateway/fetch/document';
import { createEntityKeyIndex, type EntityKeyIndex } from '../../gateway/fetch/entity-keys';
import { withIdentityFields, type IdentityShape } from '../../gateway/fetch/identity';

/**
 * Spy subgraphs for the network layer's unit tests: a subgraph is a function from the request body the gateway
 * would POST to the JSON answer it would get back, executed for real (`buildSubgraphSchema`, so `_entities` and
 * `__resolveReference` behave as in a deployed subgraph) and recording every body it receives. Tests assert
 * what went over the wire (how many requests, which representations in which order, which aliases), not only
 * what came back, like DataLoader's tests assert `loadCalls`.
 */
export interface SentBody {
  query: string;
  variables: Record<string, unknown>;
  operationName?: string;
}

export interface SpySubgraph {
  readonly name: string;
  readonly sdl: string;
  readonly schema: GraphQLSchema;
  /** Every body received, in order: one per HTTP request the gateway would have sent. */
  readonly bodies: SentBody[];
  /** Misbehaviour to apply to the answers (out of order, short, wrong entities); none when unset. */
  tamper?: (answer: FetchResult) => FetchResult;
  /** Answers one body as the subgraph's HTTP endpoint would (validation errors included), and records it. */
  send(body: SentBody): Promise<FetchResult>;
  /** The answer without recording it: what the subgraph says to a body, for comparing against. */
  answer(body: SentBody): Promise<FetchResult>;
  reset(): void;
}

export const FEDERATION_LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ';

export function createSpySubgraph(name: string, sdl: string, resolvers: GraphQLResolverMap<unknown>): SpySubgraph {
  const schema = buildSubgraphSchema({ typeDefs: parse(sdl), resolvers });
  const answer = async (body: SentBody): Promise<FetchResult> => {
    const document = parse(body.query);
    const invalid = validate(schema, document);
    // What goes over the wire: errors formatted, undefined dropped; a copy the gateway may mutate freely.
    if (invalid.length > 0) return JSON.parse(JSON.stringify({ errors: invalid })) as FetchResult;
    const result = await execute({
      schema,
      document,
      variableValues: body.variables,
      operationName: body.operationName,
      contextValue: {},
    });
    return JSON.parse(JSON.stringify(result)) as FetchResult;
  };
  const spy: SpySubgraph = {
    name,
    sdl,
    schema,
    bodies: [],
    answer,
    async send(body) {
      spy.bodies.push(JSON.parse(JSON.stringify(body)) as SentBody);
      const result = await answer(body);
      return spy.tamper ? spy.tamper(result) : result;
    },
    reset() {
      spy.bodies.length = 0;
      spy.tamper = undefined;
    },
  };
  return spy;
}

/** The supergraph of these spies, and its entity key index (what the gateway builds at schema load). */
export function composeSpies(spies: SpySubgraph[]): { supergraphSdl: string; keyIndex: EntityKeyIndex } {
  const composed = composeServices(
    spies.map((spy) => ({ name: spy.name, typeDefs: parse(spy.sdl), url: `http://${spy.name}.test/graphql` })),
  );
  if (composed.errors) throw new Error(composed.errors.map((error) => error.message).join('\n'));
  return { supergraphSdl: composed.supergraphSdl, keyIndex: createEntityKeyIndex(composed.supergraphSdl) };
}

/** A fetch as Apollo Gateway's executor hands it to the data source. */
export function plannedFetch(query: string, variables?: Record<string, unknown>, operationName?: string): PlannedFetch {
  return {
    request: { query, ...(variables ? { variables } : {}), ...(operationName ? { operationName } : {}) },
    shape: shapeOf(query),
  };
}

/** The identity-checked form of a fetch to `subgraph`, as the data source computes it from the key index. */
export function identityFor(
  keyIndex: EntityKeyIndex,
  subgraph: string,
): (shape: FetchShape) => IdentityShape | undefined {
  return (shape) => withIdentityFields(shape, (typename) => keyIndex.keySets(subgraph, typename));
}

/** What the data source does with one group of fetches: plan one body, send it, split the answer. */
export async function sendBatch(
  spy: SpySubgraph,
  fetches: PlannedFetch[],
  options: BatchOptions,
): Promise<{ plan: BatchPlan; response: FetchResult; results: (FetchResult | EntityFailure)[] }> {
  const plan = planBatch(fetches, options);
  const response = await spy.send(plan.body);
  return { plan, response, results: splitBatch(plan, response, fetches.length, spy.name) };
}

/** Each fetch sent on its own, with no batching, identity fields or deduplication: the reference answers. */
export function answersAlone(spy: SpySubgraph, fetches: PlannedFetch[]): Promise<FetchResult[]> {
  return Promise.all(
    fetches.map((fetch) =>
      spy.answer({
        query: fetch.request.query,
        variables: fetch.request.variables ?? {},
        ...(fetch.request.operationName ? { operationName: fetch.request.operationName } : {}),
      }),
    ),
  );
}

/**
 * A result without error `locations`: they point into the document that was sent, which batching rewrites on
 * purpose (aliases, identity fields); Apollo Gateway does not pass subgraph locations on either.
 */
export function withoutLocations<T extends FetchResult | EntityFailure>(result: T): T {
  if (!('errors' in result) || !result.errors) return result;
  return { ...result, errors: result.errors.map(({ locations: _locations, ...error }) => error) };
}

/** The representations a body carries, per unit alias prefix ('' when it was sent alone). */
export function representationsOf(body: SentBody): Record<string, unknown[]> {
  const lists: Record<string, unknown[]> = {};
  for (const [name, value] of Object.entries(body.variables)) {
    if (name.endsWith('representations') && Array.isArray(value))
      lists[name.slice(0, -'representations'.length)] = value;
  }
  return lists;
}
