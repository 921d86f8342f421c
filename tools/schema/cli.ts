#!/usr/bin/env node
/**
 * `federation-schema`: compose, check, diff and plan a federated supergraph, offline. Documented in
 * docs/schema-checks.md. `run` does all the work against injected streams and returns the exit code, so tests
 * drive it in-process; the bottom of this file is the only part that touches the real process.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { prettyFormatQueryPlan } from '@apollo/query-planner';
import { runCheck } from './check';
import {
  composeSubgraphs,
  federationVersionWarning,
  installedCompositionVersion,
  readSubgraphs,
  supergraphFileContents,
} from './compose';
import { DEFAULT_CONFIG_CANDIDATES, findDefaultConfig, loadConfig, type SchemaConfig } from './config';
import { renderCheckJunit, renderCheckSarif } from './ci-formats';
import { fetchRemoteSchemas, withFetchedSchemas } from './remote';
import { diffSchemas } from './diff';
import {
  createStyle,
  renderCheckMarkdown,
  renderCheckText,
  renderCompositionIssues,
  renderDiffMarkdown,
  renderDiffText,
  renderJson,
  renderPlanText,
  type OutputFormat,
  type Style,
} from './format';
import { planOperation } from './hops';
import { displayPath, readInputFile, type Loaded } from './input';
import { printApiSchema } from '../../lib/api-schema';
import { print } from 'graphql';
import {
  listOperationFiles,
  loadOperationFiles,
  loadOperations,
  validateOperation,
  type ClientOperation,
} from './operations';
import { REPORT_VERSION, summarise, type DiffReport, type PlanReport } from './report';
import { loadSchemaFile, schemaFromSdl } from './supergraph';

export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Relative paths in flags and defaults are resolved against this. */
  readonly cwd: string;
  /** SDLs of the config's remote subgraphs (`subgraph_url`), by subgraph name, read by `runWithRemoteSchemas`. */
  readonly fetchedSchemas?: ReadonlyMap<string, string>;
}

export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;

const USAGE = `Usage: federation-schema <command> [options]

Commands:
  compose [--config FILE] [--out FILE|-]
      Compose the subgraphs of a supergraph.yaml and write the supergraph.
  check [--config FILE] [--base FILE] [--supergraph FILE] [--operations DIR]
        [--format text|json|markdown|junit|sarif]
      Composition, staleness of the committed supergraph, schema changes against --base,
      client operations and network hops, in one run.
  diff --base FILE [--target FILE] [--config FILE] [--format text|json|markdown]
      Schema changes only; the target defaults to composing --config.
  plan <operation file> [--name OPERATION] [--supergraph FILE] [--config FILE] [--format text|json]
      The query plan of one operation and its fetch counts.
  manifest [--config FILE] [--operations DIR] [--out FILE|-] [--check]
      The trusted documents manifest (Apollo's persisted query manifest format) of the client
      operations, for the gateway's TRUSTED_DOCUMENTS; --check fails when the file is not up to date.
  api [--config FILE] [--supergraph FILE] [--out FILE|-] [--check]
      The API schema clients see (introspection, codegen), as the gateway serves it from the
      supergraph; --check fails when the file is not up to date.

Exit codes: 0 pass, 1 a check failed, 2 bad usage or unreadable input.
Defaults: --config is the first of ${DEFAULT_CONFIG_CANDIDATES.join(', ')} in the current folder, else in the
repository root; the supergraph and operations folder come from its checks: section.
`;

class UsageError extends Error {}

