/**
 * Builds the installable packages of the `packages/` workspaces from the sources where they live (nothing is
 * moved): esbuild bundles our TypeScript into each package's `dist/` and leaves npm packages as imports, which
 * the package's `package.json` must declare at the root lock's versions. The build fails when a bundle imports an
 * undeclared package, declares one it does not import, pins another version than the lock, or (the schema CLI)
 * pulls in gateway or subgraph code.
 *
 *   node -r @swc-node/register scripts/build-packages.ts [federation-schema|federation-gateway] [--pack DIR]
 *     [--stage DIR]
 *
 * `--pack DIR` then runs `npm pack` into DIR and prints each tarball's path. `--stage DIR` builds a copy of each
 * package under DIR instead of in `packages/` (tests, so they never race a build in the checkout).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { buildExplorerAssets } from '../gateway/explorer/build';
import { projectRoot } from '../lib/paths';

interface PackageBuild {
  readonly name: string;
  /** The entry point, from the repository root; bundled to `dist/<outName>.js`. */
  readonly entry: string;
  readonly outName: string;
  /** Source folders the bundle must not contain (the schema CLI is installed without the gateway). */
  readonly forbiddenSources: readonly string[];
  /** Extra build-time constants. */
  readonly define?: Record<string, string>;
  /** Packages the bundle imports only on paths the installed package never takes. */
  readonly notAtRunTime?: readonly string[];
  /** Files the bundle reads at run time, written into `dist/` after it. */
  readonly assets?: (distDir: string) => Promise<void>;
}

export const PACKAGE_BUILDS: readonly PackageBuild[] = [
  {
    name: 'federation-schema',
    entry: 'tools/schema/cli.ts',
    outName: 'cli',
    forbiddenSources: ['gateway/', 'subgraphs/', 'lib/config.ts', 'lib/redis.ts'],
    // The package's bin.js requires the bundle, so the bundle is not `require.main`; its own start-up test
    // (`require.main === module`, for running cli.ts directly) must hold inside it.
    define: { 'require.main': 'module' },
  },
  {
    name: 'federation-gateway',
    entry: 'gateway/bin.ts',
    outName: 'bin',
    forbiddenSources: ['subgraphs/', 'tools/'],
    // gateway/index.ts starts itself when it is the program (`require.main === module`); inside the command's
    // bundle every module shares the bundle's `module`, so that test would start a second gateway.
    define: { 'require.main': 'undefined' },
    // The explorer is built from its sources (with esbuild) only when the gateway runs from TypeScript.
    notAtRunTime: ['esbuild'],
    // The explorer's browser bundle, where gateway/explorer/build.ts looks for it outside the sources.
    assets: (distDir) => buildExplorerAssets(path.join(distDir, 'explorer'), { replace: true }),
  },
];

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
}

/** `@scope/name/sub/path` → `@scope/name`; `name/sub` → `name`. */
const packageOf = (specifier: string): string =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

const isBuiltin = (specifier: string): boolean =>
  specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!);

export async function buildPackage(build: PackageBuild, stage?: string): Promise<{ dir: string; problems: string[] }> {
  const source = path.join(projectRoot, 'packages', build.name);
  const dir = stage === undefined ? source : path.join(stage, build.name);
  if (stage !== undefined) {
    fs.mkdirSync(dir, { recursive: true });
    for (const file of fs.readdirSync(source)) {
      if (file !== 'dist') fs.cpSync(path.join(source, file), path.join(dir, file), { recursive: true });
    }
  }
  const distDir = path.join(dir, 'dist');
  fs.rmSync(distDir, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: [path.join(projectRoot, build.entry)],
    absWorkingDir: projectRoot,
    outfile: path.join(distDir, `${build.outName}.js`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    define: build.define,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  await build.assets?.(distDir);

  const problems: string[] = [];
  const inputs = Object.keys(result.metafile.inputs);
  for (const input of inputs) {
    if (build.forbiddenSources.some((forbidden) => input.startsWith(forbidden)))
      problems.push(`${build.name}: the bundle includes ${input}, which this package must not need`);
  }
  // Dynamic imports count too: tracing loads the OpenTelemetry SDK only when it is turned on.
  const imported = new Set<string>();
  for (const input of Object.values(result.metafile.inputs)) {
    for (const { path: specifier, external } of input.imports) {
      const name = packageOf(specifier);
      if (external && !isBuiltin(specifier) && !build.notAtRunTime?.includes(name)) imported.add(name);
    }
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Manifest;
  const lock = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const declared = manifest.dependencies ?? {};
  for (const name of [...imported].sort()) {
    const locked = lock.packages[`node_modules/${name}`]?.version;
    if (!(name in declared))
      problems.push(`${build.name}: the bundle imports ${name}; add "${name}": "${locked}" to its dependencies`);
    else if (declared[name] !== locked)
      problems.push(`${build.name}: ${name} is declared as ${declared[name]}, the root lock has ${locked}`);
  }
  for (const name of Object.keys(declared)) {
    if (!imported.has(name)) problems.push(`${build.name}: ${name} is declared but the bundle does not import it`);
  }
  return { dir, problems };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: { pack: { type: 'string' }, stage: { type: 'string' } },
    allowPositionals: true,
  });
  const unknown = positionals.filter((name) => !PACKAGE_BUILDS.some((build) => build.name === name));
  if (unknown.length > 0) throw new Error(`unknown package ${unknown.join(', ')}`);
  const builds = PACKAGE_BUILDS.filter((build) => positionals.length === 0 || positionals.includes(build.name));
  let failed = false;
  for (const build of builds) {
    const { dir, problems } = await buildPackage(build, values.stage && path.resolve(values.stage));
    for (const problem of problems) console.error(problem);
    failed ||= problems.length > 0;
    if (problems.length > 0 || values.pack === undefined) continue;
    const packDir = path.resolve(values.pack);
    fs.mkdirSync(packDir, { recursive: true });
    const output = execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir], {
      cwd: dir,
      encoding: 'utf8',
    });
    console.log(path.join(packDir, output.trim().split('\n').pop()!));
  }
  if (failed) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  });
}
