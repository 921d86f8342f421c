import type { ApolloGateway, GraphQLDataSource } from '@apollo/gateway';
import { ERRORS, errorCodeDef, operationFromDocument, type Operation } from '@apollo/federation-internals';
import type { FetchNode, PlanNode, QueryPlan, QueryPlanSelectionNode } from '@apollo/query-planner';
import type { GatewayExecutionResult, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import {
  GraphQLError,
  isAbstractType,
  isInterfaceType,
  isObjectType,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import { getVariableValues } from 'graphql/execution/values';
import { LRUCache } from 'lru-cache';
import { messageOf } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { GatewayMetrics } from '../metrics';
import {
  INCOMING_OPERATION,
  missingPublicHooks,
  readGatewayInternals,
  type GatewayInternals,
  type InternalsCheck,
} from './apollo-internals';
import { deferPlacementIsSupported, deferredDeliveryOf, executeDeferred, planHasDefer } from './defer';
import { withoutDefer } from './defer-schema';
import { compileShape, shapeResponse, unsupportedReason, type CompiledShape } from './shape';

/**
 * Our query plan executor: Apollo Gateway still composes, validates and plans; this runs the plan.
 *
 * Why not Apollo's `executeQueryPlan`: it walks the plan tree as it is, so each fetch starts the moment its
 * own predecessor answers, and fetches the plan puts in the same wave reach the subgraphs at different times,
 * in several HTTP requests; and it shapes the response by walking its operation model on every request,
 * which was the largest single cost in the gateway's profile. Here:
 *
 * - the plan is scheduled in **waves**: every fetch gets the wave in which all it depends on is done (the
 *   depth of the Sequence chain above it), and all fetches of one wave start in one synchronous pass, so the
 *   data source sends one request per subgraph per wave (`requests <= waves x subgraphs`), carrying each
 *   distinct representation once;
 * - representations are built into plain objects and merged into the result as Apollo merges them;
 * - the response is shaped by a program compiled once per operation (`./shape`).
 *
 * Plans with `@defer` run here too, block by block (`./defer`): the initial payload first, deferred fragments
 * as their blocks finish when the client takes multipart, the whole result otherwise.
 *
 * Plans or operations it does not handle (subscriptions, rewrites for @interfaceObject or
 * @fromContext, introspection, mutations) go to Apollo's executor unchanged, as does any request that asks
 * for its query plan in development, and every request when an Apollo internal it needs is missing (see
 * `apollo-internals`). Compiled plans are kept in an LRU bounded by approximate size, as Apollo bounds its own
 * plan cache (30 MiB by default).
 */

interface Job {
  fetch: FetchNode;
  path: (string | number)[];
}

interface CompiledOperation {
  plan: QueryPlan;
  shape: CompiledShape;
  /** The waves, when the plan has no Condition or Defer node (otherwise scheduled per request). */
  waves: Job[][] | undefined;
  /** Set when the plan defers: the labels the planner's normaliser made up for unlabelled defers. */
  defer: { assignedLabels: ReadonlySet<string> } | undefined;
}

/** Why an operation runs on Apollo's executor instead (a metric label: no spaces, a small fixed set). */
type FallbackReason =
  | 'mutation'
  | 'subscription'
  | 'introspection'
  | 'reserved_response_name'
  | 'defer'
  | 'data_rewrites'
  | 'unsupported_plan_node'
  | 'compile_error';

type Entry = CompiledOperation | { fallback: FallbackReason };

/** The default bound of compiled plans, as Apollo Gateway's own query plan cache. */
export const DEFAULT_PLAN_CACHE_BYTES = 30 * 2 ** 20;

export interface PlanExecutorOptions {
  logger: Logger;
  metrics: GatewayMetrics;
  /** The `Apollo-Query-Plan-Experimental` header is honoured (development): such requests go to Apollo's executor. */
  exposeQueryPlan: boolean;
  /** Approximate bytes of compiled plans kept (least recently used dropped first). Default 30 MiB. */
  planCacheBytes?: number;
  /** How the gateway's internals are read after each schema load; `readGatewayInternals` unless a test says. */
  readInternals?: (gateway: ApolloGateway) => InternalsCheck;
}

/** The installed executor, for metrics and tests. */
export interface PlanExecutorHandle {
  /** Whether our executor runs plans now (false: every request goes to Apollo's). */
  active(): boolean;
  /** Compiled operations kept, and their approximate bytes. */
  planCache(): { entries: number; bytes: number };
}

/** Approximate size of a compiled operation: its plan and shape steps as JSON, as Apollo sizes its plans. */
function approximateSize(entry: Entry): number {
  if ('fallback' in entry) return 64;
  return Buffer.byteLength(JSON.stringify(entry.plan)) + Buffer.byteLength(JSON.stringify(entry.shape.steps));
}

/** Installs the executor on a gateway before it loads; leaves Apollo's executor in place if it cannot. */
export function installPlanExecutor(gateway: ApolloGateway, options: PlanExecutorOptions): PlanExecutorHandle {
  const hooks = missingPublicHooks(gateway);
  if (hooks.length > 0) {
    options.logger.warn(`plan executor: Apollo Gateway lacks ${hooks.join(', ')}; using Apollo's executor`);
    return { active: () => false, planCache: () => ({ entries: 0, bytes: 0 }) };
  }
  const readInternals = options.readInternals ?? readGatewayInternals;
  const apolloExecutor = gateway.executor;
  const entries = new LRUCache<string, Entry>({
    maxSize: options.planCacheBytes ?? DEFAULT_PLAN_CACHE_BYTES,
    sizeCalculation: approximateSize,
  });
  let internals: InternalsCheck = { kind: 'missing', missing: ['a loaded schema'] };

  const compile = (requestContext: GatewayGraphQLRequestContext, ready: GatewayInternals): Entry => {
    const kind = requestContext.operation.operation;
    if (kind !== 'query') return { fallback: kind };
    const operation = operationFromDocument(ready.apiSchema, requestContext.document, {
      operationName: requestContext.request.operationName,
    });
    const reason = unsupportedReason(operation);
    if (reason) return { fallback: reason };
    // Every defer labelled the way the planner labels them, so that the shape's deferred fragments and the
    // plan's deferred blocks share labels.
    const normalized = operation.withNormalizedDefer();
    const planned = normalized.hasDefers ? normalized.operation : operation;
    // Compiled before planning, into plain steps: nothing the planner does to the operation can reach it.
    const shape = compileShape(planned);
    const plan = buildPlan(ready, planned, normalized.hasDefers, requestContext);
    const planReason = plan.node ? unsupportedNode(plan.node) : undefined;
    if (planReason) return { fallback: planReason };
    const root = plan.node as PlanNode | undefined;
    if (!deferPlacementIsSupported(root)) return { fallback: 'defer' };
    if (planHasDefer(root))
      return { plan, shape, waves: undefined, defer: { assignedLabels: normalized.assignedDeferLabels } };
    return { plan, shape, waves: root && hasCondition(root) ? undefined : schedule(root, {}), defer: undefined };
  };

  /**
   * Apollo's JS planner (2.x) fails an assertion on some deferred fragments (one that reaches an @requires field
   * through a list: "has deferRef ... cannot have a top-level deferRef"). Such an operation is planned without
   * its defers and answered in one payload, which the incremental-delivery spec allows.
   */
  const buildPlan = (
    ready: GatewayInternals,
    operation: Operation,
    hasDefers: boolean,
    requestContext: GatewayGraphQLRequestContext,
  ): QueryPlan => {
    try {
      return ready.queryPlanner.buildQueryPlan(operation);
    } catch (error) {
      if (!hasDefers) throw error;
      options.logger.warn('plan executor: the planner cannot defer this operation; it is answered in one payload', {
        operationName: requestContext.operation.name?.value ?? null,
        queryHash: requestContext.queryHash,
        error: messageOf(error),
      });
      return ready.queryPlanner.buildQueryPlan(operation.withoutDefer());
    }
  };

  gateway.executor = async (requestContext) => {
    if (internals.kind !== 'ready') {
      options.metrics.planExecutions.inc({ executor: 'apollo', reason: 'gateway_internals' });
      return apolloExecutor(withoutDefer(requestContext));
    }
    const key = `${requestContext.queryHash}\u0000${requestContext.request.operationName ?? ''}`;
    let entry = entries.get(key);
    if (!entry) {
      try {
        entry = compile(requestContext, internals.internals);
      } catch (error) {
        // Whatever Apollo's executor makes of it (planning errors included) is the answer. Logged once: the
        // fallback is remembered with the operation.
        options.logger.warn("plan executor: operation did not compile; Apollo's executor runs it", {
          operationName: requestContext.operation.name?.value ?? null,
          queryHash: requestContext.queryHash,
          error: messageOf(error),
        });
        entry = { fallback: 'compile_error' };
      }
      entries.set(key, entry);
    }
    const wantsPlan =
      options.exposeQueryPlan && requestContext.request.http?.headers.get('Apollo-Query-Plan-Experimental');
    if ('fallback' in entry || wantsPlan) {
      options.metrics.planExecutions.inc({
        executor: 'apollo',
        reason: 'fallback' in entry ? entry.fallback : 'query_plan_requested',
      });
      return apolloExecutor(withoutDefer(requestContext));
    }
    options.metrics.planExecutions.inc({ executor: 'waves' });
    return execute(entry, requestContext, internals.internals);
  };

  // Plans compiled against a previous supergraph are never used again; the internals are checked anew.
  gateway.onSchemaLoadOrUpdate(() => {
    entries.clear();
    const previous = internals.kind === 'missing' ? internals.missing.join(', ') : undefined;
    internals = readInternals(gateway);
    // One line when the executor stops being usable (or what is missing changes), none per request.
    const missing = internals.kind === 'missing' ? internals.missing.join(', ') : undefined;
    if (missing !== undefined && missing !== previous)
      options.logger.warn(`plan executor: Apollo Gateway internals not found (${missing}); using Apollo's executor`);
  });
  return {
    active: () => internals.kind === 'ready',
    planCache: () => ({ entries: entries.size, bytes: entries.calculatedSize }),
  };
}

function unsupportedNode(node: PlanNode | { kind: 'Subscription' }): FallbackReason | undefined {
  switch (node.kind) {
    case 'Sequence':
    case 'Parallel':
      for (const child of node.nodes) {
        const reason = unsupportedNode(child);
        if (reason) return reason;
      }
      return undefined;
    case 'Flatten':
      return unsupportedNode(node.node);
    case 'Condition':
      return (
        (node.ifClause && unsupportedNode(node.ifClause)) ||
        (node.elseClause && unsupportedNode(node.elseClause)) ||
        undefined
      );
    case 'Fetch':
      if (node.inputRewrites?.length || node.outputRewrites?.length || node.contextRewrites?.length)
        return 'data_rewrites';
      if (node.hasDefers) return 'defer';
      return undefined;
    case 'Subscription':
      return 'subscription';
    case 'Defer':
      for (const child of [node.primary.node, ...node.deferred.map((deferred) => deferred.node)]) {
        const reason = child && unsupportedNode(child);
        if (reason) return reason;
      }
      return undefined;
    default:
      return 'unsupported_plan_node';
  }
}

function hasCondition(node: PlanNode): boolean {
  switch (node.kind) {
    case 'Sequence':
    case 'Parallel':
      return node.nodes.some(hasCondition);
    case 'Flatten':
      return hasCondition(node.node);
    case 'Condition':
      return true;
    default:
      return false;
  }
}

/** Puts every fetch into the first wave after everything it depends on. */
function schedule(root: PlanNode | undefined, variables: Record<string, unknown>): Job[][] {
  const waves: Job[][] = [];
  const place = (node: PlanNode, start: number, path: (string | number)[]): number => {
    switch (node.kind) {
      case 'Fetch':
        (waves[start] ??= []).push({ fetch: node, path });
        return start + 1;
      case 'Flatten':
        return place(node.node, start, path.length === 0 ? node.path : [...path, ...node.path]);
      case 'Sequence': {
        let wave = start;
        for (const child of node.nodes) wave = place(child, wave, path);
        return wave;
      }
      case 'Parallel': {
        let end = start;
        for (const child of node.nodes) end = Math.max(end, place(child, start, path));
        return end;
      }
      case 'Condition': {
        const value = variables[node.condition];
        if (typeof value !== 'boolean')
          throw new Error(`Unexpected value ${String(value)} for condition $${node.condition}`);
        const branch = value ? node.ifClause : node.elseClause;
        return branch ? place(branch, start, path) : start;
      }
      default:
        throw new Error(`unsupported plan node ${node.kind}`);
    }
  };
  if (root) place(root as PlanNode, 0, []);
  return waves;
}

interface ExecutionState {
  requestContext: GatewayGraphQLRequestContext;
  internals: GatewayInternals;
  data: Record<string, unknown>;
  errors: GraphQLError[];
}

async function execute(
  entry: CompiledOperation,
  requestContext: GatewayGraphQLRequestContext,
  internals: GatewayInternals,
): Promise<GatewayExecutionResult> {
  const variableDefinitions = requestContext.operation.variableDefinitions;
  if (variableDefinitions && variableDefinitions.length > 0) {
    const { errors } = getVariableValues(
      requestContext.schema,
      variableDefinitions,
      requestContext.request.variables ?? {},
    );
    if (errors) return { errors };
  }
  const state: ExecutionState = { requestContext, internals, data: {}, errors: [] };
  if (entry.defer) {
    try {
      return await executeDeferred({
        plan: entry.plan.node as PlanNode | undefined,
        shape: entry.shape,
        assignedLabels: entry.defer.assignedLabels,
        variables: requestContext.request.variables,
        data: state.data,
        runBlock: (node, errors) =>
          runWaves(
            { ...state, errors },
            schedule(node, { ...entry.shape.defaults, ...requestContext.request.variables }),
          ),
        answer: (shaped, errors) => answer(shaped, errors),
        delivery: deferredDeliveryOf(requestContext.context),
      });
    } catch (error) {
      return { errors: [asGraphQLError(error)] };
    }
  }
  // A condition variable that is not a boolean throws, as it does in Apollo's executor (a 500).
  const waves =
    entry.waves ??
    schedule(entry.plan.node as PlanNode | undefined, { ...entry.shape.defaults, ...requestContext.request.variables });
  try {
    await runWaves(state, waves);
  } catch (error) {
    return { errors: [asGraphQLError(error)] };
  }
  let shaped: ReturnType<typeof shapeResponse>;
  try {
    shaped = shapeResponse(entry.shape, state.data, requestContext.request.variables);
  } catch (error) {
    return { errors: [asGraphQLError(error)] };
  }
  return answer(shaped, state.errors);
}

async function runWaves(state: ExecutionState, waves: Job[][]): Promise<void> {
  for (const wave of waves) {
    // One synchronous pass starts every fetch of the wave, so the data source batches them per subgraph.
    const merges = wave.map((job) => startFetch(state, job));
    for (const merge of await Promise.all(merges)) merge?.();
  }
}

function answer(shaped: ReturnType<typeof shapeResponse>, errors: GraphQLError[]): GatewayExecutionResult {
  // As Apollo's executor: value-completion errors are reported only when no fetch failed, as an extension.
  if (errors.length === 0 && shaped.errors.length > 0)
    return { extensions: { valueCompletion: shaped.errors }, data: shaped.data };
  return errors.length === 0 ? { data: shaped.data } : { errors, data: shaped.data };
}

function asGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  if (error instanceof Error) return new GraphQLError(error.message, { originalError: error });
  return new GraphQLError('Unexpected error during query plan execution');
}

/** Starts one fetch; resolves to the function that merges its answer (run in plan order), or nothing to merge. */
async function startFetch(state: ExecutionState, job: Job): Promise<(() => void) | undefined> {
  const { fetch, path } = job;
  try {
    const service = state.internals.serviceMap[fetch.serviceName]?.dataSource;
    if (!service) throw new Error(`Couldn't find service with name "${fetch.serviceName}"`);
    const target = flattenAt(state.data, path, 0);
    if (target === undefined || target === null) return undefined;
    const entities: Record<string, unknown>[] = [];
    if (Array.isArray(target)) {
      for (const value of target)
        if (value !== null && value !== undefined) entities.push(value as Record<string, unknown>);
    } else {
      entities.push(target as Record<string, unknown>);
    }
    if (entities.length === 0) return undefined;
    const variables: Record<string, unknown> = {};
    const provided = state.requestContext.request.variables;
    if (fetch.variableUsages && provided) {
      for (const name of fetch.variableUsages) {
        if (Object.prototype.hasOwnProperty.call(provided, name) && provided[name] !== undefined)
          variables[name] = provided[name];
      }
    }
    if (!fetch.requires) {
      const data = await send(state, service, fetch, variables, path);
      return () => {
        if (data) for (const entity of entities) deepMerge(entity, data);
      };
    }
    const representations: Record<string, unknown>[] = [];
    const owners: Record<string, unknown>[] = [];
    const schema = state.internals.supergraphSchema!;
    for (const entity of entities) {
      const representation = selectRequires(schema, entity, fetch.requires);
      if (representation && representation.__typename) {
        representations.push(representation);
        owners.push(entity);
      }
    }
    if (representations.length === 0) return undefined;
    if ('representations' in variables) throw new Error('Variables cannot contain key "representations"');
    variables.representations = representations;
    const data = await send(state, service, fetch, variables, path);
    return () => {
      if (!data) return;
      const received = data._entities;
      if (!Array.isArray(received)) {
        state.errors.push(asGraphQLError(new Error('Expected "data._entities" in response to be an array')));
        return;
      }
      if (received.length !== representations.length) {
        state.errors.push(
          asGraphQLError(new Error(`Expected "data._entities" to contain ${representations.length} elements`)),
        );
        return;
      }
      for (let index = 0; index < received.length; index++) {
        const entity = received[index] as Record<string, unknown> | null;
        const owner = owners[index]!;
        if (entity && !entity.__typename) entity.__typename = owner.__typename;
        deepMerge(owner, entity);
      }
    };
  } catch (error) {
    return () => void state.errors.push(error as GraphQLError);
  }
}

async function send(
  state: ExecutionState,
  service: GraphQLDataSource,
  fetch: FetchNode,
  variables: Record<string, unknown>,
  path: (string | number)[],
): Promise<Record<string, unknown> | null | undefined> {
  const response = await service.process({
    kind: INCOMING_OPERATION,
    request: { query: fetch.operation, variables, operationName: fetch.operationName },
    incomingRequestContext: state.requestContext,
    context: state.requestContext.context,
    document: fetch.operationDocumentNode,
    pathInIncomingRequest: path,
  });
  if (response.errors) {
    let hydrated: (string | number)[][] | undefined;
    for (const error of response.errors) {
      const errorPath = error.path;
      let mapped: (string | number)[] | undefined;
      if (fetch.requires && typeof errorPath?.[1] === 'number') {
        if (!hydrated) {
          hydrated = [];
          hydratePaths([], path, state.data, hydrated);
        }
        mapped = [...(hydrated[errorPath[1]] ?? []), ...errorPath.slice(2)];
      } else {
        mapped = errorPath ? [...path, ...errorPath] : undefined;
      }
      state.errors.push(downstreamError(error, fetch.serviceName, mapped));
    }
  }
  return response.data as Record<string, unknown> | null | undefined;
}

function downstreamError(
  original: GraphQLFormattedError,
  serviceName: string,
  path: (string | number)[] | undefined,
): GraphQLError {
  const message = original.message || `Error while fetching subquery from service "${serviceName}"`;
  const errorOptions = {
    originalError: original as unknown as Error,
    path,
    extensions: { ...original.extensions, serviceName },
  };
  const codeDef = errorCodeDef(original);
  if (!codeDef && original.extensions?.code) return new GraphQLError(message, errorOptions);
  return (codeDef ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, errorOptions);
}

/** The value at a plan path (`@` flattens a list), as Apollo's `flattenResultsAtPath`. */
function flattenAt(value: unknown, path: (string | number)[], from: number): unknown {
  if (from === path.length || value === undefined || value === null) return value;
  const element = path[from];
  if (element === '@') {
    if (!Array.isArray(value)) throw new Error(`Expected a list at '@' in ${path.join('.')}`);
    const out: unknown[] = [];
    for (const item of value) {
      const inner = flattenAt(item, path, from + 1);
      if (Array.isArray(inner)) for (const nested of inner) out.push(nested);
      else out.push(inner);
    }
    return out;
  }
  if (Array.isArray(value)) throw new Error(`Unexpected array in result for path element ${String(element)}`);
  const record = value as Record<string, unknown>;
  return Object.prototype.hasOwnProperty.call(record, element as string)
    ? flattenAt(record[element as string], path, from + 1)
    : undefined;
}

/** The concrete path of every non-null entity at a plan path, in order: where an `_entities` error belongs. */
function hydratePaths(
  parent: (string | number)[],
  path: (string | number)[],
  data: unknown,
  out: (string | number)[][],
): void {
  if (data === null || data === undefined) return;
  const head = path[0];
  if (head === undefined) {
    out.push(parent.slice());
  } else if (head === '@') {
    if (!Array.isArray(data)) return;
    data.forEach((value, index) => {
      parent.push(index);
      hydratePaths(parent, path.slice(1), value, out);
      parent.pop();
    });
  } else if (Array.isArray(data)) {
    data.forEach((value, index) => {
      parent.push(index);
      hydratePaths(parent, path, value, out);
      parent.pop();
    });
  } else if (Object.prototype.hasOwnProperty.call(data, head)) {
    parent.push(head);
    hydratePaths(parent, path.slice(1), (data as Record<string, unknown>)[head as string], out);
    parent.pop();
  }
}

/** A representation: the entity's fields that the fetch `requires`, or null when one is missing. */
function selectRequires(
  schema: GraphQLSchema,
  source: unknown,
  selections: readonly QueryPlanSelectionNode[],
): Record<string, unknown> | null {
  if (source === null || source === undefined) return null;
  const record = source as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const selection of selections) {
    if (selection.kind === 'Field') {
      const responseName = selection.alias ?? selection.name;
      const value = Object.prototype.hasOwnProperty.call(record, responseName) ? record[responseName] : undefined;
      if (value === undefined) return null;
      const inner = selection.selections;
      if (Array.isArray(value))
        result[responseName] = inner ? value.map((item) => selectRequires(schema, item, inner)) : value;
      else result[responseName] = inner ? selectRequires(schema, value, inner) : value;
    } else if (selection.typeCondition && isObjectOfType(schema, record, selection.typeCondition)) {
      deepMerge(result, selectRequires(schema, record, selection.selections));
    }
  }
  return result;
}

