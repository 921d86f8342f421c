import type { CompositionIssue } from './compose';
import type {
  ChangeEntry,
  CheckedChangeEntry,
  CheckReport,
  CostResult,
  DiffReport,
  HopResult,
  PlanReport,
  SectionStatus,
} from './report';

export type OutputFormat = 'text' | 'json' | 'markdown' | 'junit' | 'sarif';

/** Terminal styling; every method is the identity when colour is off (not a TTY, or NO_COLOR is set). */
export interface Style {
  readonly red: (text: string) => string;
  readonly green: (text: string) => string;
  readonly yellow: (text: string) => string;
  readonly bold: (text: string) => string;
  readonly dim: (text: string) => string;
}

const ansi = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;
const plain = (text: string) => text;

export function createStyle(colour: boolean): Style {
  if (!colour) return { red: plain, green: plain, yellow: plain, bold: plain, dim: plain };
  return { red: ansi(31, 39), green: ansi(32, 39), yellow: ansi(33, 39), bold: ansi(1, 22), dim: ansi(2, 22) };
}

/** Long lists of safe changes drown the ones that matter; people get the first ones, JSON gets them all. */
const SAFE_CHANGES_SHOWN = 50;
const SUBGRAPHS_LISTED = 8;

export const renderJson = (report: CheckReport | DiffReport | PlanReport): string =>
  `${JSON.stringify(report, null, 2)}\n`;

// ---------------------------------------------------------------------------------------------------------
// Text, for people at a terminal or reading a CI log.

export function renderCheckText(report: CheckReport, style: Style): string {
  const { composition, changes, operations, hops, cost } = report.checks;
  const lines: string[] = [];
  const indent = '      ';
  lines.push(style.bold(`Schema check: ${report.config} (${subgraphList(report.subgraphs)})`), '');

  lines.push(`${badge(composition.status, style)}  ${style.bold('Composition')}`);
  for (const error of composition.errors) lines.push(...issueLines(error, 'error', style).map((line) => indent + line));
  if (composition.supergraph) {
    const { file, freshness } = composition.supergraph;
    const freshnessText = {
      fresh: `${file} is up to date`,
      stale: style.red(`${file} is stale: the subgraph SDLs compose to something else; run \`compose\` and commit it`),
      missing: style.red(`${file} does not exist; run \`compose\` and commit it`),
    }[freshness];
    lines.push(indent + freshnessText);
  }
  for (const hint of composition.hints)
    lines.push(...issueLines(hint, 'hint', style).map((line) => indent + style.dim(line)));
  lines.push('');

  const against = changes.base ? ` against ${changes.base}` : '';
  const { breaking, dangerous, safe } = changes.summary;
  const counts = changes.skippedReason ? '' : `: ${breaking} breaking, ${dangerous} dangerous, ${safe} safe`;
  lines.push(`${badge(changes.status, style)}  ${style.bold(`Schema changes${against}`)}${counts}`);
  if (changes.skippedReason) lines.push(`${indent}skipped: ${changes.skippedReason}`);
  lines.push(...changeLines(changes.changes, style).map((line) => indent + line));
  lines.push('');

  const failing = operations.operations.filter((operation) => operation.status === 'fail');
  const passing = `${operations.operations.length - failing.length} of ${operations.operations.length} pass`;
  lines.push(
    `${badge(operations.status, style)}  ${style.bold('Operations')}${operations.skippedReason ? '' : `: ${passing}`} ` +
      style.dim(`(${operations.directory})`),
  );
  if (operations.skippedReason) lines.push(`${indent}skipped: ${operations.skippedReason}`);
  for (const problem of operations.problems) {
    const where = problem.operation ? `${problem.operation} (${problem.file})` : problem.file;
    lines.push(`${indent}${style.red(problem.code)} ${where}: ${problem.message}`);
  }
  for (const operation of failing) {
    lines.push(`${indent}${style.red('FAIL')} ${operation.name} ${style.dim(`(${operation.file})`)}`);
    for (const error of operation.errors) lines.push(`${indent}     ${error.message}`);
    for (const coordinate of operation.breakingChanges)
      lines.push(`${indent}     uses ${coordinate}, which has a breaking change`);
  }
  lines.push('');

  const budgetText =
    hops.defaultBudget === null ? 'no default budget' : `budget ${hops.defaultBudget} sequential fetches`;
  lines.push(`${badge(hops.status, style)}  ${style.bold('Network hops')} (${budgetText})`);
  if (hops.skippedReason) lines.push(`${indent}skipped: ${hops.skippedReason}`);
  if (hops.operations.length > 0) {
    const rows = hops.operations.map((result) => [
      result.name,
      String(result.fetches),
      String(result.sequentialFetches),
      result.base ? String(result.base.sequentialFetches) : '-',
      result.budget === null ? '-' : String(result.budget),
      hopVerdict(result),
    ]);
    const table = alignColumns([['operation', 'fetches', 'sequential', 'base', 'budget', ''], ...rows]);
    table.forEach((row, index) => {
      const result = hops.operations[index - 1];
      const styled = index === 0 ? style.dim(row) : result?.status === 'fail' ? style.red(row) : row;
      lines.push(indent + styled);
    });
  }
  lines.push('');

  const costBudgetText = cost.defaultBudget === null ? 'no default budget' : `budget ${cost.defaultBudget}`;
  lines.push(
    `${badge(cost.status, style)}  ${style.bold('Operation cost')} (${costBudgetText}, default list size ${cost.defaultListSize})`,
  );
  if (cost.skippedReason) lines.push(`${indent}skipped: ${cost.skippedReason}`);
  if (cost.operations.length > 0) {
    const rows = cost.operations.map((result) => [
      result.name,
      String(result.cost),
      result.base === null ? '-' : String(result.base),
      result.budget === null ? '-' : String(result.budget),
      costVerdict(result),
    ]);
    const table = alignColumns([['operation', 'cost', 'base', 'budget', ''], ...rows]);
    table.forEach((row, index) => {
      const result = cost.operations[index - 1];
      const styled = index === 0 ? style.dim(row) : result?.status === 'fail' ? style.red(row) : row;
      lines.push(indent + styled);
    });
  }
  lines.push('');

  const failedChecks = Object.entries(report.checks)
    .filter(([, section]) => section.status === 'fail')
    .map(([name]) => name);
  lines.push(
    report.ok
      ? style.green(style.bold('Schema check passed'))
      : style.red(style.bold(`Schema check failed: ${failedChecks.join(', ')} (exit ${report.exitCode})`)),
  );
  return `${lines.join('\n')}\n`;
}

