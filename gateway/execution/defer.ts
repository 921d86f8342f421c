import type { DeferredNode, PlanNode } from '@apollo/query-planner';
import type { GatewayExecutionResult } from '@apollo/server-gateway-interface';
import { GraphQLError } from 'graphql';
import { shapeDeferred, shapeResponse, type CompiledShape, type DeferredItem } from './shape';

/**
 * `@defer` on our plan executor: the planner (incremental delivery on) splits a deferred operation into a
 * primary block and deferred blocks (`DeferNode`), each deferred block depending on the primary's data and
 * possibly deferring further (a nested `DeferNode`). Each block runs in waves like any plan (one request per
 * subgraph per wave, through the same data sources, so batching, the entity cache and the request memo apply);
 * the data of every block is merged into one result, and each payload is cut from it by the operation's
 * compiled shape: the initial one without the deferred fragments, each deferred one as the fragment's own
 * selection at every object it applies to.
 *
 * When the request carries a `DeferredDelivery` (the client accepts multipart), the executor answers with the
 * initial payload as soon as the primary block is done, and the deferred payloads follow on the delivery as
 * their blocks finish, in whatever order that is. Without one, every block runs and the answer is the whole
 * result at once, exactly the non-deferred one (the spec lets a server ignore `@defer`).
 */

/** One deferred fragment's data at one place in the response (the incremental-delivery format). */
export interface IncrementalItem {
  data: Record<string, unknown> | null;
  path: (string | number)[];
  label?: string;
  errors?: GraphQLError[];
}

/** A subsequent payload; `errors` only when they belong to no item (the fragment applied nowhere). */
export interface SubsequentPayload {
  incremental: IncrementalItem[];
  errors?: GraphQLError[];
}

/** The channel from the executor to the transport for one request's subsequent payloads. */
export class DeferredDelivery implements AsyncIterable<SubsequentPayload> {
  /** Set by the executor when its answer is an initial payload with more to come. */
  started = false;
  private readonly queue: SubsequentPayload[] = [];
  private done = false;
  private wake: (() => void) | undefined;

  push(payload: SubsequentPayload): void {
    this.queue.push(payload);
    this.signal();
  }

