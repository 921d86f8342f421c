/**
 * Graceful shutdown and `npm start`, over real processes: the gateway, the subgraphs and the supervisor each run
 * as a child process from their TypeScript entry points, on ports picked free, and are sent real signals.
 * Every process started here is killed in afterAll, whatever happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { freePort } from '../../bench/processes';
import { ANONYMOUS, callerHeaders } from '../../lib/identity';

const ROOT = path.resolve(__dirname, '..', '..');
const SECRETS = {
  JWT_SECRET: 'shutdown-test-jwt-secret-0123456789',
  SERVICE_SECRET: 'shutdown-test-service-secret-0123456789',
};
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DATA_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-shutdown-'));

interface LogLine {
  time: number;
  service?: string;
  msg: string;
  [field: string]: unknown;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  at: number;
}

/** A child process whose JSON log lines are kept, with bounded waits on its lines and its exit. */
interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  lines: LogLine[];
  /** Everything it wrote, for failure messages. */
  output(): string;
  exited: Promise<Exit>;
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<LogLine>;
  waitForExit(timeoutMs: number): Promise<Exit>;
}

const processes: Proc[] = [];
/** Processes started by the supervisor, killed in afterAll too. */
const grandchildren = new Set<number>();

function run(name: string, entry: string, env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(ROOT, entry)], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_FORMAT: 'json',
      ...SECRETS,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  const take = (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const text of complete) {
      if (text.trim() === '') continue;
      raw.push(text);
      try {
        const parsed = JSON.parse(text) as Record<string, unknown>;
        lines.push({ ...parsed, msg: String(parsed.msg), time: Date.parse(String(parsed.time)) } as LogLine);
      } catch {
        lines.push({ msg: text, time: Date.now() });
      }
    }
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal, at: Date.now() });
      for (const waiter of [...waiters]) waiter();
    }),
  );
  let exit: Exit | undefined;
  void exited.then((value) => (exit = value));
  const output = () => raw.slice(-40).join('\n');
  const proc: Proc = {
    name,
    pid: child.pid!,
    child,
    lines,
    output,
    exited,
    waitForLine(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = lines.find((candidate) => pattern.test(candidate.msg));
          if (!line && exit === undefined) return;
          waiters.delete(check);
          clearTimeout(timer);
          if (line) resolve(line);
          else
            reject(
              new Error(`${name} exited (${exit?.code ?? exit?.signal}) without logging ${pattern}:\n${output()}`),
            );
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${name} did not log ${pattern} within ${timeoutMs} ms:\n${output()}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    waitForExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        exited.finally(() => clearTimeout(timer)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${name} still running after ${timeoutMs} ms:\n${output()}`)),
            timeoutMs,
          );
        }),
      ]);
    },
  };
  processes.push(proc);
  return proc;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Responses received from one server, to be checked against the requests it says it received. */
interface Tally {
  responses: number;
}

/** One request on a fresh connection, counted in `tally` when answered. */
function requestFresh(
  url: string,
  options: { method?: string; body?: string; tally?: Tally } = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const headers = options.body === undefined ? {} : { 'content-type': 'application/json' };
    http
      .request(url, { method: options.method ?? 'GET', agent: false, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (options.tally) options.tally.responses++;
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      })
      .on('error', reject)
      .end(options.body);
  });
}

/** Polls `url` until it answers 200; bounded. */
async function waitUntilOk(url: string, timeoutMs: number, tally?: Tally): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await requestFresh(url, { tally }).catch(() => undefined);
    if (response?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A TCP proxy in front of a real server. `blackhole()` makes it a peer that went silent: open connections stay
 * open but nothing more is forwarded either way, and new connections are accepted and never answered.
 * `swallowed` resolves when the first bytes sent after that have been dropped.
 */
async function startBlackholeProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let silent = false;
  let markSwallowed!: () => void;
  const swallowed = new Promise<void>((resolve) => (markSwallowed = resolve));
  // Half-open allowed: a peer that went silent does not answer a FIN either.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.on('error', () => undefined);
    client.on('close', () => sockets.delete(client));
    if (silent) return;
    const upstream = net.connect(target.port, target.host);
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => sockets.delete(upstream));
    client.on('data', (chunk) => (silent ? markSwallowed() : upstream.write(chunk)));
    upstream.on('data', (chunk) => void (silent || client.write(chunk)));
    client.on('end', () => silent || upstream.end());
    upstream.on('end', () => silent || client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    blackhole() {
      silent = true;
    },
    swallowed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Outcome {
  startedAt: number;
  /** An HTTP response arrived, whatever it said. */
  answered: boolean;
  /** It was a 200 with the data asked for. */
  ok: boolean;
  /** The response's Connection header, or the error's code. */
  detail: string;
}

/** `clients` keep-alive clients, each sending one request after the other until stopped. */
function startLoad(url: string, body: string, clients: number) {
  const outcomes: Outcome[] = [];
  let stopped = false;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const once = () =>
    new Promise<Outcome>((resolve) => {
      const startedAt = Date.now();
      const req = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const ok = res.statusCode === 200 && !text.includes('"errors"') && text.includes('"products"');
            const detail = ok ? String(res.headers.connection) : `HTTP ${res.statusCode} ${text.slice(0, 200)}`;
            resolve({ startedAt, answered: true, ok, detail });
          });
          res.on('error', (error: NodeJS.ErrnoException) =>
            resolve({
              startedAt,
              answered: false,
              ok: false,
              detail: `cut mid-response: ${error.code ?? error.message}`,
            }),
          );
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) =>
        resolve({ startedAt, answered: false, ok: false, detail: error.code ?? error.message }),
      );
      req.end(body);
    });
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      const outcome = await once();
      outcomes.push(outcome);
      // A refused connection comes back at once; do not spin on it.
      if (!outcome.ok) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  });
  return {
    outcomes,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** Subgraphs shared by the gateway tests, on the embedded database. */
async function startSubgraphs(): Promise<Record<string, string>> {
  const [users, orders, inventory] = await Promise.all([freePort(), freePort(), freePort()]);
  const env = { DATA_DIR, USERS_PORT: String(users), ORDERS_PORT: String(orders), INVENTORY_PORT: String(inventory) };
  const started = [
    run('users', 'subgraphs/users/index.ts', env),
    run('inventory', 'subgraphs/inventory/index.ts', env),
    run('orders', 'subgraphs/orders/index.ts', { ...env, INVENTORY_URL: `http://127.0.0.1:${inventory}/graphql` }),
  ];
  await Promise.all(started.map((proc) => proc.waitForLine(/^listening on/, 30_000)));
  return {
    SUBGRAPH_URL_USERS: `http://127.0.0.1:${users}/graphql`,
    SUBGRAPH_URL_ORDERS: `http://127.0.0.1:${orders}/graphql`,
    SUBGRAPH_URL_INVENTORY: `http://127.0.0.1:${inventory}/graphql`,
  };
}

async function startGateway(subgraphUrls: Record<string, string>, env: Record<string, string>) {
  const port = await freePort();
  const gateway = run('gateway', 'gateway/index.ts', {
    ...subgraphUrls,
    GATEWAY_PORT: String(port),
    RATE_LIMIT: 'false',
    ...env,
  });
  await gateway.waitForLine(/^listening on/, 30_000);
  return { gateway, base: `http://127.0.0.1:${port}` };
}

const QUERY = JSON.stringify({ query: '{ products(first: 5) { edges { node { sku name priceCents } } } }' });

afterAll(async () => {
  for (const proc of processes)
    if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  for (const pid of grandchildren) if (alive(pid)) process.kill(pid, 'SIGKILL');
  await Promise.all(processes.map((proc) => proc.exited));
  fs.rmSync(DATA_DIR, { recursive: true, force: true });
});

describe('graceful shutdown of the gateway', () => {
  let subgraphUrls: Record<string, string>;
  beforeAll(async () => {
    subgraphUrls = await startSubgraphs();
  }, 60_000);

  it('loses no accepted request when SIGTERM arrives under load from 50 keep-alive clients, and exits 0 within drain + timeout', async () => {
    const drainMs = 1000;
    const timeoutMs = 5000;
    const { gateway, base } = await startGateway(subgraphUrls, {
      DRAIN_MS: String(drainMs),
      SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
    });
    const tally: Tally = { responses: 0 };
    await waitUntilOk(`${base}/readyz`, 20_000, tally);
    const load = startLoad(`${base}/graphql`, QUERY, 50);
    try {
      // Under way: every client has been answered a few times.
      const warm = Date.now() + 20_000;
      while (load.outcomes.filter((outcome) => outcome.ok).length < 250 && Date.now() < warm) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(load.outcomes.filter((outcome) => !outcome.ok)).toEqual([]);

      const signalledAt = Date.now();
      gateway.child.kill('SIGTERM');
      const draining = await gateway.waitForLine(/SIGTERM received, draining/, 2_000);
      const readiness = await requestFresh(`${base}/readyz`, { tally });
      expect(readiness.status).toBe(503);
      expect(JSON.parse(readiness.body)).toEqual({ status: 'draining' });
      expect(readiness.headers.connection).toBe('close');

      const closing = await gateway.waitForLine(/^drain over/, drainMs + 2_000);
      const exit = await gateway.waitForExit(drainMs + timeoutMs + 2_000);
      await load.stop();
      const done = await gateway.waitForLine(/^shut down in/, 0);

      const { outcomes } = load;
      const inTransitAtSignal = outcomes.filter((outcome) => outcome.startedAt < signalledAt);
      const duringDrain = outcomes.filter(
        (outcome) => outcome.startedAt >= draining.time && outcome.startedAt < closing.time,
      );
      const unanswered = outcomes.filter((outcome) => !outcome.answered);
      const answered = outcomes.filter((outcome) => outcome.answered);
      console.log(
        `SIGTERM under load (50 keep-alive clients, DRAIN_MS=${drainMs}): the gateway received ${String(done.requestsReceived)} requests ` +
          `and the clients got ${answered.length + tally.responses} answers, ${answered.filter((outcome) => !outcome.ok).length} of them failures; ` +
          `${inTransitAtSignal.length} requests sent before the signal, ${inTransitAtSignal.filter((outcome) => !outcome.ok).length} failed; ` +
          `${duringDrain.length} sent during the drain, ${duringDrain.filter((outcome) => outcome.detail === 'close').length} answered with Connection: close; ` +
          `${unanswered.length} connection attempts never reached the gateway ` +
          `(${unanswered.filter((outcome) => outcome.detail === 'ECONNRESET').length} reset from the accept queue as the listener closed, ` +
          `${unanswered.filter((outcome) => outcome.detail === 'ECONNREFUSED').length} refused after it; ` +
          `${unanswered.filter((outcome) => outcome.startedAt < closing.time).length} of them sent before the listener-close log line); ` +
          `exit code ${exit.code} ${exit.at - signalledAt} ms after the signal`,
      );
      // Every request that reached the gateway was answered, and every answer was a success.
      expect(answered.length + tally.responses).toBe(done.requestsReceived);
      expect(answered.filter((outcome) => !outcome.ok)).toEqual([]);
      // What was not answered never got in: a connection refused, or reset by the kernel from the accept queue
      // when the listening socket closed (a client behind a load balancer retries it elsewhere); never a
      // connection cut after the gateway had taken a request on it.
      expect(
        unanswered.filter((outcome) => outcome.detail !== 'ECONNREFUSED' && outcome.detail !== 'ECONNRESET'),
      ).toEqual([]);
      // The requests in transit when the signal came, keep-alive connections included, were all answered.
      expect(inTransitAtSignal.filter((outcome) => !outcome.ok)).toEqual([]);
      expect(duringDrain.length).toBeGreaterThan(0);
      expect(duringDrain.filter((outcome) => outcome.ok).every((outcome) => outcome.detail === 'close')).toBe(true);
      expect(closing.time - draining.time).toBeGreaterThanOrEqual(drainMs - 5);
      expect(exit.code).toBe(0);
      expect(exit.at - signalledAt).toBeLessThan(drainMs + timeoutMs);
      expect(gateway.lines.some((line) => /^every request answered/.test(line.msg))).toBe(true);
    } finally {
      await load.stop();
    }
  }, 60_000);

  it('exits within drain + SHUTDOWN_TIMEOUT_MS when nothing listens at REDIS_URL, and a second SIGTERM does not restart it', async () => {
    const drainMs = 500;
    const timeoutMs = 2000;
    const nowhere = await freePort();
    const { gateway, base } = await startGateway(subgraphUrls, {
      REDIS_URL: `redis://127.0.0.1:${nowhere}`,
      DRAIN_MS: String(drainMs),
      SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
    });
    expect((await requestFresh(`${base}/graphql`, { method: 'POST', body: QUERY })).status).toBe(200);
    const signalledAt = Date.now();
    gateway.child.kill('SIGTERM');
    await gateway.waitForLine(/SIGTERM received, draining/, 2_000);
    gateway.child.kill('SIGTERM');
    await gateway.waitForLine(/SIGTERM received while shutting down/, 2_000);
    const exit = await gateway.waitForExit(drainMs + timeoutMs + 2_000);
    console.log(
      `gateway, Redis refusing connections: exit code ${exit.code} ${exit.at - signalledAt} ms after SIGTERM (bound ${drainMs + timeoutMs} ms)`,
    );
    expect(exit.at - signalledAt).toBeLessThan(drainMs + timeoutMs);
    expect(exit.code).toBe(0);
    expect(gateway.lines.filter((line) => /received, draining/.test(line.msg))).toHaveLength(1);
  }, 60_000);

  it('exits within drain + SHUTDOWN_TIMEOUT_MS when Redis stops answering on open connections', async () => {
    const drainMs = 500;
    const timeoutMs = 2000;
    const redis = new URL(REDIS_URL);
    const proxy = await startBlackholeProxy({ host: redis.hostname, port: Number(redis.port || 6379) });
    try {
      const { gateway, base } = await startGateway(subgraphUrls, {
        REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
        REDIS_KEY_PREFIX: `shutdown-test-${process.pid}:`,
        CHANGE_STREAM: `shutdown-test-changes-${process.pid}`,
        DRAIN_MS: String(drainMs),
        SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
      });
      expect((await requestFresh(`${base}/graphql`, { method: 'POST', body: QUERY })).status).toBe(200);
      proxy.blackhole();
      const signalledAt = Date.now();
      gateway.child.kill('SIGTERM');
      const exit = await gateway.waitForExit(drainMs + timeoutMs + 2_000);
      console.log(
        `gateway, Redis silent: exit code ${exit.code} ${exit.at - signalledAt} ms after SIGTERM (bound ${drainMs + timeoutMs} ms)`,
      );
      expect(exit.at - signalledAt).toBeLessThan(drainMs + timeoutMs);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});

describe('graceful shutdown of a subgraph', () => {
  it('exits within drain + SHUTDOWN_TIMEOUT_MS when its PostgreSQL stops answering with a query in flight', async () => {
    const drainMs = 500;
    const timeoutMs = 2000;
    const postgres = new URL(DATABASE_URL);
    const proxy = await startBlackholeProxy({ host: postgres.hostname, port: Number(postgres.port || 5432) });
    const prefix = `shutdown_${process.pid}_`;
    const viaProxy = new URL(DATABASE_URL);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    try {
      const port = await freePort();
      // It cannot start without its database, so the database goes silent after start, behind the proxy.
      const users = run('users on PostgreSQL', 'subgraphs/users/index.ts', {
        USERS_PORT: String(port),
        DATABASE_URL: viaProxy.toString(),
        DATABASE_SCHEMA_PREFIX: prefix,
        DATABASE_POOL_SIZE: '3',
        DRAIN_MS: String(drainMs),
        SHUTDOWN_TIMEOUT_MS: String(timeoutMs),
      });
      await users.waitForLine(/^listening on/, 30_000);
      // The readiness probe queries the database, so the pool holds an open connection through the proxy.
      expect((await requestFresh(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      proxy.blackhole();
      // A request whose query now waits for an answer that never comes.
      const body = JSON.stringify({ query: '{ users(first: 2) { edges { node { id name } } } }' });
      const stuck = new Promise<string>((resolve) => {
        http
          .request(
            `http://127.0.0.1:${port}/graphql`,
            {
              method: 'POST',
              agent: false,
              headers: {
                'content-type': 'application/json',
                ...callerHeaders(SECRETS.SERVICE_SECRET, ANONYMOUS, body),
              },
            },
            (res) => resolve(`HTTP ${res.statusCode}`),
          )
          .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message))
          .end(body);
      });
      await proxy.swallowed;

      const signalledAt = Date.now();
      users.child.kill('SIGTERM');
      const exit = await users.waitForExit(drainMs + timeoutMs + 2_000);
      console.log(
        `users subgraph, PostgreSQL silent with a query in flight: exit code ${exit.code} ${exit.at - signalledAt} ms after SIGTERM ` +
          `(bound ${drainMs + timeoutMs} ms); the stuck request got ${await stuck}`,
      );
      expect(exit.at - signalledAt).toBeLessThan(drainMs + timeoutMs);
      // A request was cut: not a clean exit, and the log says what was given up.
      expect(exit.code).toBe(1);
      expect(await stuck).toBe('ECONNRESET');
      const messages = users.lines.map((line) => line.msg);
      expect(messages).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^1 requests still unanswered/),
          expect.stringMatching(/users service .* did not close in time; abandoned/),
          expect.stringMatching(/^shut down in/),
        ]),
      );
    } finally {
      await proxy.close();
      const pool = new Pool({ connectionString: DATABASE_URL, max: 1 });
      try {
        await pool.query(`drop schema if exists "${prefix}users" cascade`);
      } finally {
        await pool.end();
      }
    }
  }, 60_000);
});

describe('npm start (scripts/start.ts)', () => {
  const ports = async () => {
    const [gateway, users, orders, inventory] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    return {
      GATEWAY_PORT: String(gateway),
      USERS_PORT: String(users),
      ORDERS_PORT: String(orders),
      INVENTORY_PORT: String(inventory),
    };
  };

  it('refuses to start when a port it needs is taken, naming the port and the process holding it', async () => {
    const env = await ports();
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(Number(env.ORDERS_PORT), '127.0.0.1', resolve));
    try {
      const supervisor = run('npm start', 'scripts/start.ts', { ...env, DATA_DIR });
      const exit = await supervisor.waitForExit(20_000);
      expect(exit.code).toBe(1);
      const problem = supervisor.lines.find((line) => line.msg.includes(`port ${env.ORDERS_PORT}`));
      expect(problem?.msg).toContain('ORDERS_PORT');
      expect(problem?.msg).toContain(`pid ${process.pid}`);
      expect(supervisor.lines.some((line) => / started$/.test(line.msg))).toBe(false);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  }, 30_000);

  it('prints each PID, passes SIGHUP to the gateway without dying, and stops every service on SIGTERM', async () => {
    // The free ports are picked before the services bind them; another suite running alongside may take one in
    // between (EADDRINUSE, and the supervisor stops everything, as it should). Then: new ports, once more.
    let supervisor!: ReturnType<typeof run>;
    let ready!: Awaited<ReturnType<(typeof supervisor)['waitForLine']>>;
    for (let attempt = 1; ; attempt++) {
      const env = { ...(await ports()), DATA_DIR, DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '3000' };
      supervisor = run('npm start', 'scripts/start.ts', env);
      ready = await supervisor.waitForLine(/^(ready|stopped)$/, 50_000);
      if (ready.msg === 'ready') break;
      const portTaken = supervisor.lines.some((line) => /EADDRINUSE/.test(String(line.msg)));
      if (!portTaken || attempt === 3) throw new Error(`npm start stopped before it was ready (attempt ${attempt})`);
      await supervisor.waitForExit(10_000);
    }
    const pids = ready.pids as Record<string, number>;
    for (const pid of Object.values(pids)) grandchildren.add(pid);
    expect(Object.keys(pids).sort()).toEqual(['gateway', 'inventory', 'orders', 'users']);
    for (const name of Object.keys(pids)) {
      expect(supervisor.lines.find((line) => line.msg === `${name} started`)?.pid).toBe(pids[name]);
    }

    supervisor.child.kill('SIGHUP');
    await supervisor.waitForLine(/supergraph reloaded/, 10_000);
    expect(alive(supervisor.pid)).toBe(true);
    for (const pid of Object.values(pids)) expect(alive(pid)).toBe(true);

    const signalledAt = Date.now();
    supervisor.child.kill('SIGTERM');
    const exit = await supervisor.waitForExit(2 * (3000 + 2000) + 2_000);
    console.log(`npm start: SIGTERM stopped all four services and the supervisor in ${exit.at - signalledAt} ms`);
    expect(exit.code).toBe(0);
    for (const pid of Object.values(pids)) expect(alive(pid)).toBe(false);
    expect(
      supervisor.lines
        .filter((line) => /^shut down in/.test(line.msg))
        .map((line) => line.service)
        .sort(),
    ).toEqual(['gateway', 'inventory', 'orders', 'users']);
  }, 90_000);

  it('stops everything, loudly, when a service dies on its own', async () => {
    const env = { ...(await ports()), DATA_DIR, DRAIN_MS: '0', SHUTDOWN_TIMEOUT_MS: '3000' };
    const supervisor = run('npm start', 'scripts/start.ts', env);
    const ready = await supervisor.waitForLine(/^ready$/, 50_000);
    const pids = ready.pids as Record<string, number>;
    for (const pid of Object.values(pids)) grandchildren.add(pid);

    process.kill(pids.inventory!, 'SIGKILL');
    const exit = await supervisor.waitForExit(2 * (3000 + 2000) + 2_000);
    expect(exit.code).toBe(1);
    expect(supervisor.lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/inventory \(pid \d+\) exited unexpectedly \(killed by SIGKILL\)/),
      ]),
    );
    for (const pid of Object.values(pids)) expect(alive(pid)).toBe(false);
  }, 90_000);
});
