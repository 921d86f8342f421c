import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../lib/paths';

/**
 * Builds the explorer's browser bundle (GraphiQL, React, our page script and every stylesheet, fonts inlined by
 * GraphiQL's CSS) with esbuild into a folder of content-hashed files and a `manifest.json` naming them.
 *
 * Where the bundle comes from depends on how the gateway runs:
 * - from `dist/` (`npm start`, the container image): `npm run build` wrote it to `dist/explorer/`; esbuild and
 *   GraphiQL are development dependencies and are not there at run time;
 * - from the TypeScript sources (tests, `node -r @swc-node/register`): it is built on first use into
 *   `node_modules/.cache/gateway-explorer/<key>/`, the key a hash of the browser sources and of the versions of
 *   what they bundle. A clean clone's `npm test` builds it once (about a second) when a test first asks for the
 *   page, and every later run, and every test that never opens the explorer, pays nothing. A jest globalSetup
 *   would build it even for a run of one unrelated test file, and a `dist/` built earlier may be stale.
 */

export const browserSourceDir = path.join(projectRoot, 'gateway', 'explorer', 'browser');
/** Where `npm run build` puts the bundle, next to the compiled gateway. */
export const builtAssetsDir = path.join(projectRoot, 'dist', 'explorer');

export interface ExplorerManifest {
  /** File names in the assets folder (content-hashed). */
  script: string;
  stylesheet: string;
}

/** What the bundle is made of: a change to any of it gives another cache folder. */
const BUNDLED_PACKAGES = ['graphiql', '@graphiql/plugin-explorer', '@graphiql/react', 'react', 'react-dom', 'esbuild'];

export function explorerCacheDir(): string {
  const hash = crypto.createHash('sha256');
  for (const name of fs.readdirSync(browserSourceDir).sort()) {
    hash.update(name).update(fs.readFileSync(path.join(browserSourceDir, name)));
  }
  hash.update(fs.readFileSync(__filename));
  for (const name of BUNDLED_PACKAGES) {
    const manifest = require.resolve(`${name}/package.json`, { paths: [projectRoot] });
    hash.update(`${name}@${(JSON.parse(fs.readFileSync(manifest, 'utf8')) as { version: string }).version}`);
  }
  return path.join(projectRoot, 'node_modules', '.cache', 'gateway-explorer', hash.digest('hex').slice(0, 16));
}

export function readManifest(dir: string): ExplorerManifest | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ExplorerManifest;
  } catch {
    return undefined;
  }
}

/**
 * Bundles into a private folder, then renames it into place: readers never see half a bundle, and two processes
 * building the same key at once (two jest workers) both end with one complete folder. `replace` (the build
 * script) swaps out an existing folder; otherwise an existing one wins, being the same build.
 */
export async function buildExplorerAssets(outDir: string, options: { replace?: boolean } = {}): Promise<void> {
  const esbuild = await import('esbuild');
  const staging = `${outDir}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  try {
    const result = await esbuild.build({
      entryPoints: { app: path.join(browserSourceDir, 'app.tsx') },
      absWorkingDir: projectRoot,
      outdir: staging,
      entryNames: '[name]-[hash]',
      bundle: true,
      minify: true,
      format: 'esm',
      target: ['es2022'],
      jsx: 'automatic',
      define: { 'process.env.NODE_ENV': '"production"' },
      legalComments: 'external',
      metafile: true,
      logLevel: 'silent',
    });
    const outputs = Object.entries(result.metafile.outputs);
    const entry = outputs.find(([, output]) => output.entryPoint !== undefined && output.cssBundle !== undefined);
    if (!entry) throw new Error('esbuild produced no script with a stylesheet for gateway/explorer/browser/app.tsx');
    const manifest: ExplorerManifest = {
      script: path.basename(entry[0]),
      stylesheet: path.basename(entry[1].cssBundle!),
    };
    fs.writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    if (options.replace) fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(outDir), { recursive: true });
    try {
      fs.renameSync(staging, outDir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}