export function renderDiffText(report: DiffReport, style: Style): string {
  const lines: string[] = [];
  if (report.compositionErrors.length > 0) {
    lines.push(style.red(`Composition failed; there is no target schema to compare with ${report.base}`));
    for (const error of report.compositionErrors)
      lines.push(...issueLines(error, 'error', style).map((line) => `  ${line}`));
    return `${lines.join('\n')}\n`;
  }
  const { breaking, dangerous, safe } = report.summary;
  lines.push(
    style.bold(`${report.target} against ${report.base}: ${breaking} breaking, ${dangerous} dangerous, ${safe} safe`),
  );
  lines.push(...changeLines(report.changes, style).map((line) => `  ${line}`));
  return `${lines.join('\n')}\n`;
}

export function renderPlanText(report: PlanReport, style: Style): string {
  return [
    style.bold(`${report.operation} (${report.file}) over ${report.supergraph}`),
    `fetches: ${report.fetches}, sequential fetches: ${report.sequentialFetches}`,
    '',
    report.plan,
    '',
  ].join('\n');
}

export function renderCompositionIssues(
  issues: readonly CompositionIssue[],
  kind: 'error' | 'hint',
  style: Style,
): string {
  return issues.map((issue) => `${issueLines(issue, kind, style).join('\n')}\n`).join('');
}

function issueLines(issue: CompositionIssue, kind: 'error' | 'hint', style: Style): string[] {
  const label = kind === 'error' ? style.red(`error ${issue.code}`) : style.yellow(`hint ${issue.code}`);
  const where = [issue.coordinate, issue.subgraphs.length > 0 ? `[${issue.subgraphs.join(', ')}]` : undefined]
    .filter((part) => part !== undefined && part !== null)
    .join(' ');
  return [`${label}${where ? ` ${where}` : ''}`, `  ${issue.message}`];
}

