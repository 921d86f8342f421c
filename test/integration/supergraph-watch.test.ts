/**
 * SUPERGRAPH_WATCH: the gateway reloads its supergraph when the file's content changes, the way Kubernetes
 * changes a mounted ConfigMap (a new timestamped directory and an atomic rename of the `..data` symlink) and the
 * way editors save (a temporary file renamed over the old one). Real files, a real gateway over HTTP; every wait
 * is on an event or a bounded poll of the served schema, never a fixed sleep.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { createGatewayServer, type GatewayServer } from '../../gateway/server';
import { watchSupergraph, type SupergraphCheck, type SupergraphWatcher } from '../../gateway/supergraph-watch';
import { listen, type ListeningServer } from '../../lib/http';
import { loadConfig } from '../../lib/config';
import { silentLogger, type Logger } from '../../lib/logger';
import { schemaDir } from '../../lib/paths';
import { testConfig } from '../helpers/system';

const SUPERGRAPH = fs.readFileSync(path.join(schemaDir, 'supergraph.graphql'), 'utf8');
const ORIGINAL_DESCRIPTION = 'A product in the catalogue, with its stock. Owned by the inventory subgraph.';
const withProductDescription = (description: string) => {
  if (!SUPERGRAPH.includes(ORIGINAL_DESCRIPTION))
    throw new Error('schema/supergraph.graphql: Product description moved');
  return SUPERGRAPH.replace(ORIGINAL_DESCRIPTION, description);
};

const directories: string[] = [];
afterAll(() => {
  for (const dir of directories) fs.rmSync(dir, { recursive: true, force: true });
});
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-supergraph-watch-'));
  directories.push(dir);
  return dir;
};

let stamp = 0;
/**
 * What kubelet's atomic writer does to a ConfigMap volume: the files in a new `..<timestamp>` directory, a
 * `..data_tmp` symlink to it renamed over `..data` (the one atomic step), the user-visible names as symlinks
 * through `..data` (created once), and the previous timestamped directory removed.
 */
function projectConfigMap(dir: string, files: Record<string, string>): void {
  const version = `..2026_11_29_10_00_00.${String(++stamp).padStart(9, '0')}`;
  const data = path.join(dir, '..data');
  const previous = fs.existsSync(data) ? fs.readlinkSync(data) : undefined;
  fs.mkdirSync(path.join(dir, version));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, version, name), content);
  fs.symlinkSync(version, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), data);
  for (const name of Object.keys(files)) {
    if (!fs.existsSync(path.join(dir, name))) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
  }
  if (previous) fs.rmSync(path.join(dir, previous), { recursive: true });
}

/** A watcher whose checks can be awaited, and whose reloads are recorded. */
function recordingWatcher(file: string) {
  const reloads: string[] = [];
  const checks: SupergraphCheck[] = [];
  const waiters = new Set<() => void>();
  const watcher: SupergraphWatcher = watchSupergraph({
    file,
    logger: silentLogger,
    debounceMs: 50,
    reload: (cause) => reloads.push(cause),
    onCheck: (outcome) => {
      checks.push(outcome);
      for (const wake of waiters) wake();
    },
  });
  /** Resolves with the first check after `from` checks that satisfies `accept`; fails after 10 s. */
  const checkAfter = async (from: number, accept: (outcome: SupergraphCheck) => boolean): Promise<SupergraphCheck> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const found = checks.slice(from).find(accept);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching check within 10 s; saw ${JSON.stringify(checks)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now() + 1);
        const wake = () => {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        };
        waiters.add(wake);
      });
    }
  };
  return { watcher, reloads, checks, checkAfter };
}

describe('SUPERGRAPH_WATCH', () => {
  it('is on by default and refuses a value that is not a boolean, naming it', () => {
    expect(loadConfig({}).gateway.supergraphWatch).toBe(true);
    expect(loadConfig({ SUPERGRAPH_WATCH: 'false' }).gateway.supergraphWatch).toBe(false);
    expect(() => loadConfig({ SUPERGRAPH_WATCH: 'sometimes' })).toThrow(
      "SUPERGRAPH_WATCH: expected true or false, got 'sometimes'",
    );
  });
});