/** Parses `argv` (without `node` and the script) and runs one command; never throws, always returns an exit code. */
export function run(argv: readonly string[], io: CliIo): number {
  const [command, ...rest] = argv;
  const style = createStyle(io.stdout.isTTY === true && io.env.NO_COLOR === undefined);
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  try {
    switch (command) {
      case 'compose':
        return composeCommand(rest, io, style);
      case 'check':
        return checkCommand(rest, io, style);
      case 'diff':
        return diffCommand(rest, io, style);
      case 'plan':
        return planCommand(rest, io, style);
      case 'manifest':
        return manifestCommand(rest, io, style);
      case 'api':
        return apiCommand(rest, io, style);
      case 'help':
      case '--help':
      case '-h':
        io.stdout.write(USAGE);
        return EXIT_OK;
      case undefined:
        throw new UsageError('missing command');
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`federation-schema: ${error.message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    if (isParseArgsError(error)) {
      io.stderr.write(`federation-schema ${command ?? ''}: ${(error as Error).message}\n\n${USAGE}`);
      return EXIT_USAGE;
    }
    // A bug or an input the libraries choke on: the check could not run, which is not the same as failing.
    io.stderr.write(
      `federation-schema: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT_USAGE;
  }
}

function composeCommand(args: readonly string[], io: CliIo, style: Style): number {
  const { values } = parseArgs({
    args: [...args],
    options: { config: { type: 'string' }, out: { type: 'string' } },
    strict: true,
  });
  const config = loadConfigFrom(values.config, io);
  if (!config.ok) return reportInputError(config.error, io);
  const subgraphs = readSubgraphs(config.value);
  if (!subgraphs.ok) return reportInputError(subgraphs.error, io);

  const composition = composeSubgraphs(subgraphs.value);
  if (!composition.ok) {
    io.stderr.write(renderCompositionIssues(composition.errors, 'error', style));
    io.stderr.write(style.red(`Composition failed with ${composition.errors.length} error(s)\n`));
    return EXIT_CHECK_FAILED;
  }
  io.stderr.write(renderCompositionIssues(composition.hints, 'hint', style));
  const contents = supergraphFileContents(composition.supergraphSdl);
  if (values.out === '-') {
    io.stdout.write(contents);
    return EXIT_OK;
  }
  const outFile = values.out === undefined ? config.value.supergraphFile : path.resolve(io.cwd, values.out);
  try {
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, contents);
  } catch (error) {
    return reportInputError(
      `--out: cannot write ${outFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      io,
    );
  }
  io.stdout.write(
    `Composed ${subgraphs.value.length} subgraphs into ${displayPath(outFile, io.cwd)} (${composition.hints.length} hints)\n`,
  );
  return EXIT_OK;
}

function checkCommand(args: readonly string[], io: CliIo, style: Style): number {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string' },
      base: { type: 'string' },
      supergraph: { type: 'string' },
      operations: { type: 'string' },
      format: { type: 'string', default: 'text' },
    },
    strict: true,
  });
  const format = parseFormat(values.format, ['text', 'json', 'markdown', 'junit', 'sarif']);
  const loadedConfig = loadConfigFrom(values.config, io);
  if (!loadedConfig.ok) return reportInputError(loadedConfig.error, io);
  const config: SchemaConfig = values.supergraph
    ? { ...loadedConfig.value, supergraphFile: path.resolve(io.cwd, values.supergraph) }
    : loadedConfig.value;

  const report = runCheck({
    config,
    baseFile: values.base === undefined ? undefined : path.resolve(io.cwd, values.base),
    operationsDir: values.operations === undefined ? undefined : path.resolve(io.cwd, values.operations),
    cwd: io.cwd,
  });
  if (!report.ok) return reportInputError(report.error, io);
  if (format === 'json') io.stdout.write(renderJson(report.value));
  else if (format === 'markdown') io.stdout.write(renderCheckMarkdown(report.value));
  else if (format === 'junit') io.stdout.write(renderCheckJunit(report.value));
  else if (format === 'sarif') io.stdout.write(renderCheckSarif(report.value, config, io.cwd));
  else io.stdout.write(renderCheckText(report.value, style));
  return report.value.exitCode;
}

function diffCommand(args: readonly string[], io: CliIo, style: Style): number {
  const { values } = parseArgs({
    args: [...args],
    options: {
      base: { type: 'string' },
      target: { type: 'string' },
      config: { type: 'string' },
      format: { type: 'string', default: 'text' },
    },
    strict: true,
  });
  const format = parseFormat(values.format, ['text', 'json', 'markdown']);
  if (values.base === undefined) throw new UsageError('diff needs --base FILE (the supergraph to compare against)');
  const baseFile = path.resolve(io.cwd, values.base);
  const base = loadSchemaFile(baseFile, '--base');
  if (!base.ok) return reportInputError(base.error, io);

  let report: DiffReport;
  const header = { version: REPORT_VERSION, command: 'diff', base: displayPath(baseFile, io.cwd) } as const;
  if (values.target !== undefined) {
    const targetFile = path.resolve(io.cwd, values.target);
    const target = loadSchemaFile(targetFile, '--target');
    if (!target.ok) return reportInputError(target.error, io);
    report = diffReport(header, displayPath(targetFile, io.cwd), diffSchemas(base.value.api, target.value.api));
  } else {
    const config = loadConfigFrom(values.config, io);
    if (!config.ok) return reportInputError(config.error, io);
    const subgraphs = readSubgraphs(config.value);
    if (!subgraphs.ok) return reportInputError(subgraphs.error, io);
    const composition = composeSubgraphs(subgraphs.value);
    const targetName = `${displayPath(config.value.file, io.cwd)} (composed)`;
    if (!composition.ok) {
      report = {
        ...header,
        target: targetName,
        ok: false,
        exitCode: 1,
        compositionErrors: composition.errors,
        summary: summarise([]),
        changes: [],
      };
    } else {
      const target = schemaFromSdl(composition.supergraphSdl, targetName, 'composition');
      if (!target.ok) throw new Error(target.error);
      report = diffReport(header, targetName, diffSchemas(base.value.api, target.value.api));
    }
  }
  if (format === 'json') io.stdout.write(renderJson(report));
  else if (format === 'markdown') io.stdout.write(renderDiffMarkdown(report));
  else io.stdout.write(renderDiffText(report, style));
  return report.exitCode;
}

function diffReport(
  header: Pick<DiffReport, 'version' | 'command' | 'base'>,
  target: string,
  changes: ReturnType<typeof diffSchemas>,
): DiffReport {
  const summary = summarise(changes);
  const ok = summary.breaking === 0;
  return {
    ...header,
    target,
    ok,
    exitCode: ok ? 0 : 1,
    compositionErrors: [],
    summary,
    changes: changes.map(({ severity, code, coordinate, message }) => ({ severity, code, coordinate, message })),
  };
}

function planCommand(args: readonly string[], io: CliIo, style: Style): number {
  const { values, positionals } = parseArgs({
    args: [...args],
    options: {
      name: { type: 'string' },
      supergraph: { type: 'string' },
      config: { type: 'string' },
      format: { type: 'string', default: 'text' },
    },
    allowPositionals: true,
    strict: true,
  });
  const format = parseFormat(values.format, ['text', 'json']);
  const [operationArg, ...extra] = positionals;
  if (operationArg === undefined || extra.length > 0) throw new UsageError('plan needs exactly one operation file');

  // The config gives the default supergraph and the operations folder, whose fragments the file may spread.
  // With an explicit --supergraph the config is optional: planning a file from another repository needs none.
  const config =
    values.supergraph !== undefined && values.config === undefined
      ? tryDefaultConfig(io)
      : loadConfigFrom(values.config, io);
  if (!config.ok) return reportInputError(`${config.error} (or pass --supergraph FILE)`, io);
  const supergraphFile =
    values.supergraph !== undefined ? path.resolve(io.cwd, values.supergraph) : (config.value?.supergraphFile ?? '');
  const schema = loadSchemaFile(supergraphFile, values.supergraph === undefined ? 'supergraph' : '--supergraph');
  if (!schema.ok) return reportInputError(schema.error, io);
  const planning = schema.value.planning;
  if (!planning)
    return reportInputError(`--supergraph: ${supergraphFile} is a plain GraphQL schema, not a supergraph`, io);

  const operationFile = path.resolve(io.cwd, operationArg);
  const fragmentFiles = config.value
    ? filesIn(config.value.operationsDir).filter((file) => file !== operationFile)
    : [];
  const operationSet = loadOperationFiles([operationFile, ...fragmentFiles], 'operation file');
  if (!operationSet.ok) return reportInputError(operationSet.error, io);
  const problems = operationSet.value.problems.filter((problem) => problem.file === operationFile);
  const operations = operationSet.value.operations.filter((candidate) => candidate.file === operationFile);
  const firstProblem = problems[0];
  if (firstProblem) return reportInputError(`operation file ${operationFile}: ${firstProblem.message}`, io);
  const names = operations.map((candidate) => candidate.name);
  const operation =
    values.name === undefined && operations.length === 1
      ? operations[0]
      : operations.find((candidate) => candidate.name === values.name);
  if (!operation) {
    const which =
      values.name === undefined
        ? 'contains several operations; pick one with --name'
        : `has no operation named ${values.name}`;
    return reportInputError(`operation file ${operationFile} ${which} (found: ${names.join(', ') || 'none'})`, io);
  }

  const validationErrors = validateOperation(schema.value.api, operation);
  if (validationErrors.length > 0) {
    for (const error of validationErrors)
      io.stderr.write(`${style.red('invalid')} ${operation.name}: ${error.message}\n`);
    return EXIT_CHECK_FAILED;
  }
  const planned = planOperation(planning, operation);
  if (!planned.ok) {
    io.stderr.write(`${style.red('cannot plan')} ${operation.name}: ${planned.error}\n`);
    return EXIT_CHECK_FAILED;
  }
  const report: PlanReport = {
    version: REPORT_VERSION,
    command: 'plan',
    operation: operation.name,
    file: displayPath(operationFile, io.cwd),
    supergraph: displayPath(supergraphFile, io.cwd),
    ...planned.hops,
    plan: prettyFormatQueryPlan(planned.plan),
  };
  io.stdout.write(format === 'json' ? renderJson(report) : renderPlanText(report, style));
  return EXIT_OK;
}

/** The default manifest file: beside the config file, as `trusted-documents.json`. */
export const MANIFEST_FILE = 'trusted-documents.json';

/**
 * Writes the trusted documents manifest: every named client operation, printed with exactly the fragments it
 * spreads, keyed by the SHA-256 of that text. The gateway (TRUSTED_DOCUMENTS=enforce) then runs only these;
 * the same operations are the ones `check` validates against every schema change.
 */
function manifestCommand(args: readonly string[], io: CliIo, style: Style): number {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string' },
      operations: { type: 'string' },
      out: { type: 'string' },
      check: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const config = loadConfigFrom(values.config, io);
  if (!config.ok) return reportInputError(config.error, io);
  const dir = values.operations === undefined ? config.value.operationsDir : path.resolve(io.cwd, values.operations);
  const operationSet = loadOperations(
    dir,
    true,
    values.operations === undefined ? 'operations folder' : '--operations',
  );
  if (!operationSet.ok) return reportInputError(operationSet.error, io);
  const problems = operationSet.value.problems;
  if (problems.length > 0) {
    for (const problem of problems)
      io.stderr.write(`${style.red('invalid')} ${displayPath(problem.file, io.cwd)}: ${problem.message}\n`);
    return EXIT_CHECK_FAILED;
  }
  const contents = trustedDocumentsManifest(operationSet.value.operations);
  if (values.out === '-') {
    io.stdout.write(contents);
    return EXIT_OK;
  }
  const outFile =
    values.out === undefined
      ? path.join(path.dirname(config.value.file), MANIFEST_FILE)
      : path.resolve(io.cwd, values.out);
  const shown = displayPath(outFile, io.cwd);
  if (values.check) {
    const current = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : undefined;
    if (current === contents) {
      io.stdout.write(`${shown} is up to date (${operationSet.value.operations.length} operations)\n`);
      return EXIT_OK;
    }
    io.stderr.write(
      `${style.red('stale')} ${shown} does not match the client operations; run: federation-schema manifest\n`,
    );
    return EXIT_CHECK_FAILED;
  }
  try {
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, contents);
  } catch (error) {
    return reportInputError(
      `--out: cannot write ${outFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      io,
    );
  }
  io.stdout.write(`Wrote ${operationSet.value.operations.length} trusted documents to ${shown}\n`);
  return EXIT_OK;
}

export const API_SCHEMA_FILE = 'api.graphql';

/** `api`: the client-facing schema of the supergraph, for codegen; written next to the config, like the manifest. */
function apiCommand(args: readonly string[], io: CliIo, style: Style): number {
  const { values } = parseArgs({
    args: [...args],
    options: {
      config: { type: 'string' },
      supergraph: { type: 'string' },
      out: { type: 'string' },
      check: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const config = loadConfigFrom(values.config, io);
  if (!config.ok) return reportInputError(config.error, io);
  const supergraphFile =
    values.supergraph === undefined ? config.value.supergraphFile : path.resolve(io.cwd, values.supergraph);
  const sdl = readInputFile(supergraphFile, values.supergraph === undefined ? 'supergraph' : '--supergraph');
  if (!sdl.ok) return reportInputError(sdl.error, io);
  let contents: string;
  try {
    contents = `# The API schema the gateway serves (introspection), for client codegen. Generated from\n# ${displayPath(supergraphFile, path.dirname(config.value.file))} by: npm run -s schema -- api\n\n${printApiSchema(sdl.value)}`;
  } catch (error) {
    return reportInputError(`${displayPath(supergraphFile, io.cwd)} is not a valid supergraph: ${String(error)}`, io);
  }
  if (values.out === '-') {
    io.stdout.write(contents);
    return EXIT_OK;
  }
  const outFile =
    values.out === undefined
      ? path.join(path.dirname(config.value.file), API_SCHEMA_FILE)
      : path.resolve(io.cwd, values.out);
  const shown = displayPath(outFile, io.cwd);
  if (values.check) {
    const current = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : undefined;
    if (current === contents) {
      io.stdout.write(`${shown} is up to date\n`);
      return EXIT_OK;
    }
    io.stderr.write(`${style.red('stale')} ${shown} does not match the supergraph; run: federation-schema api\n`);
    return EXIT_CHECK_FAILED;
  }
  try {
    fs.mkdirSync(path.dirname(outFile), { recursive: true });
    fs.writeFileSync(outFile, contents);
  } catch (error) {
    return reportInputError(
      `--out: cannot write ${outFile} (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      io,
    );
  }
  io.stdout.write(`Wrote the API schema to ${shown}\n`);
  return EXIT_OK;
}

/** Apollo's persisted query manifest, version 1, operations in name order. */
export function trustedDocumentsManifest(operations: readonly ClientOperation[]): string {
  const entries = operations
    .map((operation) => {
      const body = print(operation.document);
      return {
        id: crypto.createHash('sha256').update(body).digest('hex'),
        name: operation.name,
        type: operation.kind,
        body,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  return `${JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: entries }, null, 2)}\n`;
}

function loadConfigFrom(flag: string | undefined, io: CliIo): Loaded<SchemaConfig> {
  const file = flag === undefined ? findDefaultConfig(io.cwd) : path.resolve(io.cwd, flag);
  if (file === undefined) {
    return {
      ok: false,
      error: `config: no ${DEFAULT_CONFIG_CANDIDATES.join(' or ')} here or at the repository root (pass --config FILE)`,
    };
  }
  const read = loadConfig(file);
  const config = read.ok ? { ...read, value: withFetchedSchemas(read.value, io.fetchedSchemas ?? new Map()) } : read;
  if (config.ok) {
    for (const warning of config.value.warnings) io.stderr.write(`warning: ${warning}\n`);
    const versionWarning = federationVersionWarning(config.value, installedCompositionVersion());
    if (versionWarning) io.stderr.write(`warning: ${versionWarning}\n`);
  }
  return config;
}

/** The default config when it exists; its absence is fine for commands that were given every file they need. */
function tryDefaultConfig(io: CliIo): Loaded<SchemaConfig | undefined> {
  if (findDefaultConfig(io.cwd) === undefined) return { ok: true, value: undefined };
  return loadConfigFrom(undefined, io);
}

function filesIn(dir: string): string[] {
  try {
    return listOperationFiles(dir);
  } catch {
    return [];
  }
}

function parseFormat<const T extends OutputFormat>(value: string | undefined, allowed: readonly T[]): T {
  const format = allowed.find((candidate) => candidate === value);
  if (format === undefined) throw new UsageError(`--format must be one of ${allowed.join(', ')} (got "${value}")`);
  return format;
}

function reportInputError(message: string, io: CliIo): number {
  io.stderr.write(`federation-schema: ${message}\n`);
  return EXIT_USAGE;
}

const isParseArgsError = (error: unknown): boolean =>
  error instanceof Error &&
  typeof (error as NodeJS.ErrnoException).code === 'string' &&
  String((error as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS');

/**
 * `run`, after reading the SDL of every subgraph the config names by URL (`schema.subgraph_url`,
 * `introspection_url`). A subgraph that cannot be read stops the command with exit 2, naming it and its URL.
 */
export async function runWithRemoteSchemas(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const readsConfig = ['compose', 'check', 'diff', 'plan', 'manifest', 'api'].includes(command ?? '');
  if (!readsConfig || rest.includes('--help') || rest.includes('-h')) return run(argv, io);
  let flag: string | undefined;
  try {
    const config = parseArgs({ args: rest, options: { config: { type: 'string' } }, strict: false }).values.config;
    flag = typeof config === 'string' ? config : undefined;
  } catch {
    return run(argv, io);
  }
  const file = flag === undefined ? findDefaultConfig(io.cwd) : path.resolve(io.cwd, flag);
  const config = file === undefined ? undefined : loadConfig(file);
  // Without a readable config there is nothing to read first; `run` reports the problem as it always has.
  if (!config?.ok || !config.value.subgraphs.some((subgraph) => subgraph.source.kind === 'remote'))
    return run(argv, io);
  const fetched = await fetchRemoteSchemas(config.value);
  if (!fetched.ok) return reportInputError(fetched.error, io);
  return run(argv, { ...io, fetchedSchemas: fetched.value });
}

if (require.main === module) {
  void runWithRemoteSchemas(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
  }).then((code) => {
    process.exitCode = code;
  });
}
