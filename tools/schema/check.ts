import fs from 'node:fs';
import { createCostModel } from '../../lib/cost-model';
import { committedSupergraphFreshness, composeSubgraphs, readSubgraphs, type CompositionIssue } from './compose';
import type { SchemaConfig } from './config';
import { diffSchemas, type SchemaChange } from './diff';
import { planOperation, type HopCount } from './hops';
import { displayPath, loaded, type Loaded } from './input';
import { collectUsage, loadOperations, validateOperation, type ClientOperation } from './operations';
import {
  REPORT_VERSION,
  summarise,
  type ChangesSection,
  type CheckReport,
  type CompositionSection,
  type CostResult,
  type CostSection,
  type HopResult,
  type HopsSection,
  type OperationResult,
  type OperationsSection,
} from './report';
import { loadSchemaFile, schemaFromSdl, type LoadedSchema } from './supergraph';

export interface CheckOptions {
  readonly config: SchemaConfig;
  /** The supergraph to compare against; undefined means the committed supergraph. */
  readonly baseFile: string | undefined;
  readonly operationsDir: string | undefined;
  /** Paths in the report are shown relative to this. */
  readonly cwd: string;
}

type Shown = (file: string) => string;

/** An operation looked at against both schemas: the input of the changes, operations, hops and cost sections. */
interface CheckedOperation {
  readonly operation: ClientOperation;
  readonly validationErrors: readonly string[];
  readonly validAgainstBase: boolean;
  readonly affectedBy: readonly SchemaChange[];
}

/**
 * Runs the five checks in one pass over the config. Inputs that cannot be read are reported before any check
 * runs (exit 2); everything after that is a check result (exit 0 or 1). When composition fails there is no new
 * schema, so the later checks are reported as skipped rather than guessed.
 */
export function runCheck(options: CheckOptions): Loaded<CheckReport> {
  const { config } = options;
  const shown: Shown = (file) => displayPath(file, options.cwd);

  const subgraphs = readSubgraphs(config);
  if (!subgraphs.ok) return subgraphs;
  const base = loadBase(options);
  if (!base.ok) return base;
  const operationsDir = options.operationsDir ?? config.operationsDir;
  const operationSet = loadOperations(
    operationsDir,
    options.operationsDir !== undefined || config.operationsDirConfigured,
    options.operationsDir !== undefined ? '--operations' : `checks.operations of ${config.file}`,
    shown,
  );
  if (!operationSet.ok) return operationSet;
  const { operations, problems } = operationSet.value;

  const composition = composeSubgraphs(subgraphs.value);
  let checks: CheckReport['checks'];
  if (!composition.ok) {
    const reason = 'composition failed';
    checks = {
      composition: compositionSection('fail', composition.errors, [], null),
      changes: skippedChanges(reason, base.value ? shown(base.value.origin) : null),
      operations: operationsSection([], shown, reason),
      hops: skippedHops(reason),
      cost: skippedCost(reason, config),
    };
  } else {
    const freshness = committedSupergraphFreshness(config.supergraphFile, composition.supergraphSdl);
    const target = schemaFromSdl(composition.supergraphSdl, 'composed supergraph', 'composition');
    if (!target.ok) throw new Error(`The composed supergraph does not load: ${target.error}`);
    const changes = base.value ? diffSchemas(base.value.api, target.value.api) : [];
    const checked = operations.map((operation) => checkOperation(operation, changes, base.value, target.value));
    checks = {
      composition: compositionSection(freshness === 'fresh' ? 'pass' : 'fail', [], composition.hints, {
        file: shown(config.supergraphFile),
        freshness,
      }),
      changes: base.value
        ? changesSection(changes, checked, shown(base.value.origin), shown)
        : skippedChanges(
            `no base supergraph: ${shown(config.supergraphFile)} does not exist and no --base was given`,
            null,
          ),
      operations: operationsSection(checked, shown, null),
      hops: hopsSection(checked, target.value, base.value, config, shown),
      cost: costSection(checked, target.value, base.value, config, shown),
    };
  }

  // Broken operation files fail the check even when composition failed and nothing else could run.
  const fileProblems = problems.map((problem) => ({ ...problem, file: shown(problem.file) }));
  checks = {
    ...checks,
    operations: {
      ...checks.operations,
      status: fileProblems.length > 0 ? 'fail' : checks.operations.status,
      directory: shown(operationsDir),
      problems: fileProblems,
    },
  };
  const ok = Object.values(checks).every((section) => section.status !== 'fail');
  return loaded({
    version: REPORT_VERSION,
    command: 'check',
    ok,
    exitCode: ok ? 0 : 1,
    config: shown(config.file),
    subgraphs: config.subgraphs.map((subgraph) => subgraph.name),
    checks,
  });
}

