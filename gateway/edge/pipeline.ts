import type { Config } from '../../lib/config';
import type { Logger } from '../../lib/logger';
import type { GatewayMetrics } from '../metrics';
import type { ErrorCode } from '../../lib/errors';
import type { CostModel } from '../../lib/cost-model';
import { createDocumentLimits } from './document-limits';
import { checkPersistedQuery, resolveOperation } from './operation';
import { countMutationFields, type RateLimiter } from './rate-limit';
import { reject, type EdgeRejection, type EdgeRequest, type StageResult } from './request';
import { createTrustedDocuments } from './trusted-documents';

/**
 * The gateway's edge duties, composed in order: each stage is one module of `gateway/edge/`, with its own
 * options and tests. A stage either passes the request on (possibly having learned something about it) or
 * rejects it with a 4xx; the first rejection is the answer, counted by stage and code.
 *
 * 1. trusted documents: an unknown document is refused before it is even parsed (enforce mode);
 * 2. persisted query shape: a malformed APQ extension or a hash that does not match the query;
 * 3. document limits: parse once (bounded tokens and nesting), measure depth, aliases, root fields...;
 * 4. operation: which operation runs (several without `operationName`, an unknown name, a subscription);
 * 5. rate limits: per client (verified user, else IP), requests and each mutation root field, 429 over it;
 *    a request refused by an earlier stage still spends the client's request budget, so a flood of bad
 *    documents ends in 429s too;
 * 6. demand control: the operation's static cost from `@cost`/`@listSize`, refused over `COST_MAX`.
 *
 * Headers a stage wants on the response (the RateLimit headers) are collected in `EdgeRequest.headers`.
 */
export interface Edge {
  check(request: EdgeRequest): Promise<EdgeRejection | undefined>;
}

/**
 * The cost of a request's operation, remembered per parsed document (the document-limits stage hands out the
 * same document for the same text) when the request has no variables, which cannot then change it.
 */
const remembered = new WeakMap<CostModel, WeakMap<object, Map<string, number>>>();
function costOf(model: CostModel, request: EdgeRequest): number {
  const document = request.document!;
  const variables = request.params?.variables;
  const operationName = request.params?.operationName;
  if (variables && Object.keys(variables).length > 0) return model.costOf(document, operationName, variables);
  let byDocument = remembered.get(model);
  if (!byDocument) remembered.set(model, (byDocument = new WeakMap()));
  let byOperation = byDocument.get(document);
  if (!byOperation) byDocument.set(document, (byOperation = new Map()));
  let cost = byOperation.get(operationName ?? '');
  if (cost === undefined) {
    cost = model.costOf(document, operationName, undefined);
    byOperation.set(operationName ?? '', cost);
  }
  return cost;
}

/** Apollo Router's code for the same rejection. */
export const COST_LIMIT_CODE = 'COST_ESTIMATED_TOO_EXPENSIVE' satisfies ErrorCode;

type Stage = { name: string; run(request: EdgeRequest): StageResult | Promise<StageResult> };

export interface EdgeDependencies {
  /** The cost model of the supergraph being served (it follows reloads). */
  costModel(): CostModel | undefined;
  /** Per-client rate limits; undefined when turned off. */
  rateLimiter: RateLimiter | undefined;
}

export function createEdge(
  config: Readonly<Config>,
  logger: Logger,
  metrics: GatewayMetrics,
  dependencies: EdgeDependencies,
): Edge {
  const settings = config.gateway;
  const stages: Stage[] = [];
  if (settings.trustedDocuments.mode !== 'off') {
    const trusted = createTrustedDocuments(settings.trustedDocuments, {
      onDocument: (result) => metrics.trustedDocuments.inc({ result }),
      onFirstUnknown: (id) => logger.warn('trusted documents: a document not in the manifest ran', { documentId: id }),
    });
    logger.info(`trusted documents: ${settings.trustedDocuments.mode}, ${trusted.size} in the manifest`);
    stages.push({ name: 'trusted_documents', run: trusted.check });
  }
  stages.push({ name: 'persisted_query', run: checkPersistedQuery });
  if (settings.limits) stages.push({ name: 'document_limits', run: createDocumentLimits(settings.limits).check });
  stages.push({ name: 'operation', run: resolveOperation });
  const limiter = dependencies.rateLimiter;
  const rateLimit = async (request: EdgeRequest, mutationFields: number): Promise<StageResult> => {
    if (!limiter) return undefined;
    const decision = await limiter.check({
      req: request.req,
      caller: request.caller,
      operationName: request.operation?.name?.value ?? request.params?.operationName,
      mutationFields,
    });
    Object.assign((request.headers ??= {}), decision.headers);
    if (decision.allowed) {
      if (decision.storeUnavailable) metrics.rateLimitStoreErrors.inc();
      return undefined;
    }
    for (const policy of decision.policies) metrics.rateLimited.inc({ policy });
    return reject(429, 'RATE_LIMITED', decision.error.message, decision.error.extensions, decision.headers);
  };
  const rateLimitStage: Stage = {
    name: 'rate_limit',
    run: (request) =>
      rateLimit(
        request,
        request.document && request.operation?.operation === 'mutation'
          ? countMutationFields(request.document, request.operation.name?.value)
          : 0,
      ),
  };
  stages.push(rateLimitStage);
  const cost = settings.cost;
  stages.push({
    name: 'demand_control',
    run(request) {
      const model = dependencies.costModel();
      if (!model || !request.document || !request.operation) return undefined;
      request.cost = costOf(model, request);
      metrics.operationCost.observe({ operation: request.operation.operation }, request.cost);
      if (!cost.enabled || request.cost <= cost.maxCost) return undefined;
      return reject(
        400,
        COST_LIMIT_CODE,
        `The operation's estimated cost (${request.cost}) exceeds the maximum of ${cost.maxCost} (COST_MAX)`,
        { cost: request.cost, maxCost: cost.maxCost },
      );
    },
  });

  return {
    async check(request) {
      let rateLimited = false;
      for (const stage of stages) {
        let rejection = await stage.run(request);
        if (stage === rateLimitStage) rateLimited = true;
        else if (rejection && !rateLimited) {
          // Refused before the rate limit looked: the request still counts, and a client over its budget
          // hears 429 rather than the same 400 again.
          const limited = await rateLimit(request, 0);
          if (limited) rejection = limited;
        }
        if (rejection) {
          metrics.edgeRejections.inc({
            stage: rejection.code === 'RATE_LIMITED' ? 'rate_limit' : stage.name,
            code: rejection.code,
          });
          return rejection;
        }
      }
      return undefined;
    },
  };
}
