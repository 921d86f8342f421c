/**
 * The bench's child processes: the subgraphs and every target run as processes of their own, so that each one's
 * CPU and memory can be read from /proc, and so that none of them shares an event loop with the load generator.
 * Every process started here is stopped by its pid when the bench ends, however it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export interface ProcessSpec {
  name: string;
  /** A compiled entry point, run with this Node. */
  entry: string;
  args?: string[];
  /** Options for Node itself, before the entry (e.g. `['-r', '@swc-node/register']` to run TypeScript). */
  nodeOptions?: string[];
  env: NodeJS.ProcessEnv;
}

export interface ManagedProcess {
  name: string;
  pid: number;
  /** Undefined while it runs; how it ended otherwise. */
  exit(): string | undefined;
  /** The last lines it wrote, for error messages. */
  logTail(): string;
  /** How many non-empty lines it has written so far (stdout and stderr). */
  linesWritten(): number;
  stop(): Promise<void>;
}

const LOG_LINES_KEPT = 30;
const running = new Map<number, ChildProcess>();

export function startProcess(spec: ProcessSpec): ManagedProcess {
  const child = spawn(process.execPath, [...(spec.nodeOptions ?? []), spec.entry, ...(spec.args ?? [])], {
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${spec.name}: could not start ${spec.entry}`);
  const pid = child.pid;
  running.set(pid, child);
  const lines: string[] = [];
  let written = 0;
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      written++;
      lines.push(line.length > 400 ? `${line.slice(0, 400)}...` : line);
      if (lines.length > LOG_LINES_KEPT) lines.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exitDescription: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitDescription = signal ? `killed by ${signal}` : `exited with code ${code}`;
      running.delete(pid);
      resolve();
    });
  });
  return {
    name: spec.name,
    pid,
    exit: () => exitDescription,
    logTail: () => lines.join('\n'),
    linesWritten: () => written,
    async stop() {
      if (exitDescription !== undefined) return;
      child.kill('SIGTERM');
      const forced = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(forced);
    },
  };
}

/** Last resort on the way out (a crash, Ctrl-C): kill whatever this bench started and is still running. */
export function killStartedProcesses(): void {
  for (const child of running.values()) child.kill('SIGKILL');
  running.clear();
}

/** A TCP port free on 127.0.0.1 right now (the kernel's choice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

/**
 * Polls `probe` until it answers true, the process exits, or the deadline passes; bounded by `timeoutMs`.
 */
export async function waitUntilReady(process: ManagedProcess, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const exit = process.exit();
    if (exit !== undefined) throw new Error(`${process.name} ${exit} before it was ready:\n${process.logTail()}`);
    if (await probe().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${process.name} was not ready after ${timeoutMs / 1000} s:\n${process.logTail()}`);
}

/** True when `url` answers 2xx to a GET. */
export async function answersGet(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await response.arrayBuffer();
  return response.ok;
}

/** True when a GraphQL endpoint answers `{ __typename }` with data. */
export async function answersGraphQL(url: string): Promise<boolean> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"query":"{ __typename }"}',
    signal: AbortSignal.timeout(2000),
  });
  const text = await response.text();
  return response.ok && text.includes('"data"');
}