function loadBase(options: CheckOptions): Loaded<LoadedSchema | undefined> {
  if (options.baseFile !== undefined) return loadSchemaFile(options.baseFile, '--base');
  // A repository that has never composed has no committed supergraph: the staleness check reports that.
  if (!fs.existsSync(options.config.supergraphFile)) return loaded(undefined);
  return loadSchemaFile(options.config.supergraphFile, 'committed supergraph');
}

/**
 * What an operation uses is read against the base schema when the operation was valid there: that is the
 * schema whose elements the changes remove or alter. A new operation that only the target supports is read
 * against the target instead.
 */
function checkOperation(
  operation: ClientOperation,
  changes: readonly SchemaChange[],
  base: LoadedSchema | undefined,
  target: LoadedSchema,
): CheckedOperation {
  const validationErrors = validateOperation(target.api, operation).map((error) => error.message);
  const validAgainstBase = base !== undefined && validateOperation(base.api, operation).length === 0;
  const usage = collectUsage(validAgainstBase && base ? base.api : target.api, operation);
  const affectedBy = changes.filter((change) => change.affects.some((key) => usage.has(key)));
  return { operation, validationErrors, validAgainstBase, affectedBy };
}

const compositionSection = (
  status: CompositionSection['status'],
  errors: readonly CompositionIssue[],
  hints: readonly CompositionIssue[],
  supergraph: CompositionSection['supergraph'],
): CompositionSection => ({ status, errors, hints, supergraph });

function changesSection(
  changes: readonly SchemaChange[],
  checked: readonly CheckedOperation[],
  base: string,
  shown: Shown,
): ChangesSection {
  const entries = changes.map((change) => ({
    severity: change.severity,
    code: change.code,
    coordinate: change.coordinate,
    message: change.message,
    operations: checked
      .filter((operation) => operation.affectedBy.includes(change))
      .map(({ operation }) => ({ name: operation.name, file: shown(operation.file) })),
  }));
  // Breaking changes are always listed; like a usage-based check, they fail only when an operation uses them.
  const failing = entries.some((entry) => entry.severity === 'breaking' && entry.operations.length > 0);
  return {
    status: failing ? 'fail' : 'pass',
    skippedReason: null,
    base,
    summary: summarise(entries),
    changes: entries,
  };
}

function operationsSection(
  checked: readonly CheckedOperation[],
  shown: Shown,
  skippedReason: string | null,
): OperationsSection {
  const results: OperationResult[] = checked.map(({ operation, validationErrors, affectedBy }) => {
    const breakingChanges = [
      ...new Set(affectedBy.filter((change) => change.severity === 'breaking').map((change) => change.coordinate)),
    ];
    return {
      name: operation.name,
      file: shown(operation.file),
      kind: operation.kind,
      status: validationErrors.length > 0 || breakingChanges.length > 0 ? 'fail' : 'pass',
      errors: validationErrors.map((message) => ({ code: 'GRAPHQL_VALIDATION_FAILED', message })),
      breakingChanges,
    };
  });
  let status: OperationsSection['status'] = results.some((result) => result.status === 'fail') ? 'fail' : 'pass';
  if (skippedReason !== null) status = 'skipped';
  // `directory` and `problems` are filled in by runCheck, which knows about the files.
  return { status, skippedReason, directory: '', operations: results, problems: [] };
}

/**
 * Plans every operation that validates against the new schema, and the same operation against the base
 * supergraph when it was valid there too. An operation fails when it needs more sequential fetches than in
 * the base, or than its budget; one that cannot be planned at all fails too.
 */
