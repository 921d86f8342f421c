import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, runWithRemoteSchemas, type CliIo } from '../../tools/schema/cli';
import { startForeignSubgraph, writeForeignRepository, type ForeignSubgraph } from '../helpers/foreign-subgraphs';

interface Captured {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function io(cwd: string): { io: CliIo; output: () => Omit<Captured, 'exitCode'> } {
  let stdout = '';
  let stderr = '';
  return {
    io: {
      stdout: { write: (text: string) => (stdout += text), isTTY: false },
      stderr: { write: (text: string) => (stderr += text) },
      env: {},
      cwd,
    },
    output: () => ({ stdout, stderr }),
  };
}

async function cli(argv: string[], cwd: string): Promise<Captured> {
  const captured = io(cwd);
  const exitCode = await runWithRemoteSchemas(argv, captured.io);
  return { exitCode, ...captured.output() };
}

const scratch: string[] = [];
function foreignRepository(options: Parameters<typeof writeForeignRepository>[1] = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'foreign-repo-'));
  scratch.push(dir);
  writeForeignRepository(dir, options);
  return dir;
}
afterAll(() => {
  for (const dir of scratch) fs.rmSync(dir, { recursive: true, force: true });
});

/** The repository after a change: Review.stars renamed to rating, which the ProductReviews operation reads. */
async function renamedStars(): Promise<string> {
  const dir = foreignRepository();
  expect((await cli(['compose'], dir)).exitCode).toBe(0);
  const reviews = path.join(dir, 'reviews.graphql');
  fs.writeFileSync(reviews, fs.readFileSync(reviews, 'utf8').replace('stars: Int!', 'rating: Int!'));
  return dir;
}

describe('federation-schema in another repository', () => {
  it('finds supergraph.yaml at the repository root before schema/supergraph.yaml', async () => {
    const dir = foreignRepository();
    fs.mkdirSync(path.join(dir, 'schema'));
    fs.writeFileSync(path.join(dir, 'schema', 'supergraph.yaml'), 'subgraphs: {}\n');
    const composed = await cli(['compose'], dir);
    expect(composed).toMatchObject({ exitCode: 0 });
    expect(composed.stdout).toContain('Composed 2 subgraphs into supergraph.graphql');

    fs.renameSync(path.join(dir, 'supergraph.yaml'), path.join(dir, 'elsewhere.yaml'));
    const fallback = await cli(['check'], dir);
    expect(fallback.exitCode).toBe(2);
    expect(fallback.stderr).toContain(`config ${path.join(dir, 'schema', 'supergraph.yaml')}: subgraphs must map`);

    fs.rmSync(path.join(dir, 'schema'), { recursive: true });
    const none = await cli(['check'], dir);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toContain('no supergraph.yaml or schema/supergraph.yaml here or at the repository root');
  });

  describe('a subgraph read from a running service (schema.subgraph_url)', () => {
    let reviews: ForeignSubgraph;
    beforeAll(async () => {
      reviews = await startForeignSubgraph('reviews');
    });
    afterAll(() => reviews.close());

    it('reads its SDL with { _service { sdl } } and checks the composition', async () => {
      const dir = foreignRepository({ reviewsUrl: reviews.url, reviewsSdlFromUrl: true });
      const before = reviews.requests();
      expect((await cli(['compose'], dir)).exitCode).toBe(0);
      const checked = await cli(['check', '--format', 'json'], dir);
      expect(checked.stderr).toBe('');
      expect(checked.exitCode).toBe(0);
      const report = JSON.parse(checked.stdout) as {
        subgraphs: string[];
        checks: { operations: { operations: { name: string; status: string }[] } };
      };
      expect(report.subgraphs).toEqual(['products', 'reviews']);
      expect(report.checks.operations.operations).toEqual([
        expect.objectContaining({ name: 'ProductReviews', status: 'pass' }),
      ]);
      expect(reviews.requests()).toBe(before + 2);
      expect(fs.readFileSync(path.join(dir, 'supergraph.graphql'), 'utf8')).toContain('type Review');
    });

    it('names the subgraph and the URL when nothing answers there', async () => {
      const closed = await startForeignSubgraph('reviews');
      await closed.close();
      const dir = foreignRepository({ reviewsUrl: closed.url, reviewsSdlFromUrl: true });
      const checked = await cli(['check'], dir);
      expect(checked.exitCode).toBe(2);
      expect(checked.stderr).toContain(
        `subgraph reviews: cannot read its SDL from ${closed.url} (subgraphs.reviews.schema.subgraph_url): `,
      );
      expect(checked.stdout).toBe('');
    });

    it('without the read-ahead, `run` says the remote schema was not read instead of guessing', () => {
      const dir = foreignRepository({ reviewsUrl: reviews.url, reviewsSdlFromUrl: true });
      const captured = io(dir);
      expect(run(['check'], captured.io)).toBe(2);
      expect(captured.output().stderr).toContain(`subgraphs.reviews.schema.subgraph_url ${reviews.url} was not read`);
    });
  });
});

