import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import type { RedisTarget } from '../../lib/config';
import { createRedisConnection } from '../../lib/redis';

/**
 * A real Redis Cluster for tests, from the machine's `redis-server` and `redis-cli`: three masters (and one
 * replica each when asked) on free local ports, nothing on disk but each node's cluster config in a temp dir.
 * `stop()` ends every process, and `startRedisCluster` stops what it started when it fails.
 */
export interface TestRedisCluster {
  target: RedisTarget;
  /** The environment that points a service at this cluster. */
  env: { REDIS_CLUSTER_NODES: string };
  /** Every node's port, masters first as created (roles change with failovers). */
  ports: number[];
  /** The port of the master that serves `key` now, and of its replica (if any). */
  shardOf(key: string): Promise<{ master: number; replica: number | undefined }>;
  /**
   * A manual failover of the shard that serves `key` (`CLUSTER FAILOVER` on its replica): resolves once the
   * replica is master and every node agrees. Returns the new master's port.
   */
  failover(key: string): Promise<number>;
  /** Runs one command on one node. */
  command(port: number, args: string[]): Promise<unknown>;
  stop(): Promise<void>;
}

const execFileAsync = promisify(execFile);
const HOST = '127.0.0.1';

/** Fails, naming the Debian packages, when the Redis binaries are not installed. */
export function requireRedisBinaries(): void {
  for (const [binary, pkg] of [
    ['redis-server', 'redis-server'],
    ['redis-cli', 'redis-tools'],
  ] as const) {
    const probe = spawnSync(binary, ['--version'], { stdio: 'ignore' });
    if (probe.error || probe.status !== 0)
      throw new Error(
        `The Redis Cluster tests need ${binary} (Debian package ${pkg}): apt-get install -y redis-server redis-tools`,
      );
  }
}

export async function startRedisCluster(options: { masters?: number; replicas?: 0 | 1 } = {}): Promise<TestRedisCluster> {
  requireRedisBinaries();
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 0;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-redis-cluster-'));
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(children.map(stopProcess));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports = await freeClusterPorts(masters * (1 + replicas));
    for (const port of ports) children.push(startNode(port, dir));
    await Promise.all(ports.map((port, index) => untilAnswering(port, children[index]!, dir)));
    await execFileAsync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((port) => `${HOST}:${port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    await until('every node of the new cluster to agree', 30_000, () => settled(ports, replicas));
    const shardOf = async (key: string) => {
      const slot = Number(await command(ports[0]!, ['CLUSTER', 'KEYSLOT', key]));
      return shardServing(await clusterNodes(ports[0]!), slot);
    };
    return {
      target: { kind: 'cluster', rootNodes: ports.map((port) => `redis://${HOST}:${port}`) },
      env: { REDIS_CLUSTER_NODES: ports.map((port) => `redis://${HOST}:${port}`).join(',') },
      ports,
      shardOf,
      async failover(key) {
        const { master, replica } = await shardOf(key);
        if (replica === undefined) throw new Error('failover needs a cluster started with replicas: 1');
        await command(replica, ['CLUSTER', 'FAILOVER']);
        await until(`the replica on port ${replica} to take over from ${master}`, 30_000, async () => {
          for (const port of ports) {
            const shard = shardServing(await clusterNodes(port), Number(await command(port, ['CLUSTER', 'KEYSLOT', key])));
            if (shard.master !== replica) return false;
          }
          return settled(ports, replicas);
        });
        return replica;
      },
      command,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Deletes every key under `keyPrefix` and the named keys, on one server or on every master of a cluster. */
export async function deleteKeys(target: RedisTarget | string, keyPrefix: string, named: string[]): Promise<void> {
  const connection = createRedisConnection(target, {
    connectTimeoutMs: 3000,
    reconnectDelayMs: () => 500,
    onError: () => undefined,
  });
  try {
    await connection.firstAttempt;
    if (!connection.ready) return;
    const keys = [...named];
    // SCAN walks one node's keys: on a cluster, every master's.
    const nodes =
      connection.kind === 'single'
        ? [connection.client]
        : await Promise.all(connection.client.masters.map((master) => connection.client.nodeClient(master)));
    for (const node of nodes)
      for await (const batch of node.scanIterator({ MATCH: `${keyPrefix}*`, COUNT: 500 })) keys.push(...batch);
    // One DEL per key: keys in several slots cannot go in one DEL on a cluster.
    await Promise.all(keys.map((key) => connection.client.del(key)));
  } finally {
    connection.destroy();
  }
}

function startNode(port: number, dir: string): ChildProcess {
  return spawn(
    'redis-server',
    [
      '--port', String(port),
      '--bind', HOST,
      '--cluster-enabled', 'yes',
      '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
      // Short, so a lost master is noticed quickly; long enough for a loaded machine not to see false failures.
      '--cluster-node-timeout', '3000',
      '--appendonly', 'no',
      '--save', '',
      '--dir', dir,
      '--logfile', path.join(dir, `node-${port}.log`),
    ],
    { stdio: 'ignore' },
  );
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Nothing to keep: no need for a clean shutdown.
  child.kill('SIGKILL');
  await exited;
}

/** Ports whose cluster bus port (port + 10000) is free too. */
async function freeClusterPorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt > 200) throw new Error('could not find free ports for a Redis Cluster');
    const port = await freePort(0);
    if (port > 55_535 || ports.includes(port)) continue;
    if ((await freePort(port + 10_000).catch(() => undefined)) === undefined) continue;
    ports.push(port);
  }
  return ports;
}