describe('the supergraph watcher', () => {
  it('reloads once per ConfigMap update whose content changed, never for the same content', async () => {
    const dir = tempDir();
    projectConfigMap(dir, { 'supergraph.graphql': 'v1' });
    const { watcher, reloads, checks, checkAfter } = recordingWatcher(path.join(dir, 'supergraph.graphql'));
    try {
      let seen = checks.length;
      projectConfigMap(dir, { 'supergraph.graphql': 'v2' });
      expect(await checkAfter(seen, (outcome) => outcome === 'reloaded')).toBe('reloaded');
      expect(reloads).toHaveLength(1);
      expect(reloads[0]).toMatch(/^file changed \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\)$/);

      // A resync that writes identical content swaps the directories all the same: read, hashed, not reloaded.
      seen = checks.length;
      projectConfigMap(dir, { 'supergraph.graphql': 'v2' });
      await checkAfter(seen, () => true);
      expect(checks.slice(seen).every((outcome) => outcome === 'unchanged')).toBe(true);
      expect(reloads).toHaveLength(1);
    } finally {
      watcher.close();
    }
  });

  it('reloads when an editor renames a new file over the old one', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'supergraph.graphql');
    fs.writeFileSync(file, 'v1');
    const { watcher, reloads, checks, checkAfter } = recordingWatcher(file);
    try {
      const seen = checks.length;
      fs.writeFileSync(path.join(dir, '.supergraph.graphql.swp'), 'v2');
      fs.renameSync(path.join(dir, '.supergraph.graphql.swp'), file);
      await checkAfter(seen, (outcome) => outcome === 'reloaded');
      expect(reloads).toHaveLength(1);
    } finally {
      watcher.close();
    }
  });

  it('leaves a missing file for the next event instead of reloading', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'supergraph.graphql');
    fs.writeFileSync(file, 'v1');
    const { watcher, reloads, checks, checkAfter } = recordingWatcher(file);
    try {
      let seen = checks.length;
      fs.rmSync(file);
      await checkAfter(seen, (outcome) => outcome === 'unreadable');
      expect(reloads).toHaveLength(0);
      seen = checks.length;
      fs.writeFileSync(file, 'v1');
      // Back with the content it had: nothing to reload.
      await checkAfter(seen, (outcome) => outcome !== 'unreadable');
      expect(reloads).toHaveLength(0);
    } finally {
      watcher.close();
    }
  });
});

describe('a gateway with SUPERGRAPH_WATCH', () => {
  let gateway: GatewayServer;
  let listening: ListeningServer;
  const lines: string[] = [];
  const recordingLogger: Logger = {
    ...silentLogger,
    info: (message, fields) => lines.push(`${message} ${JSON.stringify(fields ?? {})}`),
    child: () => recordingLogger,
  };
  let mount: string;

  beforeAll(async () => {
    mount = tempDir();
    projectConfigMap(mount, { 'supergraph.graphql': SUPERGRAPH });
    gateway = await createGatewayServer(
      testConfig({ SUPERGRAPH_PATH: path.join(mount, 'supergraph.graphql'), SUPERGRAPH_WATCH: 'true' }),
      recordingLogger,
    );
    listening = await listen(gateway.listener, 0, '127.0.0.1');
  });
  afterAll(async () => {
    await listening?.close();
    await gateway?.stop();
  });

  const productDescription = async (): Promise<string | undefined> => {
    const response = await fetch(`${listening.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __type(name: "Product") { description } }' }),
    });
    const body = (await response.json()) as { data?: { __type?: { description?: string } } };
    return body.data?.__type?.description;
  };

  it('serves the new supergraph after Kubernetes swaps the mounted ConfigMap', async () => {
    expect(await productDescription()).toBe(ORIGINAL_DESCRIPTION);

    projectConfigMap(mount, { 'supergraph.graphql': withProductDescription('Rolled out through a ConfigMap.') });

    // Bounded poll of what the gateway serves: the reload's own timing is the watcher's business.
    const deadline = Date.now() + 10_000;
    let served = await productDescription();
    while (served !== 'Rolled out through a ConfigMap.' && Date.now() < deadline) {
      await delay(25);
      served = await productDescription();
    }
    expect(served).toBe('Rolled out through a ConfigMap.');
    expect(lines.filter((line) => line.startsWith('supergraph reloaded'))).toEqual([
      expect.stringMatching(/"cause":"file changed \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\)"/),
    ]);
  });
});
