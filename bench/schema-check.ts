/**
 * How `federation-schema check` scales: generates a federation of SUBGRAPHS subgraphs with TYPES_PER_SUBGRAPH
 * types each (50 x 40 = 2,000 types by default) and OPERATIONS client operations that hop across subgraphs,
 * into a temporary folder, then times `check` there against a base supergraph that differs by a few fields.
 *
 *   node -r @swc-node/register bench/schema-check.ts [--subgraphs 50] [--operations 100] [--keep] [--json]
 *
 * The timed `check` runs in a child process of its own, so the peak RSS it reports is the check's alone, not
 * the generator's or the base composition's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { run, type CliIo } from '../tools/schema/cli';

const ENTITIES = 8;
const DETAILS = 8;
const OBJECTS = 16;
const ENUMS = 4;
const INPUTS = 4;
const TYPES_PER_SUBGRAPH = ENTITIES + DETAILS + OBJECTS + ENUMS + INPUTS;

interface ChildResult {
  exitCode: number;
  wallMs: number;
  maxRssMiB: number;
  stderr: string;
}

const silentIo = (cwd: string, stderr: string[] = []): CliIo => ({
  stdout: { write: () => true },
  stderr: { write: (text: string) => stderr.push(text) },
  env: {},
  cwd,
});

/** One subgraph's SDL. `variant: 'base'` is the schema before the change the benchmark checks. */
function subgraphSdl(index: number, subgraphs: number, variant: 'base' | 'target'): string {
  const next = (index + 1) % subgraphs;
  const s = `S${index}`;
  const lines: string[] = [
    'extend schema',
    '  @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@shareable"])',
    '',
  ];
  for (let e = 0; e < ENUMS; e += 1) lines.push(`enum ${s}Status${e} {`, '  ACTIVE', '  PAUSED', '  RETIRED', '}', '');
  for (let f = 0; f < INPUTS; f += 1) {
    lines.push(
      `input ${s}Filter${f} {`,
      '  nameContains: String',
      `  status: ${s}Status${f % ENUMS}`,
      '  limit: Int = 20',
      '}',
      '',
    );
  }
  for (let o = 0; o < OBJECTS; o += 1) {
    lines.push(`type ${s}Object${o} {`, '  label: String!', '  count: Int!', `  status: ${s}Status${o % ENUMS}!`);
    // The change under test: a field removed (used by no operation) and one added.
    if (o === 0 && variant === 'base') lines.push('  legacyCode: String');
    if (o === 0 && variant === 'target') lines.push('  code: String');
    if (o + 1 < OBJECTS) lines.push(`  child: ${s}Object${o + 1}`);
    lines.push('}', '');
  }
  for (let d = 0; d < DETAILS; d += 1) {
    lines.push(
      `type ${s}Detail${d} {`,
      '  summary: String!',
      '  score: Float!',
      `  objects: [${s}Object${d}!]!`,
      '}',
      '',
    );
  }
  for (let k = 0; k < ENTITIES; k += 1) {
    lines.push(
      `type ${s}Entity${k} @key(fields: "id") {`,
      '  id: ID!',
      '  name: String!',
      `  details: ${s}Detail${k}!`,
      `  next: S${next}Entity${k}`,
      '}',
      '',
    );
    if (next !== index)
      lines.push(`type S${next}Entity${k} @key(fields: "id", resolvable: false) {`, '  id: ID!', '}', '');
  }
  lines.push('type Query {');
  for (let k = 0; k < ENTITIES; k += 1) lines.push(`  s${index}Entity${k}(id: ID!): ${s}Entity${k}`);
  lines.push(`  s${index}Search(filter: ${s}Filter0): [${s}Entity0!]!`, '}', '');
  return lines.join('\n');
}

/** Operation n starts in subgraph n % subgraphs and follows `next` through 1..4 further subgraphs. */
function operationSource(n: number, subgraphs: number): string {
  const start = n % subgraphs;
  const k = n % ENTITIES;
  const depth = 1 + (n % 4);
  let selection = 'id name';
  for (let hop = 0; hop < depth; hop += 1) selection = `id name next { ${selection} }`;
  return [
    `query Bench${n}($id: ID!) {`,
    `  s${start}Entity${k}(id: $id) {`,
    `    ${selection}`,
    `    details { summary objects { label status child { label } } }`,
    '  }',
    '}',
    '',
  ].join('\n');
}