  end(): void {
    this.done = true;
    this.signal();
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SubsequentPayload> {
    for (;;) {
      const next = this.queue.shift();
      if (next) yield next;
      else if (this.done) return;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

// A symbol-keyed property of the request's context: Apollo Server hands the executor a shallow copy of the
// context our front built (Object.assign, which copies enumerable symbol properties), not the object itself.
const DELIVERY = Symbol('deferredDelivery');

/** Marks a request's context as accepting incremental delivery on `delivery`. */
export function withDeferredDelivery<T extends object>(context: T, delivery: DeferredDelivery | undefined): T {
  if (delivery) Object.defineProperty(context, DELIVERY, { value: delivery, enumerable: true });
  return context;
}

export function deferredDeliveryOf(context: object): DeferredDelivery | undefined {
  const delivery = (context as { [DELIVERY]?: unknown })[DELIVERY];
  return delivery instanceof DeferredDelivery ? delivery : undefined;
}

/** A block of the plan: the fetches that run now, and the fragments deferred past it. */
interface Block {
  node: PlanNode | undefined;
  deferred: DeferredNode[];
}

/** The block a plan node starts, its Condition nodes on `@defer(if:)` resolved by the request's variables. */
function blockOf(node: PlanNode | undefined, variables: Record<string, unknown>): Block {
  if (!node) return { node: undefined, deferred: [] };
  if (node.kind === 'Condition') {
    const value = variables[node.condition];
    if (typeof value !== 'boolean')
      throw new Error(`Unexpected value ${String(value)} for condition $${node.condition}`);
    return blockOf(value ? node.ifClause : node.elseClause, variables);
  }
  if (node.kind === 'Defer') return { node: node.primary.node, deferred: node.deferred };
  return { node, deferred: [] };
}

/** Where the planner may put a Defer node (the root of the plan or of a deferred block, maybe under a Condition). */
export function deferPlacementIsSupported(node: PlanNode | undefined, top = true): boolean {
  if (!node) return true;
  switch (node.kind) {
    case 'Defer':
      return (
        top &&
        deferPlacementIsSupported(node.primary.node, false) &&
        node.deferred.every((deferred) => deferPlacementIsSupported(deferred.node, true))
      );
    case 'Condition':
      return deferPlacementIsSupported(node.ifClause, top) && deferPlacementIsSupported(node.elseClause, top);
    case 'Sequence':
    case 'Parallel':
      return node.nodes.every((child) => deferPlacementIsSupported(child, false));
    case 'Flatten':
      return deferPlacementIsSupported(node.node, false);
    default:
      return true;
  }
}

export function planHasDefer(node: PlanNode | undefined): boolean {
  if (!node) return false;
  switch (node.kind) {
    case 'Defer':
      return true;
    case 'Condition':
      return planHasDefer(node.ifClause) || planHasDefer(node.elseClause);
    case 'Sequence':
    case 'Parallel':
      return node.nodes.some(planHasDefer);
    case 'Flatten':
      return planHasDefer(node.node);
    default:
      return false;
  }
}

/** Every label deferred by this request's plan (nested ones included): what the earlier payloads leave out. */
function deferredLabels(block: Block, variables: Record<string, unknown>, into = new Set<string>()): Set<string> {
  for (const deferred of block.deferred) {
    if (deferred.label !== undefined) into.add(deferred.label);
    deferredLabels(blockOf(deferred.node, variables), variables, into);
  }
  return into;
}

export interface DeferredExecution {
  plan: PlanNode | undefined;
  shape: CompiledShape;
  /** Labels the planner's normaliser gave to unlabelled defers: not shown to the client. */
  assignedLabels: ReadonlySet<string>;
  variables: Record<string, unknown> | undefined;
  /** The merged data of every block. */
  data: Record<string, unknown>;
  /** Runs one block's fetches in waves, merging into `data`; fetch errors go to `errors`. */
  runBlock(node: PlanNode | undefined, errors: GraphQLError[]): Promise<void>;
  /** The answer from merged data and fetch errors, as for a plan without defer. */
  answer(shaped: ReturnType<typeof shapeResponse>, errors: GraphQLError[]): GatewayExecutionResult;
  delivery: DeferredDelivery | undefined;
}

export async function executeDeferred(execution: DeferredExecution): Promise<GatewayExecutionResult> {
  const variables = { ...execution.shape.defaults, ...execution.variables };
  const top = blockOf(execution.plan, variables);
  const errors: GraphQLError[] = [];
  await execution.runBlock(top.node, errors);
  const delivery = execution.delivery;
  if (!delivery || top.deferred.length === 0) {
    await runAll(execution, top.deferred, variables, errors);
    return execution.answer(shapeResponse(execution.shape, execution.data, execution.variables), errors);
  }
  const labels = deferredLabels(top, variables);
  const initial = shapeResponse(execution.shape, execution.data, execution.variables, labels);
  // Nothing to attach deferred fragments to (the primary bubbled a null to the root): the answer is final.
  if (initial.data === null) return execution.answer(initial, errors);
  delivery.started = true;
  void Promise.allSettled(top.deferred.map((deferred) => deliver(execution, deferred, variables, labels))).then(() =>
    delivery.end(),
  );
  return execution.answer(initial, errors);
}

/** Without incremental delivery: every deferred block, nested ones after their parent, siblings side by side. */
async function runAll(
  execution: DeferredExecution,
  deferred: DeferredNode[],
  variables: Record<string, unknown>,
  errors: GraphQLError[],
): Promise<void> {
  const perBlock = await Promise.all(
    deferred.map(async (node) => {
      const block = blockOf(node.node, variables);
      const blockErrors: GraphQLError[] = [];
      await execution.runBlock(block.node, blockErrors);
      await runAll(execution, block.deferred, variables, blockErrors);
      return blockErrors;
    }),
  );
  for (const blockErrors of perBlock) errors.push(...blockErrors);
}

/** Runs one deferred block, pushes its payload, then does the same for the blocks deferred inside it. */
async function deliver(
  execution: DeferredExecution,
  deferred: DeferredNode,
  variables: Record<string, unknown>,
  labels: ReadonlySet<string>,
): Promise<void> {
  const delivery = execution.delivery!;
  const label = deferred.label;
  const errors: GraphQLError[] = [];
  let block: Block;
  try {
    block = blockOf(deferred.node, variables);
    await execution.runBlock(block.node, errors);
    if (label === undefined) throw new Error('A deferred block of the plan has no label');
    const shaped = shapeDeferred(execution.shape, execution.data, execution.variables, label, labels);
    // As for the whole response: value-completion errors are reported when no fetch failed.
    if (errors.length === 0) errors.push(...shaped.errors);
    const shownLabel = execution.assignedLabels.has(label) ? undefined : label;
    delivery.push(incrementalPayload(shaped.items, shownLabel, errors));
  } catch (error) {
    errors.push(asGraphQLError(error));
    delivery.push({ incremental: [], errors });
    return;
  }
  await Promise.all(block.deferred.map((nested) => deliver(execution, nested, variables, labels)));
}

/** Each error goes to the item whose path is the longest prefix of the error's; the rest to the first item. */
function incrementalPayload(
  items: DeferredItem[],
  label: string | undefined,
  errors: GraphQLError[],
): SubsequentPayload {
  const incremental: IncrementalItem[] = items.map(({ path, data }) => ({
    data,
    path,
    ...(label === undefined ? {} : { label }),
  }));
  const unplaced: GraphQLError[] = [];
  for (const error of errors) {
    let best: IncrementalItem | undefined;
    for (const item of incremental) {
      if (isPrefix(item.path, error.path) && (!best || item.path.length > best.path.length)) best = item;
    }
    const target = best ?? incremental[0];
    if (target) (target.errors ??= []).push(error);
    else unplaced.push(error);
  }
  return unplaced.length > 0 ? { incremental, errors: unplaced } : { incremental };
}

function isPrefix(prefix: readonly (string | number)[], path: readonly (string | number)[] | undefined): boolean {
  if (!path || path.length < prefix.length) return false;
  return prefix.every((element, index) => path[index] === element);
}

function asGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  return new GraphQLError(error instanceof Error ? error.message : 'Unexpected error during query plan execution', {
    originalError: error instanceof Error ? error : undefined,
  });
}