function changeLines(changes: readonly (ChangeEntry | CheckedChangeEntry)[], style: Style): string[] {
  const lines: string[] = [];
  const colour = { breaking: style.red, dangerous: style.yellow, safe: style.dim };
  const safe = changes.filter((change) => change.severity === 'safe');
  const shown = [...changes.filter((change) => change.severity !== 'safe'), ...safe.slice(0, SAFE_CHANGES_SHOWN)];
  for (const change of shown) {
    lines.push(
      `${colour[change.severity](change.severity.padEnd(9))} ${change.coordinate}  ${style.dim(change.code)}  ${change.message}`,
    );
    if (!isCheckedChange(change)) continue;
    if (change.operations.length > 0) {
      const users = change.operations.map((operation) => `${operation.name} (${operation.file})`).join(', ');
      lines.push(`          used by ${users}`);
    } else if (change.severity === 'breaking') {
      lines.push(style.dim('          used by no client operation: reported, not failing'));
    }
  }
  if (safe.length > SAFE_CHANGES_SHOWN)
    lines.push(`... and ${safe.length - SAFE_CHANGES_SHOWN} more safe changes (--format json lists all)`);
  return lines;
}

/** Changes from `check` carry the operations that use them; changes from `diff` do not. */
const isCheckedChange = (change: ChangeEntry | CheckedChangeEntry): change is CheckedChangeEntry =>
  'operations' in change;

const operationsUsing = (change: ChangeEntry | CheckedChangeEntry): CheckedChangeEntry['operations'] =>
  isCheckedChange(change) ? change.operations : [];

/** `3 subgraphs: a, b, c`, shortened for federations too large to list on one line. */
function subgraphList(names: readonly string[], quote: (name: string) => string = (name) => name): string {
  const shown = names.slice(0, SUBGRAPHS_LISTED).map(quote).join(', ');
  const more = names.length > SUBGRAPHS_LISTED ? `, … (${names.length - SUBGRAPHS_LISTED} more)` : '';
  return `${names.length} subgraphs: ${shown}${more}`;
}

function badge(status: SectionStatus, style: Style): string {
  if (status === 'pass') return style.green('PASS');
  if (status === 'fail') return style.red('FAIL');
  return style.yellow('SKIP');
}

function hopVerdict(result: HopResult): string {
  if (result.error !== null) return `cannot plan: ${result.error}`;
  const reasons: string[] = [];
  if (result.regressed && result.base) reasons.push(`regressed from ${result.base.sequentialFetches}`);
  if (result.overBudget) reasons.push(`over budget ${result.budget}`);
  if (reasons.length > 0) return reasons.join(', ');
  if (result.base && result.sequentialFetches < result.base.sequentialFetches)
    return `improved from ${result.base.sequentialFetches}`;
  return '';
}

function costVerdict(result: CostResult): string {
  if (result.overBudget) return `over budget ${result.budget}`;
  if (result.base === null || result.base === result.cost) return '';
  return result.cost > result.base ? `up from ${result.base}` : `down from ${result.base}`;
}

function alignColumns(rows: readonly string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}

// ---------------------------------------------------------------------------------------------------------
// Markdown, to paste (or post from CI) as a pull-request comment.

const MARK: Record<SectionStatus, string> = { pass: '✅', fail: '❌', skipped: '⏭️' };