function generate(dir: string, subgraphs: number, operations: number): void {
  const config = (variant: 'base' | 'target') =>
    [
      'federation_version: =2.14.4',
      'subgraphs:',
      ...Array.from({ length: subgraphs }, (_, i) => [
        `  s${i}:`,
        `    routing_url: http://s${i}.internal/graphql`,
        '    schema:',
        `      file: ./${variant}/s${i}.graphql`,
      ]).flat(),
      'checks:',
      '  max_sequential_fetches: 6',
      '',
    ].join('\n');
  for (const variant of ['base', 'target'] as const) {
    fs.mkdirSync(path.join(dir, variant), { recursive: true });
    for (let i = 0; i < subgraphs; i += 1)
      fs.writeFileSync(path.join(dir, variant, `s${i}.graphql`), subgraphSdl(i, subgraphs, variant));
    fs.writeFileSync(path.join(dir, `${variant}.yaml`), config(variant));
  }
  fs.mkdirSync(path.join(dir, 'operations'));
  for (let n = 0; n < operations; n += 1)
    fs.writeFileSync(path.join(dir, 'operations', `bench${n}.graphql`), operationSource(n, subgraphs));
}

function timed(label: string, argv: string[], cwd: string): number {
  const stderr: string[] = [];
  const started = performance.now();
  const exitCode = run(argv, silentIo(cwd, stderr));
  const ms = performance.now() - started;
  if (exitCode !== 0) throw new Error(`${label} exited ${exitCode}: ${stderr.join('')}`);
  return ms;
}

/** Child mode: run one `check` and report its wall time and this process's peak RSS on stdout. */
function runChild(argv: string[]): void {
  const stderr: string[] = [];
  const started = performance.now();
  const exitCode = run(argv, silentIo(process.cwd(), stderr));
  const wallMs = performance.now() - started;
  const result: ChildResult = {
    exitCode,
    wallMs,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    stderr: stderr.join(''),
  };
  process.stdout.write(JSON.stringify(result));
}

function main(): void {
  if (process.argv[2] === '--child') {
    runChild(process.argv.slice(3));
    return;
  }
  const { values } = parseArgs({
    options: {
      subgraphs: { type: 'string', default: '50' },
      operations: { type: 'string', default: '100' },
      keep: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const subgraphs = Number(values.subgraphs);
  const operations = Number(values.operations);
  if (!Number.isInteger(subgraphs) || subgraphs < 2 || !Number.isInteger(operations) || operations < 1) {
    throw new Error('--subgraphs must be at least 2 and --operations at least 1');
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schema-check-bench-'));
  try {
    generate(dir, subgraphs, operations);
    const composeBaseMs = timed('compose base', ['compose', '--config', 'base.yaml', '--out', 'base.graphql'], dir);
    const composeMs = timed('compose', ['compose', '--config', 'target.yaml', '--out', 'supergraph.graphql'], dir);

    const checkArgs = [
      'check',
      '--config',
      'target.yaml',
      '--base',
      'base.graphql',
      '--supergraph',
      'supergraph.graphql',
    ];
    const child = spawnSync(
      process.execPath,
      ['-r', require.resolve('@swc-node/register'), __filename, '--child', ...checkArgs],
      {
        cwd: dir,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    if (child.status !== 0) throw new Error(`check child failed: ${child.stderr}`);
    const check = JSON.parse(child.stdout) as ChildResult;
    if (check.exitCode !== 0) throw new Error(`check exited ${check.exitCode}: ${check.stderr}`);

    const results = {
      subgraphs,
      types: subgraphs * TYPES_PER_SUBGRAPH,
      operations,
      composeMs: Math.round(composeMs),
      composeBaseMs: Math.round(composeBaseMs),
      checkWallMs: Math.round(check.wallMs),
      checkPeakRssMiB: Math.round(check.maxRssMiB),
    };
    if (values.json) {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    } else {
      console.log(
        `schema check bench: ${subgraphs} subgraphs, ${results.types} types, ${operations} operations (${dir})`,
      );
      console.log(`  compose             ${results.composeMs} ms`);
      console.log(`  check (in child)    ${results.checkWallMs} ms, peak RSS ${results.checkPeakRssMiB} MiB`);
    }
  } finally {
    if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
