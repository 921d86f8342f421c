/**
 * HAProxy (the Debian package) in front of gateway replicas, for tests: a config generated into a temp dir, the
 * process in the foreground, and its view of each server read from the admin socket, so a test waits on what the
 * load balancer believes rather than on a timer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../bench/processes';

export interface HaproxyServer {
  name: string;
  port: number;
}

export interface HaproxyOptions {
  servers: HaproxyServer[];
  /** Health check period. Must be well under the replicas' DRAIN_MS so a draining replica leaves in time. */
  checkIntervalMs: number;
}

/** One server's line of `show stat`, the fields the tests read. */
export interface ServerStat {
  name: string;
  /** `UP`, `DOWN`, or a transition such as `UP 1/2` or `DOWN 1/2`. */
  status: string;
  /** The last health check's result, e.g. `L7OK`, `L7STS` (an unexpected status), `L4CON` (refused). */
  checkStatus: string;
  /** Times a request was retried after failing on it, and times one was moved from it to another server. */
  retries: number;
  redispatches: number;
}

export interface Haproxy {
  /** The GraphQL endpoint behind the balancer. */
  url: string;
  stats(): Promise<ServerStat[]>;
  /** Resolves once HAProxy reports `status` for the server with a health check that agrees. */
  waitForServer(name: string, status: 'UP' | 'DOWN', timeoutMs: number): Promise<ServerStat>;
  close(): Promise<void>;
}

/** Fails with how to install HAProxy when it is not on PATH. */
export async function requireHaproxy(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('haproxy', ['-v'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `This test needs HAProxy: \`haproxy\` is not on PATH (${error.code ?? error.message}). Install the Debian ` +
            'package haproxy: apt-get -o DPkg::Lock::Timeout=600 install -y haproxy (it is /usr/sbin/haproxy).',
        ),
      ),
    );
    child.once('exit', () => resolve(out.split('\n')[0] ?? ''));
  });
}

/**
 * The balancer's config. Requests are retried only where a retry cannot apply a write twice:
 *  - `conn-failure` for every request: the connection was refused (a replica that stopped listening or died),
 *    so the request never reached a gateway;
 *  - `empty-response` (the connection closed with nothing received: the replica died while it had the request)
 *    only for GET. A gateway refuses a mutation over GET (405), so a GET is a query and replaying it is harmless.
 *    A POST may carry a mutation such as placeOrder: the dead replica may have applied it before dying, and
 *    HAProxy cannot tell a query from a mutation without parsing GraphQL, so a POST is never replayed; its
 *    client sees the failure (a reset connection, in the replicas test) and decides: replaying a mutation
 *    safely would need an idempotency key, which the API does not have.
 *  - never `response-timeout`: a slow query is usually slow everywhere, and replaying it multiplies the load.
 * `option redispatch 1` sends every retry to another server rather than back to the one that failed.
 */
export function haproxyConfig(options: HaproxyOptions & { port: number; adminSocket: string }): string {
  const inter = options.checkIntervalMs;
  return [
    'global',
    '    nbthread 1',
    '    maxconn 2000',
    `    stats socket ${options.adminSocket} mode 600 level admin`,
    '',
    'defaults',
    '    mode http',
    '    timeout connect 1s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-keep-alive 30s',
    '    timeout check 1s',
    '',
    'frontend graphql',
    `    bind 127.0.0.1:${options.port}`,
    '    default_backend gateways',
    '',
    'backend gateways',
    '    balance roundrobin',
    '    option httpchk GET /readyz',
    '    http-check expect status 200',
    // Idle server connections serve a client's later requests, never its first (safe): the reuse races that
    // remain are those any keep-alive client has.
    '    http-reuse safe',
    '    retries 3',
    '    option redispatch 1',
    '    retry-on conn-failure empty-response',
    '    http-request disable-l7-retry unless METH_GET',
    '    http-response set-header x-served-by %[srv_name]',
    // Down after two failed checks (the second one `fastinter` later), up after two passed ones.
    `    default-server inter ${inter}ms fastinter ${Math.max(10, Math.round(inter / 2))}ms downinter ${inter}ms fall 2 rise 2`,
    ...options.servers.map((server) => `    server ${server.name} 127.0.0.1:${server.port} check`),
    '',
  ].join('\n');
}

/** Starts HAProxy in the foreground on a free port; resolves once its admin socket answers. */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  await requireHaproxy();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fedgw-haproxy-'));
  const adminSocket = path.join(dir, 'admin.sock');
  const port = await freePort();
  const configPath = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(configPath, haproxyConfig({ ...options, port, adminSocket }));

  const child: ChildProcess = spawn('haproxy', ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exitDescription: string | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
      resolve();
    }),
  );

  const command = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.createConnection(adminSocket);
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.once('error', reject);
      socket.once('end', () => resolve(answer));
      socket.end(`${text}\n`);
    });
  const stats = async (): Promise<ServerStat[]> => {
    const [header, ...rows] = (await command('show stat')).split('\n').filter((line) => line.trim() !== '');
    const columns = (header ?? '').replace(/^# /, '').split(',');
    const at = (name: string) => columns.indexOf(name);
    return rows
      .map((row) => row.split(','))
      .filter(
        (fields) => fields[at('pxname')] === 'gateways' && !['FRONTEND', 'BACKEND'].includes(fields[at('svname')]!),
      )
      .map((fields) => ({
        name: fields[at('svname')]!,
        status: fields[at('status')]!,
        checkStatus: fields[at('check_status')]!,
        retries: Number(fields[at('wretr')]),
        redispatches: Number(fields[at('wredis')]),
      }));
  };

  const close = async () => {
    if (exitDescription === undefined) child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };

  // HAProxy prints nothing when it is up; its admin socket answering is the signal. Bounded, and it stops early
  // when HAProxy exits (a config error, a port taken).
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exitDescription !== undefined) {
      await close();
      throw new Error(`haproxy ${exitDescription} at start:\n${output}`);
    }
    if (
      await stats().then(
        () => true,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`haproxy's admin socket did not answer within 10 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  return {
    url: `http://127.0.0.1:${port}/graphql`,
    stats,
    async waitForServer(name, status, timeoutMs) {
      const expectedCheck = status === 'UP' ? /^L7OK/ : /^(L4|L6|L7(?!OK))/;
      const started = Date.now();
      for (;;) {
        const server = (await stats()).find((candidate) => candidate.name === name);
        if (!server) throw new Error(`haproxy has no server ${name}`);
        if (server.status === status && expectedCheck.test(server.checkStatus)) return server;
        if (Date.now() - started > timeoutMs)
          throw new Error(
            `haproxy still reports ${name} as ${server.status} (${server.checkStatus}) after ${timeoutMs} ms, not ${status}`,
          );
        // The admin socket is the source of truth; a check every `checkIntervalMs`, so look a few times as often.
        await new Promise((resolve) => setTimeout(resolve, Math.max(10, Math.round(options.checkIntervalMs / 4))));
      }
    },
    close,
  };
}
