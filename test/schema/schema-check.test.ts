import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, type CliIo } from '../../tools/schema/cli';
import type { CheckReport } from '../../tools/schema/report';

/**
 * Each folder under fixtures/ is one scenario: the subgraph SDLs and supergraph.yaml as they are after a
 * change, an optional base/ folder holding the SDLs as they were before it (only the files that differ), an
 * optional operations/ folder, and expected.json:
 *
 *   description  what the scenario specifies
 *   args         CLI arguments (default: check --config supergraph.yaml [--base base.graphql] --format json)
 *   committed    which supergraph is committed next to the config: "target" (default, fresh), "base" (stale)
 *                or "none"
 *   exitCode     the expected exit code
 *   report       a partial JSON report: objects and arrays must be contained in the real one
 *   failingOperations  the exact names of the operations that fail, when given
 *   stderr       a substring stderr must contain
 */
interface Expectation {
  description: string;
  args?: string[];
  committed?: 'target' | 'base' | 'none';
  exitCode: number;
  report?: unknown;
  failingOperations?: string[];
  stderr?: string;
}

const projectRoot = path.resolve(__dirname, '..', '..');
const fixturesDir = path.join(__dirname, 'fixtures');
const cases = fs
  .readdirSync(fixturesDir)
  .filter((name) => fs.existsSync(path.join(fixturesDir, name, 'expected.json')))
  .sort();

interface Captured {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function runCli(
  argv: string[],
  cwd: string,
  options: { isTTY?: boolean; env?: Record<string, string> } = {},
): Captured {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (text: string) => (stdout += text), isTTY: options.isTTY ?? false },
    stderr: { write: (text: string) => (stderr += text) },
    env: options.env ?? {},
    cwd,
  };
  const exitCode = run(argv, io);
  return { exitCode, stdout, stderr };
}

/** Turns a partial expectation into matchers: every key and array item given must be present. */
function contains(expected: unknown): unknown {
  if (Array.isArray(expected)) return expect.arrayContaining(expected.map(contains));
  if (expected !== null && typeof expected === 'object') {
    return expect.objectContaining(
      Object.fromEntries(Object.entries(expected).map(([key, value]) => [key, contains(value)])),
    );
  }
  return expected;
}

/** Copies a fixture to a scratch folder and composes its base and committed supergraphs there. */
function prepare(caseName: string, expectation: Expectation): string {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `schema-check-${caseName}-`));
  const source = path.join(fixturesDir, caseName);
  fs.cpSync(source, workDir, { recursive: true });
  const overlay = path.join(source, 'base');
  const hasBase = fs.existsSync(overlay);
  if (hasBase) {
    const baseDir = path.join(workDir, 'base-config');
    fs.mkdirSync(baseDir);
    for (const entry of fs.readdirSync(source)) {
      if (entry.endsWith('.graphql') || entry === 'supergraph.yaml')
        fs.copyFileSync(path.join(source, entry), path.join(baseDir, entry));
    }
    fs.cpSync(overlay, baseDir, { recursive: true });
    const composed = runCli(['compose', '--config', 'base-config/supergraph.yaml', '--out', 'base.graphql'], workDir);
    if (composed.exitCode !== 0) throw new Error(`base of ${caseName} does not compose: ${composed.stderr}`);
  }
  const committed = expectation.committed ?? 'target';
  if (committed === 'target') runCli(['compose', '--config', 'supergraph.yaml'], workDir);
  if (committed === 'base')
    fs.copyFileSync(path.join(workDir, 'base.graphql'), path.join(workDir, 'supergraph.graphql'));
  return workDir;
}

function defaultArgs(workDir: string): string[] {
  const base = fs.existsSync(path.join(workDir, 'base.graphql')) ? ['--base', 'base.graphql'] : [];
  return ['check', '--config', 'supergraph.yaml', ...base, '--format', 'json'];
}

