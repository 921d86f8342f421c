/**
 * The two packages as someone else gets them: `npm pack`ed, installed from the tarball into empty folders from
 * the registry, and run in a foreign repository (two small subgraphs of someone else's, its own supergraph.yaml)
 * through `npx`, never through this checkout's sources.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startForeignSubgraph, writeForeignRepository, type ForeignSubgraph } from '../helpers/foreign-subgraphs';

const projectRoot = path.resolve(__dirname, '..', '..');
const INSTALL_TIMEOUT_MS = 240_000;

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end (bounded), with only the environment given plus PATH and HOME. */
function exec(command: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<Finished> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), INSTALL_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...extra };
  for (const name of ['PATH', 'HOME', 'npm_config_cache', 'npm_config_registry']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function expectSuccess(result: Finished, what: string): void {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`);
}

let scratch: string;
/** A foreign repository with the schema CLI installed as its own dependency. */
let foreignRepository: string;
/** An empty folder with only the gateway installed. */
let gatewayInstall: string;
let products: ForeignSubgraph;
let reviews: ForeignSubgraph;

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'federation-packages-'));
  [products, reviews] = await Promise.all([startForeignSubgraph('products'), startForeignSubgraph('reviews')]);
  const tarballs = path.join(scratch, 'tarballs');
  const packed = await exec(
    process.execPath,
    [
      '-r',
      '@swc-node/register',
      'scripts/build-packages.ts',
      '--stage',
      path.join(scratch, 'stage'),
      '--pack',
      tarballs,
    ],
    projectRoot,
  );
  expectSuccess(packed, 'build-packages --pack');
  const tarball = (name: string) =>
    packed.stdout.split('\n').find((line) => path.basename(line).startsWith(`${name}-`))!;

  foreignRepository = path.join(scratch, 'foreign-repository');
  gatewayInstall = path.join(scratch, 'gateway-install');
  for (const dir of [foreignRepository, gatewayInstall]) {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n');
  }
  const install = (dir: string, file: string) => exec('npm', ['install', '--no-audit', '--no-fund', file], dir);
  const [schemaInstalled, gatewayInstalled] = await Promise.all([
    install(foreignRepository, tarball('federation-schema')),
    install(gatewayInstall, tarball('federation-gateway')),
  ]);
  expectSuccess(schemaInstalled, 'npm install federation-schema');
  expectSuccess(gatewayInstalled, 'npm install federation-gateway');
  console.log(
    `packed in ${(packed.ms / 1000).toFixed(1)} s; installed federation-schema in ${(schemaInstalled.ms / 1000).toFixed(1)} s, ` +
      `federation-gateway in ${(gatewayInstalled.ms / 1000).toFixed(1)} s (the two installs ran side by side)`,
  );
  writeForeignRepository(foreignRepository, {
    productsUrl: products.url,
    reviewsUrl: reviews.url,
    reviewsSdlFromUrl: true,
  });
}, INSTALL_TIMEOUT_MS * 2);

afterAll(async () => {
  await Promise.all([products?.close(), reviews?.close()]);
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('federation-schema, installed from its tarball', () => {
  it('brings only what the schema CLI needs: no gateway, no native build', () => {
    const installed = (name: string) => fs.existsSync(path.join(foreignRepository, 'node_modules', name));
    expect(installed('federation-schema')).toBe(true);
    expect(installed('@apollo/composition')).toBe(true);
    for (const name of ['better-sqlite3', '@apollo/gateway', '@apollo/server', 'redis', 'pg', 'federation-gateway'])
      expect(installed(name)).toBe(false);
  });

  it('composes and checks a foreign repository, one subgraph read from its running service', async () => {
    const before = reviews.requests();
    expectSuccess(await exec('npx', ['--no-install', 'federation-schema', 'compose'], foreignRepository), 'compose');
    const checked = await exec(
      'npx',
      ['--no-install', 'federation-schema', 'check', '--format', 'json'],
      foreignRepository,
    );
    expectSuccess(checked, 'check');
    expect(reviews.requests()).toBe(before + 2);
    const report = JSON.parse(checked.stdout) as {
      ok: boolean;
      config: string;
      subgraphs: string[];
      checks: { composition: { supergraph: { freshness: string } }; operations: { operations: unknown[] } };
    };
    expect(report).toMatchObject({ ok: true, config: 'supergraph.yaml', subgraphs: ['products', 'reviews'] });
    expect(report.checks.composition.supergraph.freshness).toBe('fresh');
    expect(report.checks.operations.operations).toEqual([
      expect.objectContaining({ name: 'ProductReviews', status: 'pass' }),
    ]);

    const text = await exec('npx', ['--no-install', 'federation-schema', 'check'], foreignRepository);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Schema check passed');
  });
});

describe('federation-gateway, installed from its tarball', () => {
  it('brings no database driver', () => {
    for (const name of ['better-sqlite3', 'pg', 'kysely'])
      expect(fs.existsSync(path.join(gatewayInstall, 'node_modules', name))).toBe(false);
  });

  it('prints its help with every setting', async () => {
    const help = await exec('npx', ['--no-install', 'federation-gateway', '--help'], gatewayInstall);
    expectSuccess(help, '--help');
    expect(help.stdout).toMatch(/^ {2}--supergraph <file>/m);
    expect(help.stdout).toMatch(/^ {2}SUBGRAPH_TIMEOUT_MS\s+10000\s/m);
  });

  it('serves a foreign supergraph in front of foreign subgraphs', async () => {
    const supergraph = path.join(foreignRepository, 'supergraph.graphql');
    if (!fs.existsSync(supergraph))
      expectSuccess(await exec('npx', ['--no-install', 'federation-schema', 'compose'], foreignRepository), 'compose');
    const gateway = spawn('npx', ['--no-install', 'federation-gateway', '--supergraph', supergraph, '--port', '0'], {
      cwd: gatewayInstall,
      env: baseEnv({ LOG_FORMAT: 'json', RATE_LIMIT: 'false' }),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: npx runs the gateway as a child, and stopping must reach both.
      detached: true,
    });
    try {
      const url = await listeningUrl(gateway);
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ products { name price reviews { stars } } }' }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data?: unknown; errors?: unknown };
      expect(body.errors).toBeUndefined();
      expect(body.data).toEqual({
        products: [
          { name: 'Table', price: 899, reviews: [{ stars: 5 }] },
          { name: 'Chair', price: 120, reviews: [{ stars: 3 }, { stars: 4 }] },
        ],
      });
    } finally {
      await stop(gateway);
    }
  });
});

/** The gateway's URL, from its "listening on" log line; fails with its output if it exits first. */
function listeningUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^\s"]+\/graphql)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the gateway exited with ${code} before listening:\n${output}`)));
  });
}

/** SIGTERM to the whole group (npx and the gateway under it); done when every process holding its output is gone. */
function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.stdout!.closed && child.stderr!.closed) return resolve();
    child.once('close', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // The group is already gone; 'close' follows.
    }
  });
}
