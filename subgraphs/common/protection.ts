import type { DocumentLimits } from '../../lib/config';
import { checkDocument, checkVariables } from '../../lib/document-limits';
import { HttpError } from '../../lib/http';
import { createCostModel, type CostModel } from '../../lib/cost-model';

/**
 * A subgraph protects itself: other services can reach it without the gateway, so it applies its own
 * document limits and cost limit to every GraphQL request it receives, before Apollo Server parses or runs it.
 *
 * The limits are wider than the gateway's, because a subgraph also receives the gateway's merged batches
 * (many `_entities` selections in one document, each with the gateway's identity aliases) and entity fetches
 * a few levels below the client's own depth. An `_entities` fetch is costed by the representations it
 * actually carries (each costs 1 plus its type's selection), so a batch of 10,000 representations costs what
 * 10,000 entities cost, however few fields it names.
 */
export const SUBGRAPH_DOCUMENT_LIMITS: DocumentLimits = {
  maxDocumentBytes: 4 * 1024 * 1024,
  maxTokens: 200_000,
  maxDepth: 40,
  maxAliases: 5_000,
  maxRootFields: 500,
  maxFieldsPerSelection: 2_000,
  maxDirectives: 20,
  maxFragments: 1_000,
  maxOperations: 20,
  maxFields: 100_000,
  // The gateway's `_entities` representations arrive as variables: a merged batch of thousands of entities.
  maxVariableValues: 2_000_000,
};

/** Default cost ceiling of one subgraph request: five times the gateway's default client maximum. */
export const SUBGRAPH_MAX_COST = 100_000;

export interface SubgraphProtection {
  /** Throws an HttpError (400 with a code) when the request is over a limit. */
  check(body: unknown): void;
}

export function createSubgraphProtection(
  sdl: string,
  options: { limits?: DocumentLimits; maxCost?: number; defaultListSize?: number } = {},
): SubgraphProtection {
  const limits = options.limits ?? SUBGRAPH_DOCUMENT_LIMITS;
  const maxCost = options.maxCost ?? SUBGRAPH_MAX_COST;
  let costModel: CostModel | undefined;
  try {
    costModel = createCostModel(sdl, { defaultListSize: options.defaultListSize ?? 10 });
  } catch {
    // An SDL the cost reader cannot build (it is the subgraph's own, so this is a bug): limits still apply.
    costModel = undefined;
  }
  return {
    check(body) {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
      const { query, operationName, variables } = body as Record<string, unknown>;
      if (typeof query !== 'string') return;
      const tooMany = checkVariables(variables, limits);
      if (tooMany) throw new HttpError(400, tooMany.code, `${tooMany.message} (subgraph limit)`);
      const verdict = checkDocument(query, limits);
      if (verdict.kind === 'rejected')
        throw new HttpError(400, verdict.rejection.code, `${verdict.rejection.message} (subgraph limit)`);
      if (verdict.kind !== 'ok' || !costModel) return;
      const cost = costModel.costOf(
        verdict.document,
        typeof operationName === 'string' ? operationName : undefined,
        variables !== null && typeof variables === 'object' ? (variables as Record<string, unknown>) : undefined,
      );
      if (cost > maxCost)
        throw new HttpError(
          400,
          'COST_ESTIMATED_TOO_EXPENSIVE',
          `The operation's estimated cost (${cost}) exceeds this subgraph's maximum of ${maxCost}`,
        );
    },
  };
}

/** The error reads throw once the caller has gone: nobody is left to read the answer. */
export class CallerGoneError extends Error {
  constructor() {
    super('The caller closed the connection; the request was abandoned');
    this.name = 'CallerGoneError';
  }
}

/**
 * A store whose methods refuse to run once `callerGone` is aborted, for a request's DataLoaders: when the
 * gateway gives up on a request (its timeout closes the connection), the batches still to come are not run.
 * Only reads go through it; a write that has started finishes (it is one transaction, and idempotent).
 */
export function stopsWhenCallerGone<T extends object>(store: T, callerGone: AbortSignal): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (callerGone.aborted) throw new CallerGoneError();
        return (value as (...inner: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}