function hopsSection(
  checked: readonly CheckedOperation[],
  target: LoadedSchema,
  base: LoadedSchema | undefined,
  config: SchemaConfig,
  shown: Shown,
): HopsSection {
  const defaultBudget = config.budget.maxSequentialFetches ?? null;
  const targetPlanning = target.planning;
  if (!targetPlanning) throw new Error('The composed supergraph cannot be planned');
  const basePlanning = base?.planning;
  // An unchanged supergraph plans identically; planning it twice would only double the cost.
  const sameSupergraph = base?.sdl.trimEnd() === target.sdl.trimEnd();

  const results: HopResult[] = [];
  for (const { operation, validationErrors, validAgainstBase } of checked) {
    if (validationErrors.length > 0) continue;
    const ref = { name: operation.name, file: shown(operation.file) };
    const budget = config.budget.perOperation.get(operation.name) ?? defaultBudget;
    const planned = planOperation(targetPlanning, operation);
    if (!planned.ok) {
      results.push({
        ...ref,
        status: 'fail',
        fetches: 0,
        sequentialFetches: 0,
        base: null,
        budget,
        regressed: false,
        overBudget: false,
        error: planned.error,
      });
      continue;
    }
    let baseHops: HopCount | null = null;
    if (basePlanning && validAgainstBase) {
      const basePlan = sameSupergraph ? planned : planOperation(basePlanning, operation);
      baseHops = basePlan.ok ? basePlan.hops : null;
    }
    const { fetches, sequentialFetches } = planned.hops;
    const regressed = baseHops !== null && sequentialFetches > baseHops.sequentialFetches;
    const overBudget = budget !== null && sequentialFetches > budget;
    results.push({
      ...ref,
      status: regressed || overBudget ? 'fail' : 'pass',
      fetches,
      sequentialFetches,
      base: baseHops,
      budget,
      regressed,
      overBudget,
      error: null,
    });
  }
  const failing = results.some((result) => result.status === 'fail');
  return { status: failing ? 'fail' : 'pass', skippedReason: null, defaultBudget, operations: results };
}

/**
 * Costs every operation that validates against the new schema with the gateway's own cost model, so the check
 * and the gateway's limit agree; the base supergraph's cost is reported beside it. An operation fails only when
 * it is over its budget: a cost that rises within budget is a reviewer's call, not a failure. Operations are
 * costed without variables, so slicing arguments take the operation's variable defaults or the schema's.
 */
function costSection(
  checked: readonly CheckedOperation[],
  target: LoadedSchema,
  base: LoadedSchema | undefined,
  config: SchemaConfig,
  shown: Shown,
): CostSection {
  const { maxCost, perOperation, defaultListSize } = config.costBudget;
  const targetModel = createCostModel(target.sdl, { defaultListSize });
  const baseModel =
    base && base.sdl.trimEnd() !== target.sdl.trimEnd() ? createCostModel(base.sdl, { defaultListSize }) : targetModel;
  const results: CostResult[] = [];
  for (const { operation, validationErrors, validAgainstBase } of checked) {
    if (validationErrors.length > 0) continue;
    const cost = targetModel.costOf(operation.document, operation.name, undefined);
    const budget = perOperation.get(operation.name) ?? maxCost ?? null;
    const overBudget = budget !== null && cost > budget;
    results.push({
      name: operation.name,
      file: shown(operation.file),
      status: overBudget ? 'fail' : 'pass',
      cost,
      base: base && validAgainstBase ? baseModel.costOf(operation.document, operation.name, undefined) : null,
      budget,
      overBudget,
    });
  }
  return {
    status: results.some((result) => result.status === 'fail') ? 'fail' : 'pass',
    skippedReason: null,
    defaultBudget: maxCost ?? null,
    defaultListSize,
    operations: results,
  };
}

const skippedChanges = (reason: string, base: string | null): ChangesSection => ({
  status: 'skipped',
  skippedReason: reason,
  base,
  summary: { breaking: 0, dangerous: 0, safe: 0 },
  changes: [],
});

const skippedHops = (reason: string): HopsSection => ({
  status: 'skipped',
  skippedReason: reason,
  defaultBudget: null,
  operations: [],
});

const skippedCost = (reason: string, config: SchemaConfig): CostSection => ({
  status: 'skipped',
  skippedReason: reason,
  defaultBudget: config.costBudget.maxCost ?? null,
  defaultListSize: config.costBudget.defaultListSize,
  operations: [],
});
