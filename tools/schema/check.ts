import fs from 'node:fs';
import { committedSupergraphFreshness, composeSubgraphs, readSubgraphs } from './compose';
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
  readonly cwd: string;
}

/**
 * Runs the four checks in one pass over the config. Inputs that cannot be read are reported before any
 * check runs (exit 2); everything after that is a check result (exit 0 or 1). When composition fails there
 * is no new schema, so the later checks are reported as skipped rather than guessed.
 */
export function runCheck(options: CheckOptions): Loaded<CheckReport> {
  const { config, cwd } = options;
  const shown = (file: string) => displayPath(file, cwd);

  const subgraphs = readSubgraphs(config);
  if (!subgraphs.ok) return subgraphs;

  const base = loadBase(options);
  if (!base.ok) return base;

  const operationsDir = options.operationsDir ?? config.operationsDir;
  const explicitOperations = options.operationsDir !== undefined || config.operationsDirConfigured;
  const operationSet = loadOperations(operationsDir, explicitOperations, options.operationsDir ? '--operations' : 'operations');
  if (!operationSet.ok) return operationSet;
  const { operations, problems } = operationSet.value;

  const composition = composeSubgraphs(subgraphs.value);
  const sections = (() => {
    if (!composition.ok) {
      const reason = 'composition failed';
      return {
        composition: { status: 'fail', errors: composition.errors, hints: [], supergraph: null } as CompositionSection,
        changes: skippedChanges(reason, base.value ? shown(base.value.origin) : null),
        operations: skippedOperations(reason),
        hops: skippedHops(reason),
      };
    }
    const freshness = committedSupergraphFreshness(config.supergraphFile, composition.supergraphSdl);
    const target = schemaFromSdl(composition.supergraphSdl, 'composed supergraph', 'composition');
    if (!target.ok) throw new Error(`The composed supergraph does not load: ${target.error}`);
    const changes = base.value ? diffSchemas(base.value.api, target.value.api) : [];
    const checked = operations.map((operation) => checkOperation(operation, changes, base.value, target.value));
    return {
      composition: {
        status: freshness === 'fresh' ? 'pass' : 'fail',
        errors: [],
        hints: composition.hints,
        supergraph: { file: shown(config.supergraphFile), freshness },
      } as CompositionSection,
      changes: changesSection(changes, checked, base.value),
      operations: operationsSection(checked),
      hops: hopsSection(checked, target.value, base.value, config),
    };
  })();

  const fileProblems = problems.map((problem) => ({ ...problem, file: shown(problem.file) }));
  const report: Omit<CheckReport, 'ok' | 'exitCode'> = {
    version: REPORT_VERSION,
    command: 'check',
    config: shown(config.file),
    subgraphs: config.subgraphs.map((subgraph) => subgraph.name),
    checks: {
      composition: sections.composition,
      changes: sections.changes,
      operations: {
        ...sections.operations,
        // Broken operation files fail the check even when composition failed and nothing else could run.
        status: fileProblems.length > 0 ? 'fail' : sections.operations.status,
        directory: shown(operationsDir),
        problems: fileProblems,
      },
      hops: sections.hops,
    },
  };
  const ok = Object.values(report.checks).every((section) => section.status !== 'fail');
  return loaded({ ...report, ok, exitCode: ok ? 0 : 1 });

  function changesSection(
    changes: readonly SchemaChange[],
    checked: readonly CheckedOperation[],
    baseSchema: LoadedSchema | undefined,
  ): ChangesSection {
    if (!baseSchema) return skippedChanges(`no base supergraph (${shown(config.supergraphFile)} does not exist)`, null);
    const entries = changes.map((change) => ({
      severity: change.severity,
      code: change.code,
      coordinate: change.coordinate,
      message: change.message,
      operations: checked
        .filter((operation) => operation.affectedBy.includes(change))
        .map(({ operation }) => ({ name: operation.name, file: shown(operation.file) })),
    }));
    // Breaking changes are always listed; they fail this check only when a client operation uses them.
    const failing = entries.some((entry) => entry.severity === 'breaking' && entry.operations.length > 0);
    return {
      status: failing ? 'fail' : 'pass',
      skippedReason: null,
      base: shown(baseSchema.origin),
      summary: summarise(entries),
      changes: entries,
    };
  }

  function operationsSection(checked: readonly CheckedOperation[]): Omit<OperationsSection, 'directory'> {
    const results: OperationResult[] = checked.map(({ operation, validationErrors, affectedBy }) => {
      const breakingChanges = affectedBy.filter((change) => change.severity === 'breaking').map((change) => change.coordinate);
      return {
        name: operation.name,
        file: shown(operation.file),
        kind: operation.kind,
        status: validationErrors.length > 0 || breakingChanges.length > 0 ? 'fail' : 'pass',
        errors: validationErrors.map((message) => ({ code: 'GRAPHQL_VALIDATION_FAILED', message })),
        breakingChanges: [...new Set(breakingChanges)],
      };
    });
    const failing = results.some((result) => result.status === 'fail');
    return { status: failing ? 'fail' : 'pass', skippedReason: null, operations: results, problems: [] };
  }

  function hopsSection(
    checked: readonly CheckedOperation[],
    target: LoadedSchema,
    baseSchema: LoadedSchema | undefined,
    schemaConfig: SchemaConfig,
  ): HopsSection {
    const defaultBudget = schemaConfig.budget.maxSequentialFetches ?? null;
    const targetPlanning = target.planning;
    if (!targetPlanning) throw new Error('The composed supergraph cannot be planned');
    const results: HopResult[] = [];
    for (const { operation, validationErrors, validAgainstBase } of checked) {
      if (validationErrors.length > 0) continue;
      const budget = schemaConfig.budget.perOperation.get(operation.name) ?? defaultBudget;
      const planned = planOperation(targetPlanning, operation);
      const ref = { name: operation.name, file: shown(operation.file) };
      if (!planned.ok) {
        results.push({ ...ref, status: 'fail', fetches: 0, sequentialFetches: 0, base: null, budget, regressed: false, overBudget: false, error: planned.error });
        continue;
      }
      const basePlanning = baseSchema?.planning;
      let baseHops: HopCount | null = null;
      if (basePlanning && validAgainstBase) {
        // Unchanged supergraphs plan identically; planning twice would only double the cost.
        const basePlan = baseSchema.sdl === target.sdl ? planned : planOperation(basePlanning, operation);
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
}

interface CheckedOperation {
  readonly operation: ClientOperation;
  readonly validationErrors: readonly string[];
  readonly validAgainstBase: boolean;
  readonly affectedBy: readonly SchemaChange[];
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

function loadBase(options: CheckOptions): Loaded<LoadedSchema | undefined> {
  if (options.baseFile !== undefined) return loadSchemaFile(options.baseFile, '--base');
  // A repository that has never composed has no committed supergraph: the staleness check reports that.
  if (!fs.existsSync(options.config.supergraphFile)) return loaded(undefined);
  return loadSchemaFile(options.config.supergraphFile, 'committed supergraph');
}

const skippedChanges = (reason: string, base: string | null): ChangesSection => ({
  status: 'skipped',
  skippedReason: reason,
  base,
  summary: { breaking: 0, dangerous: 0, safe: 0 },
  changes: [],
});

const skippedOperations = (reason: string): Omit<OperationsSection, 'directory'> => ({
  status: 'skipped',
  skippedReason: reason,
  operations: [],
  problems: [],
});

const skippedHops = (reason: string): HopsSection => ({
  status: 'skipped',
  skippedReason: reason,
  defaultBudget: null,
  operations: [],
});