describe('schema check scenarios (test/schema/fixtures)', () => {
  const scratch: string[] = [];
  afterAll(() => scratch.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

  it('has at least 20 scenarios', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  it.each(cases)('%s', (caseName) => {
    const expectation = JSON.parse(
      fs.readFileSync(path.join(fixturesDir, caseName, 'expected.json'), 'utf8'),
    ) as Expectation;
    const workDir = prepare(caseName, expectation);
    scratch.push(workDir);

    const result = runCli(expectation.args ?? defaultArgs(workDir), workDir);

    const context = `${expectation.description}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    expect({ exitCode: result.exitCode, context }).toEqual({ exitCode: expectation.exitCode, context });
    if (expectation.stderr !== undefined) expect(result.stderr).toContain(expectation.stderr);
    if (expectation.exitCode === 2) {
      expect(result.stdout).toBe('');
      return;
    }
    const report = JSON.parse(result.stdout) as CheckReport;
    expect(report).toMatchObject({ version: 1, exitCode: expectation.exitCode, ok: expectation.exitCode === 0 });
    if (expectation.report !== undefined) expect(report).toEqual(contains(expectation.report));
    if (expectation.failingOperations !== undefined) {
      const failing = report.checks.operations.operations.filter((operation) => operation.status === 'fail');
      expect(failing.map((operation) => operation.name).sort()).toEqual([...expectation.failingOperations].sort());
    }
  });
});

describe('output formats', () => {
  let workDir: string;
  beforeAll(() => {
    const expectation = { description: '', exitCode: 1 };
    workDir = prepare('breaking-removed-field-used', expectation);
  });
  afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

  const args = ['check', '--config', 'supergraph.yaml', '--base', 'base.graphql'];

  it('prints text grouped by check, without colour when stdout is not a TTY', () => {
    const { exitCode, stdout } = runCli(args, workDir);
    expect(exitCode).toBe(1);
    expect(stdout).not.toContain('\u001b[');
    expect(stdout).toMatch(/FAIL {2}Schema changes against base\.graphql: 1 breaking/);
    expect(stdout).toContain('used by StockLevels (operations/stock.graphql)');
    expect(stdout).toContain('Schema check failed: changes, operations (exit 1)');
  });

  it('colours text on a TTY, and never when NO_COLOR is set', () => {
    expect(runCli(args, workDir, { isTTY: true }).stdout).toContain('\u001b[31mFAIL');
    expect(runCli(args, workDir, { isTTY: true, env: { NO_COLOR: '1' } }).stdout).not.toContain('\u001b[');
  });

  it('prints markdown ready for a pull-request comment', () => {
    const { stdout } = runCli([...args, '--format', 'markdown'], workDir);
    expect(stdout).toContain('### ❌ Schema check failed');
    expect(stdout).toContain('| breaking | `Product.stock` | Field Product.stock was removed | StockLevels |');
    expect(stdout).toContain(
      '- **StockLevels** (`operations/stock.graphql`)\n  - Cannot query field "stock" on type "Product".',
    );
  });

  it("reports every valid operation's cost in text and markdown", () => {
    const text = runCli(args, workDir).stdout;
    expect(text).toContain('PASS  Operation cost (no default budget, default list size 10)');
    expect(text).toMatch(/ProductPage +1 +1 +-/);
    const markdown = runCli([...args, '--format', 'markdown'], workDir).stdout;
    expect(markdown).toContain('| Operation cost | ✅ 0 over budget |');
    expect(markdown).toContain('| ProductPage | 1 | 1 | – |  |');
  });

  it('plans one operation with its hop counts', () => {
    const { exitCode, stdout } = runCli(
      ['plan', 'operations/shop.graphql', '--name', 'ProductPage', '--config', 'supergraph.yaml'],
      workDir,
    );
    expect(exitCode).toBe(0);
    expect(stdout).toContain('fetches: 2, sequential fetches: 2');
    expect(stdout).toContain('Fetch(service: "orders")');
  });

  it('refuses to guess which operation to plan in a file with several', () => {
    const { exitCode, stderr } = runCli(['plan', 'operations/shop.graphql', '--config', 'supergraph.yaml'], workDir);
    expect(exitCode).toBe(2);
    expect(stderr).toContain('pick one with --name (found: ProductPage, OrderDetail, CancelledOrders)');
  });
});

describe("the repository's own schema/", () => {
  it('passes check: the committed supergraph is fresh and every operation validates, plans and costs within budget', () => {
    const { exitCode, stdout, stderr } = runCli(['check', '--format', 'json'], projectRoot);
    expect(stderr).toBe('');
    const report = JSON.parse(stdout) as CheckReport;
    expect(report.checks.composition.supergraph).toEqual({ file: 'schema/supergraph.graphql', freshness: 'fresh' });
    expect(report.checks.operations.operations.length).toBeGreaterThanOrEqual(12);
    expect(report.checks.operations.operations.filter((operation) => operation.status === 'fail')).toEqual([]);
    expect(report.checks.hops.operations.filter((result) => result.status === 'fail')).toEqual([]);
    expect(report.checks.cost.defaultBudget).toEqual(expect.any(Number));
    expect(report.checks.cost.operations).toHaveLength(report.checks.operations.operations.length);
    expect(report.checks.cost.operations.filter((result) => result.status === 'fail')).toEqual([]);
    expect(exitCode).toBe(0);
  });
});

describe('the real CLI process', () => {
  const cli = ['-r', '@swc-node/register', path.join('tools', 'schema', 'cli.ts')];
  const spawnCli = (args: string[]) =>
    spawnSync(process.execPath, [...cli, ...args], {
      cwd: projectRoot,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });

  it('exits 0 on the repository schema', () => {
    const result = spawnCli(['check']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Schema check passed');
  });

  it('exits 1 when a change breaks an operation', () => {
    const workDir = prepare('breaking-removed-field-used', { description: '', exitCode: 1 });
    try {
      const result = spawnCli([
        'check',
        '--config',
        path.join(workDir, 'supergraph.yaml'),
        '--base',
        path.join(workDir, 'base.graphql'),
      ]);
      expect(result.status).toBe(1);
      expect(result.stdout).toContain('Product.stock');
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('exits 2 on bad usage, naming the flag', () => {
    const result = spawnCli(['check', '--format', 'yaml']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--format must be one of text, json, markdown');
  });
});
