/**
 * The container image holds everything the services read at run time. Without a container engine: the
 * Dockerfile's stages are laid out as directories (./dockerfile.ts: the build stage really runs `npm run build`,
 * the final stage gets exactly what its COPY lines copy), then the image's own ENTRYPOINT runs each subgraph and
 * the gateway from that copy, in production mode with real secrets, each on a free port, SQLite in the image's
 * data directory. A file the Dockerfile forgets to copy fails here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../../bench/processes';
import { signHs256 } from '../../lib/jwt';
import { buildStages, type BuiltStage } from './dockerfile';

const ROOT = path.resolve(__dirname, '..', '..');
const SECRETS = {
  JWT_SECRET: crypto.randomBytes(32).toString('hex'),
  SERVICE_SECRET: crypto.randomBytes(32).toString('hex'),
};

interface Service {
  role: string;
  port: number;
  child: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-image-'));
const services: Service[] = [];
let image: BuiltStage;

/** The image's environment, with what differs on this machine: a free port, loopback, secrets, no drain. */
function imageEnv(port: number, extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...image.env };
  // Absolute paths made inside the image (DATA_DIR) are where this layout put them.
  for (const [name, value] of Object.entries(env)) {
    if (value.startsWith('/') && fs.existsSync(path.join(image.root, value))) env[name] = path.join(image.root, value);
  }
  return {
    PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    ...env,
    ...SECRETS,
    PORT: String(port),
    HOST: '127.0.0.1',
    DRAIN_MS: '0',
    ...extra,
  };
}

async function start(role: string, extra: Record<string, string> = {}): Promise<Service> {
  const port = await freePort();
  const [command, ...args] = [...image.entrypoint, role].map((word) =>
    word.startsWith('/') ? image.hostPath(word) : word,
  );
  const child = spawn(command!, args, {
    cwd: image.hostPath('.'),
    env: imageEnv(port, extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const service = { role, port, child, output, exited };
  services.push(service);
  // Bounded poll of /healthz; a process that exits (a missing file, a refused config) fails at once with its output.
  const deadline = Date.now() + 60_000;
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined)
      throw new Error(`${role} exited with ${exitCode} from the image layout:\n${output.join('')}`);
    const status = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })
      .then((response) => response.status)
      .catch(() => 0);
    if (status === 200) return service;
    if (Date.now() > deadline) throw new Error(`${role} did not answer /healthz within 60 s:\n${output.join('')}`);
    await delay(100);
  }
}

beforeAll(async () => {
  image = buildStages({
    dockerfile: path.join(ROOT, 'Dockerfile'),
    contextDir: ROOT,
    outDir,
    nodeModules: path.join(ROOT, 'node_modules'),
  }).at(-1)!;
  const [users, inventory] = await Promise.all([start('users'), start('inventory')]);
  const orders = await start('orders', { INVENTORY_URL: `http://127.0.0.1:${inventory.port}/graphql` });
  await start('gateway', {
    SUBGRAPH_URL_USERS: `http://127.0.0.1:${users.port}/graphql`,
    SUBGRAPH_URL_ORDERS: `http://127.0.0.1:${orders.port}/graphql`,
    SUBGRAPH_URL_INVENTORY: `http://127.0.0.1:${inventory.port}/graphql`,
    // Makes the gateway read the trusted documents manifest at start-up, so the image must carry it.
    TRUSTED_DOCUMENTS: 'allow-unknown',
  });
}, 240_000);

afterAll(async () => {
  for (const service of services.reverse()) {
    service.child.kill('SIGTERM');
    const forced = setTimeout(() => service.child.kill('SIGKILL'), 15_000);
    await service.exited;
    clearTimeout(forced);
  }
  fs.rmSync(outDir, { recursive: true, force: true });
}, 60_000);

const service = (role: string) => services.find((candidate) => candidate.role === role)!;

describe('the image', () => {
  it('holds only what its final stage copies, owned by a non-root user at run time', () => {
    expect(fs.readdirSync(image.hostPath('.')).sort()).toEqual([
      'deploy',
      'dist',
      'node_modules',
      'package.json',
      'schema',
    ]);
    expect(image.user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(image.env).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
  });

  it.each(['users', 'orders', 'inventory', 'gateway'])('runs %s: /healthz and /readyz answer 200', async (role) => {
    const { port } = service(role);
    for (const route of ['/healthz', '/readyz']) {
      const response = await fetch(`http://127.0.0.1:${port}${route}`);
      expect({ role, route, status: response.status, body: await response.json() }).toMatchObject({
        role,
        route,
        status: 200,
      });
    }
  });

  it.each(['users', 'gateway'])("passes the image's own HEALTHCHECK command (%s)", (role) => {
    const [command, ...args] = image.healthcheck!;
    const result = spawnSync(command!, args, {
      env: imageEnv(service(role).port, {}),
      timeout: 10_000,
      encoding: 'utf8',
    });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it('answers a query across all three subgraphs through the gateway', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = signHs256({ sub: '1', scope: 'admin', exp: now + 300 }, SECRETS.JWT_SECRET);
    const response = await fetch(`http://127.0.0.1:${service('gateway').port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query:
          '{ users(first: 2) { edges { node { name orders(first: 1) { edges { node { items { product { name stock } } } } } } } } }',
      }),
    });
    const body = (await response.json()) as {
      errors?: unknown[];
      data?: {
        users: {
          edges: {
            node: { name: string; orders: { edges: { node: { items: { product: { name: string } }[] } }[] } };
          }[];
        };
      };
    };
    expect(body.errors).toBeUndefined();
    expect(body.data!.users.edges).toHaveLength(2);
    const product = body
      .data!.users.edges.flatMap((edge) => edge.node.orders.edges)
      .flatMap((edge) => edge.node.items)[0]?.product;
    expect(product).toEqual({ name: expect.any(String), stock: expect.any(Number) });
  });

  it('stops every service cleanly on SIGTERM', async () => {
    for (const running of [...services].reverse()) {
      running.child.kill('SIGTERM');
      expect({ role: running.role, code: await running.exited }).toEqual({ role: running.role, code: 0 });
    }
  });
});
