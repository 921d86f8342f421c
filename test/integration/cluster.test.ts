/**
 * GATEWAY_WORKERS=2 over real processes: the gateway started from its TypeScript entry point becomes a cluster
 * primary with two workers on one port. Requests reach both (each `/healthz` names the worker's pid outside
 * production), `/metrics` on METRICS_PORT is the sum over both, a worker killed is replaced while the port keeps
 * answering, and SIGTERM stops everything with exit 0. Every process started here is killed in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { freePort } from '../../bench/processes';

const ROOT = path.resolve(__dirname, '..', '..');

interface LogLine {
  msg: string;
  [field: string]: unknown;
}

interface Primary {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves with the `count`-th log line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number, count?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startPrimary(env: Record<string, string>): Primary {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', path.join(ROOT, 'gateway', 'index.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_FORMAT: 'json',
      JWT_SECRET: 'cluster-test-jwt-secret-0123456789',
      SERVICE_SECRET: 'cluster-test-service-secret-0123456789',
      GATEWAY_PORT: '0',
      SUPERGRAPH_WATCH: 'false',
      RATE_LIMIT: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  const take = (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const text of complete.filter((line) => line.trim() !== '')) {
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ msg: text });
      }
    }
    for (const waiter of [...waiters]) waiter();
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      gone = true;
      resolve({ code, signal });
      for (const waiter of [...waiters]) waiter();
    }),
  );
  const output = () =>
    lines
      .slice(-30)
      .map((line) => line.msg)
      .join('\n');
  return {
    child,
    lines,
    exited,
    waitForLine: (pattern, timeoutMs, count = 1) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const matching = lines.filter((line) => pattern.test(line.msg));
          if (matching.length < count && !gone) return;
          waiters.delete(check);
          clearTimeout(timer);
          if (matching.length >= count) resolve(matching[count - 1]!);
          else reject(new Error(`the gateway exited without logging ${pattern}:\n${output()}`));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the gateway did not log ${pattern} (${count}) within ${timeoutMs} ms:\n${output()}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
  };
}

/** One request on a connection of its own, so that the primary hands each to the next worker. */
function request(port: number, pathname: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: pathname,
        method: body === undefined ? 'GET' : 'POST',
        agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const healthPid = async (port: number) => {
  const { status, text } = await request(port, '/healthz');
  expect(status).toBe(200);
  return (JSON.parse(text) as { pid: number }).pid;
};

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('GATEWAY_WORKERS=2', () => {
  let primary: Primary | undefined;
  const workerPids = new Set<number>();
  let port = 0;
  let metricsPort = 0;

  beforeAll(async () => {
    metricsPort = await freePort();
    primary = startPrimary({ GATEWAY_WORKERS: '2', METRICS_PORT: String(metricsPort) });
    const listening = await primary.waitForLine(/2 workers listening on/, 60_000);
    port = Number(/:(\d+)\/graphql/.exec(listening.msg)![1]);
  }, 70_000);

  afterAll(async () => {
    for (const pid of workerPids) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    if (primary && primary.child.exitCode === null && primary.child.signalCode === null) {
      primary.child.kill('SIGKILL');
      await primary.exited;
    }
  });

  it('warns that the workers share nothing without Redis', () => {
    expect(primary!.lines.some((line) => /2 workers without Redis/.test(line.msg))).toBe(true);
  });

  it('answers on one port from two worker processes', async () => {
    const seen = new Set<number>();
    for (let attempt = 0; attempt < 20 && seen.size < 2; attempt++) seen.add(await healthPid(port));
    expect(seen.size).toBe(2);
    expect(seen.has(primary!.child.pid!)).toBe(false);
    for (const pid of seen) workerPids.add(pid);
  });

  it('serves on METRICS_PORT the sum of every worker’s metrics', async () => {
    const query = JSON.stringify({ query: '{ __typename }' });
    const answers = await Promise.all(Array.from({ length: 6 }, () => request(port, '/graphql', query)));
    expect(answers.map(({ status }) => status)).toEqual([200, 200, 200, 200, 200, 200]);
    const { status, text } = await request(metricsPort, '/metrics');
    expect(status).toBe(200);
    const series = /^gateway_http_requests_total\{route="\/graphql",status="200"\} (\d+)$/m.exec(text);
    expect(Number(series?.[1])).toBe(6);
  });

  it('replaces a worker that dies, and the port keeps answering meanwhile', async () => {
    const [victim] = [...workerPids];
    process.kill(victim!, 'SIGKILL');
    await primary!.waitForLine(new RegExp(`worker ${victim} died`), 10_000);
    // The other worker answers alone until the replacement listens, and a scrape meanwhile does not wait for
    // the replacement, which cannot answer while it starts.
    expect(await healthPid(port)).not.toBe(victim);
    await primary!.waitForLine(/^worker \d+ started$/, 10_000, 3);
    const scrape = await request(metricsPort, '/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.text).toMatch(/^gateway_http_requests_total\{route="\/graphql",status="200"\} \d+$/m);
    await primary!.waitForLine(/2 workers listening on/, 60_000, 2);
    const seen = new Set<number>();
    for (let attempt = 0; attempt < 20 && seen.size < 2; attempt++) seen.add(await healthPid(port));
    expect(seen.size).toBe(2);
    expect(seen.has(victim!)).toBe(false);
    for (const pid of seen) workerPids.add(pid);
  }, 70_000);

  it('drains every worker on SIGTERM and exits 0 once they have', async () => {
    primary!.child.kill('SIGTERM');
    expect(await primary!.exited).toEqual({ code: 0, signal: null });
    expect([...workerPids].filter(isRunning)).toEqual([]);
    expect(primary!.lines.filter((line) => /^shut down in/.test(line.msg))).toHaveLength(2);
  }, 30_000);
});

describe('GATEWAY_WORKERS=2 without METRICS_PORT', () => {
  let primary: Primary | undefined;
  let port = 0;

  beforeAll(async () => {
    primary = startPrimary({ GATEWAY_WORKERS: '2' });
    const listening = await primary.waitForLine(/2 workers listening on/, 60_000);
    port = Number(/:(\d+)\/graphql/.exec(listening.msg)![1]);
  }, 70_000);

  afterAll(async () => {
    if (primary && primary.child.exitCode === null && primary.child.signalCode === null) {
      primary.child.kill('SIGKILL');
      await primary.exited;
    }
  });

  it('answers /metrics on the public port with every worker’s, whichever worker is asked', async () => {
    const query = JSON.stringify({ query: '{ __typename }' });
    for (let index = 0; index < 4; index++) expect((await request(port, '/graphql', query)).status).toBe(200);
    for (let scrape = 0; scrape < 2; scrape++) {
      const { text } = await request(port, '/metrics');
      expect(/^gateway_http_requests_total\{route="\/graphql",status="200"\} (\d+)$/m.exec(text)?.[1]).toBe('4');
    }
  });

  it('forwards SIGHUP to every worker, each reloading the supergraph', async () => {
    primary!.child.kill('SIGHUP');
    await primary!.waitForLine(/^supergraph reloaded$/, 30_000, 2);
    primary!.child.kill('SIGTERM');
    expect(await primary!.exited).toEqual({ code: 0, signal: null });
  }, 40_000);
});
