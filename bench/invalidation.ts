/**
 * How long after a committed write every gateway replica serves the new value (issue target: under 50 ms).
 *
 * Two real gateway processes share one Redis; the three subgraphs run in this process on SQLite. For each
 * trial a product's stock is read through replica B (so it is cached there), then changed, and B is polled
 * until it serves the new stock. Two paths are measured:
 *  - through-gateway: the write goes through replica A (A evicts before it answers; B shares the cache);
 *  - bypass: the write goes straight to the inventory service, so only the change stream can tell the
 *    replicas (XADD by inventory -> XREAD by each replica -> DEL).
 *
 * Run: node -r @swc-node/register bench/invalidation.ts [--trials 50] [--json FILE]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { loadConfig } from '../lib/config';
import { callerHeaders } from '../lib/identity';
import { signHs256 } from '../lib/jwt';
import { silentLogger } from '../lib/logger';
import { projectRoot } from '../lib/paths';
import { startSubgraph, type RunningSubgraph, type SubgraphContextBase, type SubgraphDefinition } from '../subgraphs/common/server';
import { inventorySubgraph } from '../subgraphs/inventory/server';
import { ordersSubgraph } from '../subgraphs/orders/server';
import { usersSubgraph } from '../subgraphs/users/server';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/14';
const JWT_SECRET = 'bench-jwt-secret-0123456789abcdefgh';
const SERVICE_SECRET = 'bench-service-secret-0123456789abcdefgh';

interface Replica {
  url: string;
  child: ChildProcess;
}

async function startReplica(env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(projectRoot, 'gateway', 'index.ts')], {
    cwd: projectRoot,
    env: { ...process.env, ...env, GATEWAY_PORT: '0', LOG_FORMAT: 'json', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^\s"]+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code}: ${output}`)));
  });
  return { url, child };
}

/** `headers` may depend on the body: a request straight to a subgraph is signed for its exact body. */
async function graphql(
  url: string,
  query: string,
  headers: Record<string, string> | ((body: string) => Record<string, string>) = {},
): Promise<Record<string, unknown>> {
  const request = JSON.stringify({ query });
  const extra = typeof headers === 'function' ? headers(request) : headers;
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...extra },
    body: request,
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const trials = Number(args[args.indexOf('--trials') + 1] ?? 50) || 50;
  const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-invalidation-'));
  const stream = `bench-changes-${process.pid}`;
  const base = {
    NODE_ENV: 'production',
    JWT_SECRET,
    SERVICE_SECRET,
    REDIS_URL,
    CHANGE_STREAM: stream,
    REDIS_KEY_PREFIX: `bench-${process.pid}:`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    USERS_PORT: '0',
    ORDERS_PORT: '0',
    INVENTORY_PORT: '0',
  };
  const running: RunningSubgraph<unknown>[] = [];
  const replicas: Replica[] = [];
  try {
    const start = async <Schema, Context extends SubgraphContextBase>(definition: SubgraphDefinition<Schema, Context>, more: Record<string, string> = {}) => {
      const subgraph = (await startSubgraph(definition, loadConfig({ ...base, ...more }), silentLogger)) as RunningSubgraph<unknown>;
      running.push(subgraph);
      return subgraph;
    };
    const users = await start(usersSubgraph);
    const inventory = await start(inventorySubgraph);
    const orders = await start(ordersSubgraph, { INVENTORY_URL: inventory.url });
    const gatewayEnv = {
      ...base,
      SUBGRAPH_URL_USERS: users.url,
      SUBGRAPH_URL_ORDERS: orders.url,
      SUBGRAPH_URL_INVENTORY: inventory.url,
      DEDUP_INBOUND: 'off',
    };
    replicas.push(await startReplica(gatewayEnv), await startReplica(gatewayEnv));
    const [a, b] = replicas as [Replica, Replica];
    const now = Math.floor(Date.now() / 1000);
    const admin = { authorization: `Bearer ${signHs256({ sub: '1', scope: 'admin', exp: now + 3600 }, JWT_SECRET)}` };
    const signedAdmin = (body: string) =>
      callerHeaders(SERVICE_SECRET, { kind: 'user', userId: '1', admin: true }, body);
    const stock = async (url: string, sku: string) => ((await graphql(url, `{ product(sku: "${sku}") { stock } }`)).product as { stock: number }).stock;

    const measure = async (label: string, write: (sku: string) => Promise<void>) => {
      const delays: number[] = [];
      let staleReads = 0;
      for (let trial = 0; trial < trials; trial++) {
        const sku = `SKU-${String((trial % 100) + 1).padStart(4, '0')}`;
        const before = await stock(b.url, sku);
        await stock(b.url, sku); // cached now
        await write(sku);
        const written = performance.now();
        let seen = before;
        let polls = 0;
        while (seen === before) {
          polls++;
          seen = await stock(b.url, sku);
          if (performance.now() - written > 5000) throw new Error(`${label}: replica B still serves the old stock after 5 s`);
        }
        delays.push(performance.now() - written);
        staleReads += polls - 1;
        if (process.env.BENCH_VERBOSE) console.error(label, sku, polls, (performance.now() - written).toFixed(1));
      }
      return { trials, staleReads, p50Ms: percentile(delays, 50), p99Ms: percentile(delays, 99), maxMs: Math.max(...delays) };
    };

    const throughGateway = await measure('through-gateway', async (sku) => {
      await graphql(a.url, `mutation { restock(sku: "${sku}", quantity: 1) { stock } }`, admin);
    });
    const bypass = await measure('bypass', async (sku) => {
      await graphql(inventory.url, `mutation { restock(sku: "${sku}", quantity: 1) { stock } }`, signedAdmin);
    });
    const result = { date: new Date().toISOString(), redis: REDIS_URL, throughGateway, bypass };
    const line = (name: string, r: typeof throughGateway) =>
      `| ${name} | ${r.trials} | ${r.staleReads} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.maxMs.toFixed(1)} |`;
    console.log(
      [
        '| write path | trials | stale reads on B after the write | p50 ms until B served the new value | p99 ms | max ms |',
        '|---|---:|---:|---:|---:|---:|',
        line('through gateway A (shared cache, evicted before A answers)', throughGateway),
        line('straight to inventory (change stream only)', bypass),
      ].join('\n'),
    );
    if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(result, null, 2));
  } finally {
    for (const replica of replicas) replica.child.kill('SIGTERM');
    await Promise.all(running.map((subgraph) => subgraph.close()));
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    const keys: string[] = [stream];
    for await (const batch of client.scanIterator({ MATCH: `bench-${process.pid}:*`, COUNT: 500 })) keys.push(...batch);
    await client.del(keys);
    await client.quit();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