function isObjectOfType(schema: GraphQLSchema, object: Record<string, unknown>, typeCondition: string): boolean {
  const typename = object.__typename;
  if (typeof typename !== 'string' || !typename) return false;
  if (typename === typeCondition) return true;
  const type = schema.getType(typename);
  const condition = schema.getType(typeCondition);
  if (!type || !condition || !isAbstractType(condition)) return false;
  return (isObjectType(type) || isInterfaceType(type)) && schema.isSubType(condition, type);
}

/** Apollo Gateway's merge of one answer into the result: objects merged field by field, equal-length lists item by item. */
function deepMerge(target: Record<string, unknown>, source: Record<string, unknown> | null | undefined): void {
  if (source === undefined || source === null) return;
  for (const key in source) {
    const value = source[key];
    if (value === undefined) continue;
    const existing = target[key];
    if (existing && isPlainObject(value)) {
      deepMerge(existing as Record<string, unknown>, value);
    } else if (Array.isArray(value) && Array.isArray(existing) && value.length === existing.length) {
      for (let index = 0; index < value.length; index++) {
        if (isPlainObject(existing[index]) && isPlainObject(value[index])) deepMerge(existing[index], value[index]);
        else existing[index] = value[index];
      }
    } else {
      target[key] = value;
    }
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);
