/**
 * Three gateway replicas behind a real HAProxy (the Debian package), over real processes: the three subgraphs and
 * each replica run from their TypeScript entry points on ports picked free, on one Redis (keys and change stream
 * private to this run). The test asks what a load balancer in front of replicas must get right: a write through
 * one replica is read fresh through every other; a replica killed outright costs at most the requests it held;
 * a rolling restart (SIGTERM, drain, replacement) costs nothing. It waits on process exits, on /readyz, on the
 * answers the clients get, and on HAProxy's own view of each server (its admin socket), never for a fixed time.
 * Every process is stopped in afterAll, also when a test failed.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { answersGet, freePort, startProcess, waitUntilReady, type ManagedProcess } from '../../bench/processes';
import { projectRoot } from '../../lib/paths';
import { requireHaproxy, startHaproxy, type Haproxy, type ServerStat } from '../helpers/haproxy';
import {
  adminToken,
  deleteRedisNamespace,
  requireRedis,
  TEST_JWT_SECRET,
  TEST_REDIS_URL,
  TEST_SERVICE_SECRET,
} from '../helpers/system';

const RUN = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-replicas-'));
const DRAIN_MS = 1000;
/** HAProxy checks /readyz this often: a draining replica is out within about 2 checks, well inside DRAIN_MS. */
const CHECK_INTERVAL_MS = 150;
const CLIENTS = 20;
const REPLICAS = ['r1', 'r2', 'r3'] as const;
type ReplicaName = (typeof REPLICAS)[number];

const BASE_ENV = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  NODE_ENV: 'test',
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'warn',
  JWT_SECRET: TEST_JWT_SECRET,
  SERVICE_SECRET: TEST_SERVICE_SECRET,
  REDIS_URL: TEST_REDIS_URL,
  REDIS_KEY_PREFIX: `test-replicas-${RUN}:`,
  CHANGE_STREAM: `test-replicas-changes-${RUN}`,
  DATA_DIR,
};

const started: ManagedProcess[] = [];
const node = (name: string, entry: string, env: Record<string, string>) => {
  const proc = startProcess({
    name,
    entry: path.join(projectRoot, entry),
    nodeOptions: ['-r', '@swc-node/register'],
    env: { ...BASE_ENV, ...env },
  });
  started.push(proc);
  return proc;
};

let subgraphEnv: Record<string, string>;
const ports = {} as Record<ReplicaName, number>;
const replicas = {} as Record<ReplicaName, ManagedProcess>;
let haproxy: Haproxy | undefined;
/** One line per scenario, printed at the end (the README's Scale out figures). */
const measured: string[] = [];
const bootTimes: number[] = [];

/** A replica on its fixed port (HAProxy's config names it), resolved when its /readyz answers 200. */
async function startReplica(name: ReplicaName): Promise<ManagedProcess> {
  const proc = node(`gateway ${name}`, 'gateway/index.ts', {
    ...subgraphEnv,
    GATEWAY_PORT: String(ports[name]),
    DRAIN_MS: String(DRAIN_MS),
    SHUTDOWN_TIMEOUT_MS: '5000',
    // Every client here is 127.0.0.1: per-IP limits would throttle the load, not test it.
    RATE_LIMIT: 'false',
    DEBUG_EXTENSIONS: 'true',
    // Long enough that a stale entry would still be served when the fresh read happens.
    ENTITY_CACHE_TTL: 'Product=300,Product.stock=300',
  });
  const startedAt = Date.now();
  await waitUntilReady(proc, () => answersGet(`http://127.0.0.1:${ports[name]}/readyz`), 60_000);
  bootTimes.push(Date.now() - startedAt);
  replicas[name] = proc;
  return proc;
}

