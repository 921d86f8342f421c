/**
 * `check --format junit` and `--format sarif`: the check report in the two formats CI systems read natively
 * (JUnit XML for test tabs, SARIF 2.1.0 for code-scanning annotations). Both are built from one list of findings,
 * so they never disagree about what failed: a finding fails when it fails the check (exit code 1), nothing else.
 */
import fs from 'node:fs';
import path from 'node:path';
import { getLocation, parse, Source } from 'graphql';
import { indexCoordinates } from './compose';
import type { SchemaConfig } from './config';
import type { CheckReport, SectionStatus } from './report';

type CheckKind = keyof CheckReport['checks'];
/** `error` fails the check; `warning` and `note` are reported without failing it; `pass` is a passing test case. */
type FindingLevel = 'error' | 'warning' | 'note' | 'pass';

interface Finding {
  readonly check: CheckKind;
  /** A stable code: a composition error code, a schema change code, or one of this file's check codes. */
  readonly rule: string;
  readonly name: string;
  readonly level: FindingLevel;
  readonly message: string;
  /** A file the finding is in (an operation file), relative to the working directory. */
  readonly file?: string;
  /** A schema coordinate to look up in the subgraph SDL files. */
  readonly coordinate?: string;
  readonly subgraphs?: readonly string[];
}

const CHECK_KINDS: readonly CheckKind[] = ['composition', 'changes', 'operations', 'hops', 'cost'];