function freePort(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, HOST, () => {
      const { port: bound } = server.address() as net.AddressInfo;
      server.close(() => resolve(bound));
    });
  });
}

async function command(port: number, args: string[]): Promise<unknown> {
  const client = createClient({ url: `redis://${HOST}:${port}`, socket: { connectTimeout: 2000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.sendCommand(args);
  } finally {
    if (client.isOpen) client.destroy();
  }
}

async function untilAnswering(port: number, child: ChildProcess, dir: string): Promise<void> {
  await until(`redis-server on port ${port} to answer`, 10_000, async () => {
    if (child.exitCode !== null) {
      const log = path.join(dir, `node-${port}.log`);
      throw new Error(
        `redis-server on port ${port} exited (${child.exitCode}): ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-500) : ''}`,
      );
    }
    return (await command(port, ['PING']).catch(() => undefined)) === 'PONG';
  });
}

/** Every node says cluster_state:ok and knows every other; every replica's link to its master is up. */
async function settled(ports: number[], replicas: number): Promise<boolean> {
  for (const port of ports) {
    const info = String(await command(port, ['CLUSTER', 'INFO']));
    if (!info.includes('cluster_state:ok') || !info.includes(`cluster_known_nodes:${ports.length}\r`)) return false;
    if (replicas > 0) {
      const replication = String(await command(port, ['INFO', 'replication']));
      if (replication.includes('role:slave') && !replication.includes('master_link_status:up')) return false;
    }
  }
  return true;
}

interface NodeLine {
  id: string;
  port: number;
  master: boolean;
  masterId: string;
  slots: [number, number][];
}

async function clusterNodes(port: number): Promise<NodeLine[]> {
  return String(await command(port, ['CLUSTER', 'NODES']))
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address!)![1]),
        master: flags!.split(',').includes('master'),
        masterId: masterId!,
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range) => {
            const [from, to] = range.split('-').map(Number);
            return [from!, to ?? from!] as [number, number];
          }),
      };
    });
}

function shardServing(nodes: NodeLine[], slot: number): { master: number; replica: number | undefined } {
  const master = nodes.find((node) => node.master && node.slots.some(([from, to]) => slot >= from && slot <= to));
  if (!master) throw new Error(`no master serves slot ${slot}`);
  return { master: master.port, replica: nodes.find((node) => node.masterId === master.id)?.port };
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch((error: unknown) => (error instanceof Error && /exited/.test(error.message) ? Promise.reject(error) : false)))
      return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A Redis for a parameterised suite: the machine's one server, or a cluster of its own. */
export interface RedisBackend {
  name: string;
  /** Starts it (the cluster) or checks it answers (the server); the env points services at it. */
  start(): Promise<{ env: Record<string, string>; target: RedisTarget }>;
  stop(): Promise<void>;
}

/** The two kinds of Redis a Redis suite runs on: `describe.each(redisBackends())('... on %s', ...)`. */
export function redisBackends(singleUrl: string, requireSingle: () => Promise<void>): RedisBackend[] {
  let cluster: TestRedisCluster | undefined;
  return [
    {
      name: 'one Redis',
      async start() {
        await requireSingle();
        return { env: { REDIS_URL: singleUrl }, target: { kind: 'single', url: singleUrl } };
      },
      stop: async () => undefined,
    },
    {
      name: 'a Redis Cluster',
      async start() {
        cluster = await startRedisCluster({ masters: 3 });
        return { env: cluster.env, target: cluster.target };
      },
      async stop() {
        await cluster?.stop();
      },
    },
  ];
}
