import type { SubgraphName } from '../../lib/config';
import { valueAt } from '../compare';
import type { StaticSubgraphName } from '../static-graph/subgraphs';

/**
 * In the order they run: four-subgraph first (the targets then restart on the shop's supergraph), the stateful
 * ones last, because their writes change what the others read.
 */
export const WORKLOAD_NAMES = ['four-subgraph', 'cross-subgraph', 'deep', 'single-subgraph', 'realistic', 'mixed'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/** Which subgraphs a workload's supergraph routes to: the shop's three, or the four static foreign ones. */
export type WorkloadGraph = 'shop' | 'static';

/** One request a load connection sends: the POST body as JSON text, sent byte for byte. */
export interface BenchRequest {
  kind: 'query' | 'mutation';
  body: string;
  /** Headers of this request's own (its caller's `authorization`), over the target's usual ones. */
  headers?: Record<string, string>;
}

export function graphqlRequest(kind: BenchRequest['kind'], query: string, variables?: Record<string, unknown>): BenchRequest {
  return { kind, body: JSON.stringify(variables ? { query, variables } : { query }) };
}

/** Collapses a query's indentation so the request bodies (and the report) stay small. */
export function compact(query: string): string {
  return query.replace(/\s+/g, ' ').trim();
}

export interface Workload {
  name: WorkloadName;
  description: string;
  /** Default: the shop's. */
  graph?: WorkloadGraph;
  /**
   * What every connection sends, in turn, over and over (so a mix of 9 queries and 1 mutation is 10%); with
   * `traffic`, only what the checks send.
   */
  requests: BenchRequest[];
  /** When set, the load sends what this makes, one request after another, instead of cycling through `requests`. */
  traffic?: () => () => BenchRequest;
  /** GraphQL error codes that are answers, not failures, under this workload's load (a product sold out). */
  expectedErrorCodes?: readonly string[];
  /**
   * True when the workload's mutations change what its query answers: the reference answer is then re-read
   * from the reference gateway just before each check, instead of once.
   */
  stateful: boolean;
  /** The subgraph-direct target: one subgraph asked for its largest part of the workload, for scale; absent when none. */
  direct?: DirectRequests;
}

export interface DirectRequests {
  subgraph: SubgraphName | StaticSubgraphName;
  description: string;
  requests: BenchRequest[];
  /** What the subgraph must answer to the direct query, derived from the reference answer to the workload's query. */
  expected(reference: unknown): unknown;
}

/** Settings a workload needs from the run: the product the mixed workload's orders buy, the callers' JWT secret. */
export interface WorkloadContext {
  orderSku: string;
  jwtSecret: string;
}

/** `_entities` representations of the first `count` demo users, whose ids are 1..count in creation order. */
export function userRepresentations(count: number): { __typename: 'User'; id: string }[] {
  return Array.from({ length: count }, (_, index) => ({ __typename: 'User' as const, id: String(index + 1) }));
}

/** The nodes of the connection at `path` (e.g. `data.users.edges`), in order; empty when it is missing. */
export function edgeNodes(response: unknown, path: string): unknown[] {
  const edges = valueAt(response, path);
  return Array.isArray(edges) ? edges.map((edge) => valueAt(edge, 'node')) : [];
}