describe('check --format junit', () => {
  it('has a test suite per check and a failure for each finding that fails the check', async () => {
    const dir = await renamedStars();
    const { exitCode, stdout } = await cli(['check', '--format', 'junit'], dir);
    expect(exitCode).toBe(1);
    const elements = parseXmlElements(stdout);
    const suites = elements.filter((element) => element.name === 'testsuite');
    expect(suites.map((suite) => suite.attributes.name)).toEqual([
      'composition',
      'changes',
      'operations',
      'hops',
      'cost',
    ]);
    const failures = elements.filter((element) => element.name === 'failure');
    expect(failures.map((failure) => failure.attributes.type).sort()).toEqual([
      'FIELD_REMOVED',
      'GRAPHQL_VALIDATION_FAILED',
      'SUPERGRAPH_STALE',
    ]);
    const root = elements.find((element) => element.name === 'testsuites')!;
    expect(Number(root.attributes.failures)).toBe(3);
    expect(Number(root.attributes.tests)).toBe(elements.filter((element) => element.name === 'testcase').length);
    for (const suite of suites) {
      expect(Number(suite.attributes.tests)).toBeGreaterThan(0);
    }
  });

  it('passes with no failures when the check passes', async () => {
    const dir = foreignRepository();
    expect((await cli(['compose'], dir)).exitCode).toBe(0);
    const { exitCode, stdout } = await cli(['check', '--format', 'junit'], dir);
    expect(exitCode).toBe(0);
    expect(parseXmlElements(stdout).filter((element) => element.name === 'failure')).toEqual([]);
  });
});

describe('check --format sarif', () => {
  it('is SARIF 2.1.0 with a rule per finding kind and results located in the SDL files', async () => {
    const dir = await renamedStars();
    const { exitCode, stdout } = await cli(['check', '--format', 'sarif'], dir);
    expect(exitCode).toBe(1);
    const sarif = JSON.parse(stdout) as Sarif;
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.$schema).toMatch(/sarif-2\.1\.0/);
    expect(sarif.runs).toHaveLength(1);
    const [runOf] = sarif.runs;
    expect(runOf!.tool.driver.name).toBe('federation-schema');
    const ruleIds = runOf!.tool.driver.rules.map((rule) => rule.id);
    expect(new Set(ruleIds).size).toBe(ruleIds.length);
    for (const result of runOf!.results) {
      expect(ruleIds[result.ruleIndex]).toBe(result.ruleId);
      expect(['error', 'warning', 'note']).toContain(result.level);
      expect(typeof result.message.text).toBe('string');
      for (const location of result.locations) {
        expect(path.isAbsolute(location.physicalLocation.artifactLocation.uri)).toBe(false);
        if (location.physicalLocation.region) expect(location.physicalLocation.region.startLine).toBeGreaterThan(0);
      }
    }
    const added = runOf!.results.find((result) => result.ruleId === 'changes/FIELD_ADDED')!;
    expect(added.level).toBe('note');
    const sdlLine =
      fs.readFileSync(path.join(dir, 'reviews.graphql'), 'utf8').split('\n').indexOf('  rating: Int!') + 1;
    expect(added.locations[0]!.physicalLocation).toEqual({
      artifactLocation: { uri: 'reviews.graphql' },
      region: { startLine: sdlLine, startColumn: 3 },
    });
    const removed = runOf!.results.find((result) => result.ruleId === 'changes/FIELD_REMOVED')!;
    expect(removed.level).toBe('error');
    expect(removed.message.text).toContain('used by ProductReviews');
    const invalid = runOf!.results.find((result) => result.ruleId === 'operations/GRAPHQL_VALIDATION_FAILED')!;
    expect(invalid.locations[0]!.physicalLocation.artifactLocation.uri).toBe('clients/shop.graphql');
  });

  it('keeps text the default: the same output as before the new formats', async () => {
    const dir = await renamedStars();
    const { exitCode, stdout } = await cli(['check'], dir);
    expect(exitCode).toBe(1);
    expect(stdout).toMatch(/^Schema check: supergraph.yaml \(2 subgraphs: products, reviews\)\n/);
    expect(stdout).not.toContain('<?xml');
  });
});

interface Sarif {
  $schema: string;
  version: string;
  runs: {
    tool: { driver: { name: string; rules: { id: string }[] } };
    results: {
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: {
        physicalLocation: { artifactLocation: { uri: string }; region?: { startLine: number; startColumn: number } };
      }[];
    }[];
  }[];
}

/**
 * A minimal XML reader for the report's own shape: checks that every element is closed in order and returns the
 * elements with their attributes (entities decoded).
 */
function parseXmlElements(text: string): { name: string; attributes: Record<string, string> }[] {
  expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
  const elements: { name: string; attributes: Record<string, string> }[] = [];
  const open: string[] = [];
  const tag = /<(\/?)([A-Za-z-]+)((?:\s+[A-Za-z-]+="[^"<]*")*)\s*(\/?)>/g;
  const body = text.replace(/^<\?xml[^>]*\?>\n/, '');
  let last = 0;
  for (let match = tag.exec(body); match; match = tag.exec(body)) {
    expect(body.slice(last, match.index)).not.toMatch(/[<>]/);
    last = tag.lastIndex;
    const [, closing, name, attributeText, selfClosing] = match;
    if (closing) {
      expect(open.pop()).toBe(name);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, key, value] of attributeText!.matchAll(/([A-Za-z-]+)="([^"]*)"/g)) {
      attributes[key!] = value!
        .replace(/&quot;/g, '"')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
    }
    elements.push({ name: name!, attributes });
    if (!selfClosing) open.push(name!);
  }
  expect(open).toEqual([]);
  expect(body.slice(last).trim()).toBe('');
  return elements;
}