beforeAll(async () => {
  await Promise.all([requireRedis(), requireHaproxy()]);
  // Six distinct ports, all known up front: the replicas boot while the subgraphs do (each readiness probe asks
  // the subgraphs), which is most of this test's wall time on a small machine.
  const picked = new Set<number>();
  while (picked.size < 3 + REPLICAS.length) picked.add(await freePort());
  const [users, orders, inventory, ...replicaPorts] = [...picked] as [number, number, number, ...number[]];
  REPLICAS.forEach((name, index) => (ports[name] = replicaPorts[index]!));
  const subgraphPorts = { USERS_PORT: String(users), ORDERS_PORT: String(orders), INVENTORY_PORT: String(inventory) };
  subgraphEnv = {
    SUBGRAPH_URL_USERS: `http://127.0.0.1:${users}/graphql`,
    SUBGRAPH_URL_ORDERS: `http://127.0.0.1:${orders}/graphql`,
    SUBGRAPH_URL_INVENTORY: `http://127.0.0.1:${inventory}/graphql`,
  };
  const subgraphs: [ManagedProcess, number][] = [
    [node('users', 'subgraphs/users/index.ts', subgraphPorts), users],
    [node('inventory', 'subgraphs/inventory/index.ts', subgraphPorts), inventory],
    [
      node('orders', 'subgraphs/orders/index.ts', {
        ...subgraphPorts,
        INVENTORY_URL: subgraphEnv.SUBGRAPH_URL_INVENTORY!,
      }),
      orders,
    ],
  ];
  await Promise.all([
    ...subgraphs.map(([proc, port]) =>
      waitUntilReady(proc, () => answersGet(`http://127.0.0.1:${port}/readyz`), 60_000),
    ),
    ...REPLICAS.map(startReplica),
  ]);
  haproxy = await startHaproxy({
    servers: REPLICAS.map((name) => ({ name, port: ports[name] })),
    checkIntervalMs: CHECK_INTERVAL_MS,
  });
  // HAProxy counts servers up before their first check: wait for a passed one each.
  await Promise.all(REPLICAS.map((name) => haproxy!.waitForServer(name, 'UP', 10_000)));
}, 90_000);

afterAll(async () => {
  if (measured.length > 0) console.log([...measured, `replica boot times (ms): ${bootTimes.join(', ')}`].join('\n'));
  await haproxy?.close();
  // Killed outright: nothing here needs a graceful exit any more. stop() then only awaits each exit.
  for (const proc of started) if (proc.exit() === undefined) process.kill(proc.pid, 'SIGKILL');
  await Promise.all(started.map((proc) => proc.stop()));
  await deleteRedisNamespace(TEST_REDIS_URL, BASE_ENV.REDIS_KEY_PREFIX, BASE_ENV.CHANGE_STREAM);
  fs.rmSync(DATA_DIR, { recursive: true, force: true });
});

interface Answer {
  status: number;
  servedBy: string | undefined;
  body: { data?: Record<string, unknown>; errors?: unknown[]; extensions?: { gateway?: { entityCacheHits: number } } };
}

/** One GraphQL request on its own connection, to a replica or to the balancer. */
function ask(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<Answer> {
  const body = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    http
      .request(
        url,
        {
          method: 'POST',
          agent: false,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              servedBy: res.headers['x-served-by'] as string | undefined,
              body: JSON.parse(text) as Answer['body'],
            }),
          );
        },
      )
      .on('error', reject)
      .end(body);
  });
}
const replicaUrl = (name: ReplicaName) => `http://127.0.0.1:${ports[name]}/graphql`;

interface Outcome {
  method: 'GET' | 'POST';
  startedAt: number;
  /** A 200 with the data asked for. */
  ok: boolean;
  /** The replica that answered (HAProxy's x-served-by), when one did. */
  servedBy: string | undefined;
  /** The status and start of the body, or the socket error's code. */
  detail: string;
}

// Answered from the shared entity cache: the load exercises the balancer and the replicas, and leaves the CPU
// of this small machine to the replicas that start while it runs.
const LOAD_QUERY = '{ product(sku: "SKU-0001") { sku name priceCents stock } }';

/**
 * `clients` keep-alive clients through the balancer, each sending one query after the other: half as GET (which
 * HAProxy may replay on another replica), half as POST (which it must not). `inFlight()` is what the clients are
 * waiting for right now; `waitFor` resolves once `count` more outcomes pass `filter`.
 */