export function renderCheckMarkdown(report: CheckReport): string {
  const { composition, changes, operations, hops, cost } = report.checks;
  const out: string[] = [];
  out.push(`### ${report.ok ? '✅ Schema check passed' : '❌ Schema check failed'}`, '');
  out.push(`Config ${code(report.config)}: ${subgraphList(report.subgraphs, code)}.`, '');

  const failingOperations = operations.operations.filter((operation) => operation.status === 'fail');
  const freshness = composition.supergraph ? `supergraph ${composition.supergraph.freshness}` : '';
  out.push('| Check | Result |', '| --- | --- |');
  out.push(
    `| Composition | ${MARK[composition.status]} ${composition.errors.length} errors, ${composition.hints.length} hints${freshness ? `, ${freshness}` : ''} |`,
  );
  out.push(
    `| Schema changes | ${MARK[changes.status]} ${changes.summary.breaking} breaking, ${changes.summary.dangerous} dangerous, ${changes.summary.safe} safe |`,
  );
  out.push(
    `| Operations | ${MARK[operations.status]} ${operations.operations.length - failingOperations.length} of ${operations.operations.length} pass |`,
  );
  out.push(
    `| Network hops | ${MARK[hops.status]} ${hops.operations.filter((result) => result.status === 'fail').length} over base or budget |`,
  );
  out.push(
    `| Operation cost | ${MARK[cost.status]} ${cost.operations.filter((result) => result.status === 'fail').length} over budget |`,
  );
  out.push('');

  if (composition.errors.length > 0) {
    out.push('#### Composition errors', '', '| Code | Subgraphs | Coordinate | Message |', '| --- | --- | --- | --- |');
    for (const error of composition.errors) {
      out.push(
        `| ${code(error.code)} | ${error.subgraphs.join(', ')} | ${error.coordinate ? code(error.coordinate) : ''} | ${cell(error.message)} |`,
      );
    }
    out.push('');
  }
  if (composition.supergraph && composition.supergraph.freshness !== 'fresh') {
    out.push(
      `> **${code(composition.supergraph.file)} is ${composition.supergraph.freshness}.** Run \`compose\` and commit the result.`,
      '',
    );
  }

  if (changes.changes.length > 0) {
    out.push(`#### Schema changes${changes.base ? ` against ${code(changes.base)}` : ''}`, '');
    const important = changes.changes.filter((change) => change.severity !== 'safe');
    const safe = changes.changes.filter((change) => change.severity === 'safe');
    if (important.length > 0) out.push(...changeTable(important), '');
    if (safe.length > 0) {
      out.push(`<details><summary>${safe.length} safe changes</summary>`, '');
      out.push(...changeTable(safe.slice(0, SAFE_CHANGES_SHOWN)));
      if (safe.length > SAFE_CHANGES_SHOWN) out.push('', `… and ${safe.length - SAFE_CHANGES_SHOWN} more.`);
      out.push('', '</details>', '');
    }
  }

  if (failingOperations.length > 0 || operations.problems.length > 0) {
    out.push('#### Failing operations', '');
    for (const problem of operations.problems) out.push(`- ${code(problem.file)}: ${problem.code}: ${problem.message}`);
    for (const operation of failingOperations) {
      const reasons = [
        ...operation.errors.map((error) => error.message),
        ...operation.breakingChanges.map((coordinate) => `uses ${code(coordinate)}, which has a breaking change`),
      ];
      out.push(`- **${operation.name}** (${code(operation.file)})`, ...reasons.map((reason) => `  - ${cell(reason)}`));
    }
    out.push('');
  }

  if (hops.operations.length > 0) {
    const budget = hops.defaultBudget === null ? '' : ` (budget: ${hops.defaultBudget} sequential fetches)`;
    out.push(`#### Network hops${budget}`, '');
    out.push('| Operation | Fetches | Sequential | Base | Budget | |', '| --- | ---: | ---: | ---: | ---: | --- |');
    for (const result of hops.operations) {
      out.push(
        `| ${result.name} | ${result.fetches} | ${result.sequentialFetches} | ${result.base?.sequentialFetches ?? '–'} | ${result.budget ?? '–'} | ${result.status === 'fail' ? '❌ ' : ''}${cell(hopVerdict(result))} |`,
      );
    }
    out.push('');
  }

  if (cost.operations.length > 0) {
    const budget = cost.defaultBudget === null ? '' : ` (budget: ${cost.defaultBudget})`;
    out.push(`#### Operation cost${budget}`, '');
    out.push('| Operation | Cost | Base | Budget | |', '| --- | ---: | ---: | ---: | --- |');
    for (const result of cost.operations) {
      out.push(
        `| ${result.name} | ${result.cost} | ${result.base ?? '–'} | ${result.budget ?? '–'} | ${result.status === 'fail' ? '❌ ' : ''}${cell(costVerdict(result))} |`,
      );
    }
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

export function renderDiffMarkdown(report: DiffReport): string {
  const out: string[] = [];
  if (report.compositionErrors.length > 0) {
    out.push('### ❌ Composition failed', '');
    for (const error of report.compositionErrors)
      out.push(`- ${code(error.code)} ${error.coordinate ? code(error.coordinate) : ''} ${cell(error.message)}`);
    return `${out.join('\n')}\n`;
  }
  const { breaking, dangerous, safe } = report.summary;
  out.push(`### ${report.ok ? '✅' : '❌'} ${breaking} breaking, ${dangerous} dangerous, ${safe} safe changes`, '');
  out.push(`${code(report.target)} against ${code(report.base)}`, '');
  if (report.changes.length > 0) out.push(...changeTable(report.changes));
  return `${out.join('\n')}\n`;
}

function changeTable(changes: readonly (ChangeEntry | CheckedChangeEntry)[]): string[] {
  const rows = ['| Severity | Coordinate | Change | Used by |', '| --- | --- | --- | --- |'];
  for (const change of changes) {
    const users = operationsUsing(change)
      .map((operation) => operation.name)
      .join(', ');
    rows.push(`| ${change.severity} | ${code(change.coordinate)} | ${cell(change.message)} | ${users} |`);
  }
  return rows;
}

const code = (text: string): string => `\`${text.replace(/`/g, "'")}\``;
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