function findingsOf(report: CheckReport): Finding[] {
  const { composition, changes, operations, hops, cost } = report.checks;
  const findings: Finding[] = [];
  for (const error of composition.errors) {
    findings.push({
      check: 'composition',
      rule: error.code,
      name: `${error.code}${error.coordinate ? ` ${error.coordinate}` : ''}`,
      level: 'error',
      message: error.message,
      coordinate: error.coordinate ?? undefined,
      subgraphs: error.subgraphs,
    });
  }
  for (const hint of composition.hints) {
    findings.push({
      check: 'composition',
      rule: hint.code,
      name: `hint ${hint.code}${hint.coordinate ? ` ${hint.coordinate}` : ''}`,
      level: 'note',
      message: hint.message,
      coordinate: hint.coordinate ?? undefined,
      subgraphs: hint.subgraphs,
    });
  }
  if (composition.supergraph) {
    const { file, freshness } = composition.supergraph;
    findings.push({
      check: 'composition',
      rule: freshness === 'fresh' ? 'SUPERGRAPH_FRESH' : `SUPERGRAPH_${freshness.toUpperCase()}`,
      name: `supergraph ${file}`,
      level: freshness === 'fresh' ? 'pass' : 'error',
      message:
        freshness === 'fresh'
          ? `${file} is up to date`
          : `${file} is ${freshness}: the subgraph SDLs compose to something else; run compose and commit it`,
      file,
    });
  }
  for (const change of changes.changes) {
    const used = change.operations.length > 0;
    const level: FindingLevel =
      change.severity === 'breaking'
        ? used
          ? 'error'
          : 'warning'
        : change.severity === 'dangerous'
          ? 'warning'
          : 'note';
    const users = used ? ` (used by ${change.operations.map((operation) => operation.name).join(', ')})` : '';
    findings.push({
      check: 'changes',
      rule: change.code,
      name: `${change.severity} ${change.code} ${change.coordinate}`,
      level,
      message: `${change.message}${users}`,
      coordinate: change.coordinate,
    });
  }
  for (const problem of operations.problems) {
    findings.push({
      check: 'operations',
      rule: problem.code,
      name: `${problem.operation ?? problem.file} ${problem.code}`,
      level: 'error',
      message: problem.message,
      file: problem.file,
    });
  }
  for (const operation of operations.operations) {
    const reasons = [
      ...operation.errors.map((error) => error.message),
      ...(operation.breakingChanges.length > 0
        ? [`uses what a breaking change touched: ${operation.breakingChanges.join(', ')}`]
        : []),
    ];
    findings.push({
      check: 'operations',
      rule: operation.errors.length > 0 ? 'GRAPHQL_VALIDATION_FAILED' : 'BREAKING_CHANGE_USED',
      name: operation.name,
      level: operation.status === 'fail' ? 'error' : 'pass',
      message: operation.status === 'fail' ? `${operation.name}: ${reasons.join('; ')}` : `${operation.name} is valid`,
      file: operation.file,
    });
  }
  for (const operation of hops.operations) {
    const rule = operation.error
      ? 'OPERATION_NOT_PLANNED'
      : operation.overBudget
        ? 'SEQUENTIAL_FETCHES_OVER_BUDGET'
        : 'SEQUENTIAL_FETCHES_REGRESSED';
    const base = operation.base ? `, ${operation.base.sequentialFetches} on the base` : '';
    const budget = operation.budget === null ? '' : `, budget ${operation.budget}`;
    findings.push({
      check: 'hops',
      rule,
      name: operation.name,
      level: operation.status === 'fail' ? 'error' : 'pass',
      message:
        operation.error ??
        `${operation.name} needs ${operation.sequentialFetches} sequential fetches (${operation.fetches} in all${base}${budget})`,
      file: operation.file,
    });
  }
  for (const operation of cost.operations) {
    const budget = operation.budget === null ? '' : ` (budget ${operation.budget})`;
    findings.push({
      check: 'cost',
      rule: 'COST_OVER_BUDGET',
      name: operation.name,
      level: operation.status === 'fail' ? 'error' : 'pass',
      message: `${operation.name} costs ${operation.cost}${budget}`,
      file: operation.file,
    });
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------
// JUnit XML: a test suite per check, a test case per finding, a <failure> for each one that fails the check.

export function renderCheckJunit(report: CheckReport): string {
  const findings = findingsOf(report);
  const suites = CHECK_KINDS.map((check) => {
    const section: { status: SectionStatus; skippedReason?: string | null } = report.checks[check];
    const cases = findings.filter((finding) => finding.check === check);
    const skipped = section.status === 'skipped' && cases.length === 0;
    const caseXml = skipped
      ? [
          `    <testcase classname="${check}" name="${check}"><skipped message="${xml(section.skippedReason ?? '')}"/></testcase>`,
        ]
      : cases.length === 0
        ? [`    <testcase classname="${check}" name="${check}"/>`]
        : cases.map((finding) => {
            const open = `    <testcase classname="${check}" name="${xml(finding.name)}"`;
            if (finding.level === 'error') {
              return `${open}><failure type="${xml(finding.rule)}" message="${xml(finding.message)}">${xml(finding.message)}</failure></testcase>`;
            }
            if (finding.level === 'pass') return `${open}/>`;
            return `${open}><system-out>${xml(`${finding.level}: ${finding.message}`)}</system-out></testcase>`;
          });
    const failures = cases.filter((finding) => finding.level === 'error').length;
    const tests = Math.max(caseXml.length, 1);
    return [
      `  <testsuite name="${check}" tests="${tests}" failures="${failures}" errors="0" skipped="${skipped ? 1 : 0}">`,
      ...caseXml,
      '  </testsuite>',
    ].join('\n');
  });
  const count = (pattern: RegExp) => suites.reduce((sum, suite) => sum + Number(pattern.exec(suite)?.[1] ?? 0), 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="federation-schema check ${xml(report.config)}" tests="${count(/tests="(\d+)"/)}" failures="${count(/failures="(\d+)"/)}" errors="0" skipped="${count(/skipped="(\d+)"/)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}

const xml = (text: string): string =>
  text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');

// ---------------------------------------------------------------------------------------------------------
// SARIF 2.1.0: a rule per finding kind, a result per finding that is not a pass, located in the subgraph SDL
// files (a coordinate the new SDLs define) or in the operation file where that is known.

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

export function renderCheckSarif(report: CheckReport, config: SchemaConfig, cwd: string): string {
  const locate = coordinateLocator(config, cwd);
  const findings = findingsOf(report).filter((finding) => finding.level !== 'pass');
  const rules: { id: string; name: string; shortDescription: { text: string }; properties: { check: string } }[] = [];
  const ruleIndex = new Map<string, number>();
  const results = findings.map((finding) => {
    const id = `${finding.check}/${finding.rule}`;
    if (!ruleIndex.has(id)) {
      ruleIndex.set(id, rules.length);
      rules.push({
        id,
        name: finding.rule,
        shortDescription: { text: `${finding.check} check: ${finding.rule}` },
        properties: { check: finding.check },
      });
    }
    const located = finding.coordinate ? locate(finding.coordinate, finding.subgraphs ?? []) : undefined;
    const file = located?.file ?? finding.file;
    return {
      ruleId: id,
      ruleIndex: ruleIndex.get(id)!,
      level: finding.level,
      message: { text: finding.message },
      locations: file
        ? [
            {
              physicalLocation: {
                artifactLocation: { uri: sarifUri(file) },
                ...(located ? { region: { startLine: located.line, startColumn: located.column } } : {}),
              },
              ...(finding.coordinate ? { logicalLocations: [{ fullyQualifiedName: finding.coordinate }] } : {}),
            },
          ]
        : [],
    };
  });
  const sarif = {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'federation-schema', rules } },
        invocations: [{ executionSuccessful: true, exitCode: report.exitCode }],
        results,
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

/** Relative paths as relative URI references (what code-scanning tools resolve against the checkout). */
const sarifUri = (file: string): string =>
  path.isAbsolute(file) ? `file://${file.split(path.sep).join('/')}` : encodeURI(file.split(path.sep).join('/'));

interface SdlLocation {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** Finds where a coordinate is defined in the subgraph SDL files, preferring the subgraphs a finding names. */
function coordinateLocator(
  config: SchemaConfig,
  cwd: string,
): (coordinate: string, subgraphs: readonly string[]) => SdlLocation | undefined {
  let index: { subgraph: string; locations: Map<string, SdlLocation> }[] | undefined;
  const build = () =>
    config.subgraphs.flatMap((subgraph) => {
      if (subgraph.source.kind !== 'file') return [];
      const file = subgraph.source.file;
      try {
        const source = new Source(fs.readFileSync(file, 'utf8'), file);
        const locations = new Map<string, SdlLocation>();
        for (const range of indexCoordinates(parse(source))) {
          if (locations.has(range.coordinate)) continue;
          const { line, column } = getLocation(source, range.start);
          const shown = path.relative(cwd, file);
          locations.set(range.coordinate, { file: shown.startsWith('..') ? file : shown, line, column });
        }
        return [{ subgraph: subgraph.name, locations }];
      } catch {
        return [];
      }
    });
  return (coordinate, subgraphs) => {
    index ??= build();
    const ordered = [
      ...index.filter((entry) => subgraphs.includes(entry.subgraph)),
      ...index.filter((entry) => !subgraphs.includes(entry.subgraph)),
    ];
    for (const entry of ordered) {
      const found = entry.locations.get(coordinate);
      if (found) return found;
    }
    return undefined;
  };
}
