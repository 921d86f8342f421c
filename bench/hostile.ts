/**
 * `npm run hostile`: sends the hostile corpus (bench/hostile-corpus.ts) to a production stack, one request at
 * a time (three times each), and reports what each cost: the gateway's median CPU time and peak memory growth, the
 * answer's status and `extensions.code`, and the subgraphs' peak memory over the whole run. Then one client
 * sends 2,000 requests as fast as it can, to see the rate limit answer. Never fails on a number: it reports
 * the targets (every rejection a 4xx with a code, at most 50 ms of gateway CPU and 50 MB of memory per
 * request, no subgraph over 300 MB, no process dead) and which requests missed them.
 *
 * The stack: the three subgraphs and the gateway as processes of their own (so /proc can measure each),
 * NODE_ENV=production, in-process cache (no Redis), the shipped limits. CPU is read from /proc in clock
 * ticks (10 ms here), so a request under one tick reads as 0 or 10 ms.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/config';
import { messageOf } from '../lib/errors';
import { signHs256 } from '../lib/jwt';
import { projectRoot } from '../lib/paths';
import { hostileCorpus, type HostileRequest } from './hostile-corpus';
import { readCpuMs, readRssBytes, samplePeakRss } from './proc';
import {
  answersGet,
  answersGraphQL,
  freePort,
  killStartedProcesses,
  startProcess,
  waitUntilReady,
  type ManagedProcess,
} from './processes';

const JWT_SECRET = 'hostile-only-jwt-secret-0123456789abcdef';
const SERVICE_SECRET = 'hostile-only-service-secret-0123456789abcdef';
const distRoot = path.resolve(__dirname, '..');
const CPU_TARGET_MS = 50;
const MEMORY_TARGET_BYTES = 50 * 1024 * 1024;
const SUBGRAPH_MEMORY_TARGET_BYTES = 300 * 1024 * 1024;
const BURST = 2_000;

interface Measured {
  name: string;
  category: string;
  bytes: number;
  status: number;
  code: string | undefined;
  cpuMs: number;
  peakGrowthBytes: number;
  wallMs: number;
  problems: string[];
}

const progress = (message: string) => process.stderr.write(`hostile: ${message}\n`);

/** Peak RSS since the last reset (Linux: writing 5 to clear_refs resets VmHWM; needs to own the process). */
function resetPeak(pid: number): void {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Not permitted: the growth is then measured against the process's lifetime peak, an upper bound.
  }
}
function readPeakBytes(pid: number): number {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

async function send(url: string, request: HostileRequest, token: string | undefined) {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...request.headers };
  if (request.asUser && token) headers.authorization = `Bearer ${token}`;
  const target = request.method === 'GET' ? `${url}?${request.search ?? ''}` : url;
  const response = await fetch(target, {
    method: request.method ?? 'POST',
    headers: request.method === 'GET' ? { ...request.headers, 'apollo-require-preflight': 'true' } : headers,
    body: request.method === 'GET' ? undefined : request.body,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await response.text();
  let code: string | undefined;
  try {
    const parsed = JSON.parse(text) as { errors?: { extensions?: { code?: unknown } }[] };
    const first = parsed.errors?.[0]?.extensions?.code;
    code = typeof first === 'string' ? first : undefined;
  } catch {
    code = undefined;
  }
  return { status: response.status, code, text };
}

async function main(): Promise<void> {
  const corpus = hostileCorpus();
  const tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-hostile-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    LOG_LEVEL: 'error',
    HOST: '127.0.0.1',
    JWT_SECRET,
    SERVICE_SECRET,
    DATA_DIR: path.join(tempDir, 'data'),
  };
  const processes: ManagedProcess[] = [];
  try {
    const ports = {} as Record<SubgraphName, number>;
    for (const name of SUBGRAPH_NAMES) ports[name] = await freePort();
    const subgraphEnv = {
      ...env,
      USERS_PORT: String(ports.users),
      ORDERS_PORT: String(ports.orders),
      INVENTORY_PORT: String(ports.inventory),
      INVENTORY_URL: `http://127.0.0.1:${ports.inventory}/graphql`,
    };
    const subgraphs = new Map<SubgraphName, ManagedProcess>();
    for (const name of SUBGRAPH_NAMES) {
      const child = startProcess({ name, entry: path.join(distRoot, 'subgraphs', name, 'index.js'), env: subgraphEnv });
      processes.push(child);
      subgraphs.set(name, child);
      await waitUntilReady(child, () => answersGet(`http://127.0.0.1:${ports[name]}/readyz`), 90_000);
    }
    const supergraph = fs
      .readFileSync(path.join(projectRoot, 'schema', 'supergraph.graphql'), 'utf8')
      .replace(
        /@join__graph\(name: "([^"]+)", url: "[^"]*"\)/g,
        (_match, name: string) =>
          `@join__graph(name: "${name}", url: "http://127.0.0.1:${ports[name as SubgraphName]}/graphql")`,
      );
    const supergraphPath = path.join(tempDir, 'supergraph.graphql');
    fs.writeFileSync(supergraphPath, supergraph);
    // The corpus goes to a gateway whose rate limit its one client never reaches, so that every request is
    // handled (and measured) for what it is; the burst goes to one with the shipped limits.
    const startGateway = async (name: string, extra: NodeJS.ProcessEnv) => {
      const port = await freePort();
      const child = startProcess({
        name,
        entry: path.join(distRoot, 'gateway', 'index.js'),
        env: { ...env, GATEWAY_PORT: String(port), SUPERGRAPH_PATH: supergraphPath, ...extra },
      });
      processes.push(child);
      const address = `http://127.0.0.1:${port}/graphql`;
      await waitUntilReady(child, () => answersGraphQL(address), 90_000);
      return { child, address };
    };
    const { child: gateway, address: url } = await startGateway('gateway', {
      RATE_LIMIT_PER_MINUTE: '100000000',
      RATE_LIMIT_BURST: '1000000',
      RATE_LIMIT_MUTATIONS_PER_MINUTE: '100000000',
    });
    const { address: limitedUrl } = await startGateway('gateway-limited', {});
    progress(`stack ready; ${corpus.length} hostile requests`);

    const subgraphPeaks = new Map([...subgraphs].map(([name, child]) => [name, samplePeakRss(child.pid, 50)] as const));
    const now = Math.floor(Date.now() / 1000);
    const tokens = new Map<string, string>();
    const tokenFor = (user: string) => {
      let token = tokens.get(user);
      if (!token) tokens.set(user, (token = signHs256({ sub: user, exp: now + 3600 }, JWT_SECRET)));
      return token;
    };
    const results: Measured[] = [];
    for (const request of corpus) {
      const pid = gateway.pid;
      // Each request three times: CPU is the median (a garbage collection of earlier requests' leftovers, or a
      // 10 ms clock tick, then falls on no request in particular), memory and wall time the worst.
      const samples: { cpuMs: number; peakGrowthBytes: number; wallMs: number }[] = [];
      let answer: { status: number; code: string | undefined } = { status: 0, code: undefined };
      for (let attempt = 0; attempt < 3 && !gateway.exit(); attempt++) {
        resetPeak(pid);
        const rssBefore = readRssBytes(pid) ?? 0;
        const cpuBefore = readCpuMs(pid);
        const started = performance.now();
        try {
          answer = await send(url, request, request.asUser ? tokenFor(request.asUser) : undefined);
        } catch (error) {
          answer = { status: 0, code: `client error: ${messageOf(error)}` };
        }
        if (gateway.exit()) break;
        samples.push({
          cpuMs: readCpuMs(pid) - cpuBefore,
          peakGrowthBytes: Math.max(0, readPeakBytes(pid) - rssBefore),
          wallMs: performance.now() - started,
        });
      }
      const problems: string[] = [];
      if (gateway.exit()) problems.push(`gateway died: ${gateway.exit()}`);
      const cpus = samples.map((sample) => sample.cpuMs).sort((a, b) => a - b);
      const cpuMs = cpus[Math.floor(cpus.length / 2)] ?? 0;
      const peakGrowthBytes = Math.max(0, ...samples.map((sample) => sample.peakGrowthBytes));
      const wallMs = Math.max(0, ...samples.map((sample) => sample.wallMs));
      if (answer.status >= 500 || answer.status === 0) problems.push(`status ${answer.status}`);
      if (answer.status >= 400 && !answer.code) problems.push('a rejection without extensions.code');
      if (cpuMs > CPU_TARGET_MS) problems.push(`${cpuMs.toFixed(0)} ms CPU`);
      if (peakGrowthBytes > MEMORY_TARGET_BYTES) problems.push(`${(peakGrowthBytes / 2 ** 20).toFixed(0)} MB`);
      for (const [name, child] of subgraphs) if (child.exit()) problems.push(`${name} died: ${child.exit()}`);
      results.push({
        name: request.name,
        category: request.category,
        bytes: Buffer.byteLength(request.body ?? request.search ?? ''),
        status: answer.status,
        code: answer.code,
        cpuMs,
        peakGrowthBytes,
        wallMs,
        problems,
      });
      if (problems.length > 0) progress(`${request.name}: ${problems.join(', ')}`);
      if (gateway.exit()) break;
    }

    // One client, as fast as it can: the rate limit should answer 429 with Retry-After.
    const statuses = new Map<number, number>();
    let retryAfter: string | null = null;
    const burstStarted = performance.now();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (sent < BURST) {
          sent++;
          const response = await fetch(limitedUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ products(first: 2) { edges { node { name } } } }' }),
          });
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status === 429) retryAfter ??= response.headers.get('retry-after');
        }
      }),
    );
    const burstSeconds = (performance.now() - burstStarted) / 1000;
    const subgraphPeak = [...subgraphPeaks].map(([name, sampler]) => [name, sampler.stop()] as const);
    const dead = processes.filter((child) => child.exit()).map((child) => `${child.name}: ${child.exit()}`);

    report(results, subgraphPeak, { statuses, retryAfter, burstSeconds }, dead);
  } finally {
    await Promise.all(processes.map((child) => child.stop()));
    killStartedProcesses();
    fs.rmSync(tempDir, { recursive: true, force: true });
  }
}