function startLoad(url: string, clients: number) {
  const outcomes: Outcome[] = [];
  const inFlight = new Set<{ method: Outcome['method']; startedAt: number }>();
  const waiters = new Set<{ filter: (outcome: Outcome) => boolean; remaining: number; done: () => void }>();
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  let stopped = false;
  const postBody = JSON.stringify({ query: LOAD_QUERY });
  const getUrl = `${url}?query=${encodeURIComponent(LOAD_QUERY)}`;
  const once = (method: Outcome['method']) =>
    new Promise<Outcome>((resolve) => {
      const request = { method, startedAt: Date.now() };
      inFlight.add(request);
      const finish = (ok: boolean, detail: string, servedBy?: string) => {
        inFlight.delete(request);
        resolve({ method, startedAt: request.startedAt, ok, detail, servedBy });
      };
      const req = http.request(
        method === 'GET' ? getUrl : url,
        {
          method,
          agent,
          // A GET needs a header a browser form cannot send (Apollo's CSRF prevention).
          headers:
            method === 'GET'
              ? { 'apollo-require-preflight': 'true' }
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(postBody) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const ok = res.statusCode === 200 && !text.includes('"errors"') && text.includes('"product"');
            finish(
              ok,
              `HTTP ${res.statusCode} ${text.slice(0, 120)}`,
              res.headers['x-served-by'] as string | undefined,
            );
          });
          res.on('error', (error: NodeJS.ErrnoException) =>
            finish(false, `cut mid-response: ${error.code ?? error.message}`),
          );
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => finish(false, error.code ?? error.message));
      req.end(method === 'POST' ? postBody : undefined);
    });
  const loops = Array.from({ length: clients }, async (_, index) => {
    const method = index % 2 === 0 ? 'GET' : 'POST';
    while (!stopped) {
      const outcome = await once(method);
      outcomes.push(outcome);
      for (const waiter of [...waiters]) {
        if (waiter.filter(outcome) && --waiter.remaining <= 0) waiter.done();
      }
      // A failure comes back at once; do not spin on it.
      if (!outcome.ok) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  /** Outcomes counted by who answered and how, for failure messages. */
  const summary = () => {
    const counts = new Map<string, number>();
    for (const outcome of outcomes) {
      const key = `${outcome.servedBy ?? 'nobody'} ${outcome.ok ? 'ok' : outcome.detail.slice(0, 60)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return JSON.stringify(Object.fromEntries(counts));
  };
  return {
    outcomes,
    summary,
    inFlight: () => [...inFlight],
    waitFor(description: string, count: number, filter: (outcome: Outcome) => boolean, timeoutMs: number) {
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new Error(
              `load: still ${waiter.remaining} of ${count} ${description} after ${timeoutMs} ms; so far ${summary()}`,
            ),
          );
        }, timeoutMs);
        const waiter = {
          filter,
          remaining: count,
          done: () => {
            waiters.delete(waiter);
            clearTimeout(timer);
            resolve();
          },
        };
        waiters.add(waiter);
      });
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

const failuresOf = (outcomes: Outcome[]) => outcomes.filter((outcome) => !outcome.ok);
const totals = (stats: ServerStat[]) => ({
  retries: stats.reduce((sum, server) => sum + server.retries, 0),
  redispatches: stats.reduce((sum, server) => sum + server.redispatches, 0),
});
/** Waits until each replica has answered 20 of the load's requests: the load is under way everywhere. */
const everyReplicaAnswers = (load: ReturnType<typeof startLoad>, timeoutMs: number) =>
  Promise.all(
    REPLICAS.map((name) =>
      load.waitFor(`answers from ${name}`, 20, (outcome) => outcome.ok && outcome.servedBy === name, timeoutMs),
    ),
  );

describe('three gateway replicas behind HAProxy', () => {
  it('serves a write through one replica fresh from every replica, read through the balancer', async () => {
    const sku = 'SKU-0042';
    const STOCK = 'query($sku: ID!) { product(sku: $sku) { sku stock } }';
    const stockOf = (answer: Answer) => (answer.body.data!.product as { stock: number }).stock;
    // Each replica has read it, the second read from the shared entity cache: a stale entry is there to serve.
    const before = stockOf(await ask(replicaUrl('r1'), STOCK, { sku }));
    for (const name of REPLICAS) {
      const warm = await ask(replicaUrl(name), STOCK, { sku });
      expect(stockOf(warm)).toBe(before);
      expect(warm.body.extensions!.gateway!.entityCacheHits).toBeGreaterThan(0);
    }

    const write = await ask(
      replicaUrl('r1'),
      `mutation($sku: ID!) { restock(sku: $sku, quantity: 7) { stock } }`,
      { sku },
      adminToken(),
    );
    expect(write.body.errors).toBeUndefined();
    const after = before + 7;
    expect((write.body.data!.restock as { stock: number }).stock).toBe(after);

    // Round robin: with nothing else in flight, six reads are two from each replica.
    const reads: Answer[] = [];
    for (let index = 0; index < 2 * REPLICAS.length; index++) reads.push(await ask(haproxy!.url, STOCK, { sku }));
    expect(reads.map((read) => read.servedBy).sort()).toEqual(['r1', 'r1', 'r2', 'r2', 'r3', 'r3']);
    expect(reads.map(stockOf)).toEqual(reads.map(() => after));
    measured.push(
      `fresh read: ${reads.length} reads through HAProxy after a write through r1, every replica answered, 0 stale`,
    );
  }, 30_000);

  it('loses no request in a rolling restart under load (SIGTERM, drain, replacement, one replica at a time)', async () => {
    const load = startLoad(haproxy!.url, CLIENTS);
    const exits: string[] = [];
    const outOfRotation: number[] = [];
    const startedAt = Date.now();
    try {
      await everyReplicaAnswers(load, 20_000);
      const before = totals(await haproxy!.stats());
      for (const name of REPLICAS) {
        const old = replicas[name];
        // SIGTERM: /readyz turns 503 at once and the replica keeps answering what still reaches it until DRAIN_MS
        // is over. HAProxy must take it out of rotation before then, or requests would meet a closed port (and be
        // retried elsewhere: safe, but it means the checks are too slow for the drain).
        const stopping = old.stop();
        const signalledAt = Date.now();
        await haproxy!.waitForServer(name, 'DOWN', DRAIN_MS);
        outOfRotation.push(Date.now() - signalledAt);
        await stopping;
        exits.push(`${name}: ${old.exit()!}`);
        expect(old.exit()).toBe('exited with code 0');
        await startReplica(name);
        const readyAt = Date.now();
        await haproxy!.waitForServer(name, 'UP', 10_000);
        await load.waitFor(
          `answers from the new ${name}`,
          10,
          (outcome) => outcome.ok && outcome.servedBy === name && outcome.startedAt >= readyAt,
          10_000,
        );
      }
      await load.stop();
      const after = totals(await haproxy!.stats());
      const failures = failuresOf(load.outcomes);
      measured.push(
        `rolling restart of r1, r2, r3 (DRAIN_MS=${DRAIN_MS}, checks every ${CHECK_INTERVAL_MS} ms, ${CLIENTS} clients): ` +
          `${load.outcomes.length} requests in ${((Date.now() - startedAt) / 1000).toFixed(1)} s, ${failures.length} failed; ` +
          `HAProxy marked each replica down ${outOfRotation.join(', ')} ms after its SIGTERM, ` +
          `retried ${after.retries - before.retries} and redispatched ${after.redispatches - before.redispatches}; ${exits.join(', ')}`,
      );
      expect(failures).toEqual([]);
    } finally {
      await load.stop();
    }
  }, 90_000);

  it('loses at most the POSTs a replica held when it is SIGKILLed under load, and no GET at all', async () => {
    const load = startLoad(haproxy!.url, CLIENTS);
    try {
      await everyReplicaAnswers(load, 20_000);
      expect(failuresOf(load.outcomes)).toEqual([]);
      const before = totals(await haproxy!.stats());

      const heldAtKill = load.inFlight();
      const killedAt = Date.now();
      process.kill(replicas.r2.pid, 'SIGKILL');
      await replicas.r2.stop(); // only awaits the exit: the process is already gone
      // Its exit is reported after the kernel has closed its sockets. Until then, connections to it still took
      // bytes: a request forwarded in that window (the sockets of a large process close a few ms after the
      // signal) was accepted by nobody who will answer.
      const goneAt = Date.now();
      expect(replicas.r2.exit()).toBe('killed by SIGKILL');
      await haproxy!.waitForServer('r2', 'DOWN', 5_000);
      const downAt = Date.now();
      // Serving on two: every client has been answered a few more times.
      await load.waitFor(
        'answers after r2 was marked down',
        10 * CLIENTS,
        (outcome) => outcome.ok && outcome.startedAt >= downAt,
        20_000,
      );
      await load.stop();

      const after = totals(await haproxy!.stats());
      const failures = failuresOf(load.outcomes);
      const heldPosts =
        heldAtKill.filter((request) => request.method === 'POST').length +
        load.outcomes.filter(
          (outcome) => outcome.method === 'POST' && outcome.startedAt >= killedAt && outcome.startedAt <= goneAt,
        ).length;
      measured.push(
        `SIGKILL of r2 (${CLIENTS} keep-alive clients, half GET, half POST): ${load.outcomes.length} requests, ` +
          `${failures.length} failed (${failures.filter((outcome) => outcome.method === 'POST').length} POST, ` +
          `${failures.filter((outcome) => outcome.method === 'GET').length} GET; ` +
          `${failures.filter((outcome) => outcome.startedAt > killedAt).length} of them sent after the kill, ` +
          `${failures.filter((outcome) => outcome.startedAt > goneAt).length} after the process was gone ${goneAt - killedAt} ms later), ` +
          `${heldAtKill.length} in flight on all replicas at the kill, ${heldPosts} POSTs in flight from the kill until it was gone; ` +
          `HAProxy marked r2 down ${downAt - killedAt} ms after the kill, ` +
          `retried ${after.retries - before.retries} and redispatched ${after.redispatches - before.redispatches}; ` +
          `failures: ${[...new Set(failures.map((outcome) => outcome.detail.slice(0, 40)))].join(' | ') || 'none'}`,
      );
      // A POST may have been a mutation the dead replica applied: it is not replayed, its client sees the failure.
      // Only requests the replica could have held can fail, so never more than the POSTs in flight while it died
      // (at most the CLIENTS / 2 POST clients); a GET (a query: mutations over GET are refused) is replayed on
      // another replica.
      expect(failures.length).toBeLessThanOrEqual(heldPosts);
      expect(failures.filter((outcome) => outcome.method === 'GET')).toEqual([]);
    } finally {
      await load.stop();
    }
  }, 60_000);
});
