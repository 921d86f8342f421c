import { operationFromDocument } from '@apollo/federation-internals';
import type { PlanNode, QueryPlan, SubscriptionNode } from '@apollo/query-planner';
import type { ClientOperation } from './operations';
import type { PlanningSchema } from './supergraph';
import { messageOf } from '../../lib/errors';

/** What an operation costs the gateway in network round trips to subgraphs. */
export interface HopCount {
  /** Subgraph requests in total. */
  readonly fetches: number;
  /** The longest chain of fetches that must wait for one another: the latency floor in round trips. */
  readonly sequentialFetches: number;
}

export type PlannedOperation = { ok: true; plan: QueryPlan; hops: HopCount } | { ok: false; error: string };

export function planOperation(schema: PlanningSchema, operation: ClientOperation): PlannedOperation {
  try {
    const parsed = operationFromDocument(schema.apiSchema, operation.document, { operationName: operation.name });
    const plan = schema.queryPlanner().buildQueryPlan(parsed);
    return { ok: true, plan, hops: countHops(plan) };
  } catch (error) {
    return { ok: false, error: messageOf(error) };
  }
}

const NO_HOPS: HopCount = { fetches: 0, sequentialFetches: 0 };

export function countHops(plan: QueryPlan): HopCount {
  return plan.node ? countNode(plan.node) : NO_HOPS;
}

/**
 * Sequence steps add up; parallel branches overlap, so the slowest branch sets the chain length. A condition
 * (`@include`/`@skip` on a deferred fragment) takes only one branch at run time, so we count the costlier one.
 * A deferred part can only start once the primary part has the data it depends on, so it is counted after it.
 */
function countNode(node: PlanNode | SubscriptionNode): HopCount {
  switch (node.kind) {
    case 'Fetch':
      return { fetches: 1, sequentialFetches: 1 };
    case 'Flatten':
      return countNode(node.node);
    case 'Sequence':
      return node.nodes.map(countNode).reduce(inSequence, NO_HOPS);
    case 'Parallel':
      return node.nodes.map(countNode).reduce(inParallel, NO_HOPS);
    case 'Condition': {
      const ifClause = node.ifClause ? countNode(node.ifClause) : NO_HOPS;
      const elseClause = node.elseClause ? countNode(node.elseClause) : NO_HOPS;
      return {
        fetches: Math.max(ifClause.fetches, elseClause.fetches),
        sequentialFetches: Math.max(ifClause.sequentialFetches, elseClause.sequentialFetches),
      };
    }
    case 'Defer': {
      const primary = node.primary.node ? countNode(node.primary.node) : NO_HOPS;
      const deferred = node.deferred
        .map((part) => (part.node ? countNode(part.node) : NO_HOPS))
        .reduce(inParallel, NO_HOPS);
      return inSequence(primary, deferred);
    }
    case 'Subscription':
      return inSequence(countNode(node.primary), node.rest ? countNode(node.rest) : NO_HOPS);
  }
}

const inSequence = (a: HopCount, b: HopCount): HopCount => ({
  fetches: a.fetches + b.fetches,
  sequentialFetches: a.sequentialFetches + b.sequentialFetches,
});

const inParallel = (a: HopCount, b: HopCount): HopCount => ({
  fetches: a.fetches + b.fetches,
  sequentialFetches: Math.max(a.sequentialFetches, b.sequentialFetches),
});