function report(
  results: Measured[],
  subgraphPeaks: (readonly [SubgraphName, number])[],
  burst: { statuses: Map<number, number>; retryAfter: string | null; burstSeconds: number },
  dead: string[],
): void {
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  const lines: string[] = [];
  const rejected = results.filter((result) => result.status >= 400 && result.status < 500);
  const failing = results.filter((result) => result.problems.length > 0);
  const maxCpu = Math.max(...results.map((result) => result.cpuMs));
  const maxGrowth = Math.max(...results.map((result) => result.peakGrowthBytes));
  lines.push(`# Hostile corpus (${new Date().toISOString().slice(0, 10)})`, '');
  lines.push(
    `${results.length} requests: ${rejected.length} rejected with a 4xx (all with a code: ${rejected.every((result) => result.code) ? 'yes' : 'no'}), ` +
      `${results.filter((result) => result.status === 200).length} answered 200, ` +
      `${results.filter((result) => result.status >= 500 || result.status === 0).length} 5xx or no answer.`,
  );
  lines.push(
    `Gateway per request: max ${maxCpu.toFixed(0)} ms CPU (target ${CPU_TARGET_MS}), max peak memory growth ${mb(maxGrowth)} MB (target 50).`,
  );
  lines.push(
    `Subgraph peak RSS: ${subgraphPeaks.map(([name, peak]) => `${name} ${mb(peak)} MB${peak > SUBGRAPH_MEMORY_TARGET_BYTES ? ' (over)' : ''}`).join(', ')} (target ${mb(SUBGRAPH_MEMORY_TARGET_BYTES)}). Processes dead: ${dead.length === 0 ? 'none' : dead.join('; ')}.`,
  );
  lines.push(
    `Burst of ${BURST} requests from one client in ${burst.burstSeconds.toFixed(1)} s: ` +
      [...burst.statuses].map(([status, count]) => `${count} x ${status}`).join(', ') +
      (burst.retryAfter ? `; Retry-After: ${burst.retryAfter}` : ''),
  );
  lines.push('', `Requests missing a target: ${failing.length === 0 ? 'none' : ''}`);
  for (const result of failing) lines.push(`- ${result.name}: ${result.problems.join(', ')}`);
  lines.push(
    '',
    '| category | requests | statuses | codes | max CPU ms | max memory growth MB | max wall ms |',
    '| --- | ---: | --- | --- | ---: | ---: | ---: |',
  );
  const categories = [...new Set(results.map((result) => result.category))];
  for (const category of categories) {
    const inCategory = results.filter((result) => result.category === category);
    const count = (values: (string | number | undefined)[]) => [...new Set(values.map(String))].join(', ');
    lines.push(
      `| ${category} | ${inCategory.length} | ${count(inCategory.map((result) => result.status))} | ${count(inCategory.map((result) => result.code ?? '-'))} | ` +
        `${Math.max(...inCategory.map((result) => result.cpuMs)).toFixed(0)} | ${mb(Math.max(...inCategory.map((result) => result.peakGrowthBytes)))} | ${Math.max(...inCategory.map((result) => result.wallMs)).toFixed(0)} |`,
    );
  }
  const text = lines.join('\n') + '\n';
  const dir = path.join(projectRoot, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'hostile.md'), text);
  fs.writeFileSync(path.join(dir, 'hostile.json'), JSON.stringify(results, null, 2));
  process.stdout.write(text);
}

main().catch((error: unknown) => {
  process.stderr.write(`hostile: ${messageOf(error)}\n`);
  killStartedProcesses();
  process.exit(1);
});
