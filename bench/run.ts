/**
 * `npm run bench`: measures our gateway against Apollo Gateway, Hive Gateway, a subgraph on its own and a bare
 * Node server, on six workloads, and writes the report to bench/results/.
 *
 * The shop's three subgraphs start once, on fresh demo data in a temporary folder (the four-subgraph workload's
 * four static subgraphs when it runs; the targets restart on its supergraph). Every target runs in a process of
 * its own. For each workload the targets are measured in rounds, each round starting one target later
 * (A B C D, B C D A, C D A B, ...), so that drift of the machine shows up as spread between rounds instead of
 * as a difference between targets, and no target always runs first, right after the previous round's last. Each
 * measurement checks the target's answer against the reference (ours-off), warms up, checks again, then runs a
 * timed load while reading the serving process's CPU and memory and the subgraphs' request, entity and SQL
 * counters.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/config';
import { signHs256 } from '../lib/jwt';
import { projectRoot } from '../lib/paths';
import { renderChartSvg } from './chart';
import { firstDifference, graphQLErrorsOf } from './compare';
import { formatDuration, formatMs, formatRps } from './format';
import { measureWindow, warmUp } from './load';
import { machineFacts } from './machine';
import { renderMarkdown } from './markdown';
import { parseBenchOptions, USAGE, UsageError, type BenchOptions } from './options';
import { findProcessesByName, readCpuMs, readCpuMsIfRunning, readMachineBusyMs } from './proc';
import { readTreeCpuMs, sampleTreePeakRss } from './process-tree';
import {
  answersGet,
  answersGraphQL,
  freePort,
  killStartedProcesses,
  startProcess,
  waitUntilReady,
  type ManagedProcess,
} from './processes';
import { counterDelta, readSubgraphCounters, type SubgraphCounters } from './prometheus';
import { perRequest } from './stats';
import { evaluateGoals, summarise, type BenchReport, type RunRecord } from './summary';
import { benchCallerHeaders } from './targets/caller';
import { REFERENCE_TARGET, TARGET_DESCRIPTIONS, TARGET_MECHANISMS, type TargetName } from './targets/catalog';
import { startOtlpSink, type OtlpSink } from './otlp-sink';
import { createWorkloads, type BenchRequest, type Workload, type WorkloadGraph } from './workloads';
import { startStaticGraph, STATIC_GRAPH_GATEWAY_ENV, type RunningSubgraph, type StaticGraph } from './static-graph/processes';
import { ensureRealisticCallers } from './realistic-callers';
import { messageOf } from '../lib/errors';

/** Fixed bench-only secrets: every process runs with NODE_ENV=production, which refuses the development ones. */
const JWT_SECRET = 'bench-only-jwt-secret-0123456789abcdef';
const SERVICE_SECRET = 'bench-only-service-secret-0123456789abcdef';
/** A Redis logical database of the bench's own, emptied at start, so ours-default never sees anyone else's keys. */
const REDIS_URL = 'redis://127.0.0.1:6379/15';
/** What the mixed workload's orders buy; outside the product pages the other workloads list. */
const ORDER_SKU = 'SKU-0100';
const STOCK_FLOOR = 200_000;
const RESTOCK_QUANTITY = 1_000_000;
const STARTUP_TIMEOUT_MS = 90_000;
const REQUEST_TIMEOUT_MS = 30_000;
const QUIESCE_TIMEOUT_MS = 30_000;

const distRoot = path.resolve(__dirname, '..');
const resultsDir = path.join(projectRoot, 'bench', 'results');

const benchStarted = Date.now();
function progress(message: string): void {
  const elapsed = Math.round((Date.now() - benchStarted) / 1000);
  process.stderr.write(`[bench ${String(Math.floor(elapsed / 60)).padStart(2, '0')}:${String(elapsed % 60).padStart(2, '0')}] ${message}\n`);
}

interface Answer {
  status: number;
  text: string;
  value: unknown;
}

/** `headers` may be made from the body: a request straight to a subgraph is signed for it. */
async function post(
  url: string,
  headers: Record<string, string> | ((body: string) => Record<string, string>),
  body: string,
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: typeof headers === 'function' ? headers(body) : headers,
    body,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  return { status: response.status, text, value };
}

/** What tells two check requests apart: the body, and the caller when the request carries its own. */
function requestKey(request: BenchRequest): string {
  return request.headers?.authorization ? `${request.headers.authorization}\n${request.body}` : request.body;
}

/** Where a target is asked, what it is sent, and which process serves it. */
interface Endpoint {
  url: string;
  /**
   * The headers of a request with this body. A gateway's are the same for every request; a subgraph's carry a
   * caller signed for the body and dated, so they are made again for every request.
   */
  headers(body: string): Record<string, string>;
  signsEachRequest: boolean;
  requests: readonly BenchRequest[];
  serverPid: number;
  /** What the target must answer to a query request. */
  expected(request: BenchRequest): Promise<unknown>;
  /** Called before each measurement (the limit server loads its answers here). */
  prepare?(): Promise<void>;
}

class Bench {
  private readonly tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gateway-bench-'));
  private readonly subgraphs = new Map<SubgraphName, { process: ManagedProcess; url: string; metricsUrl: string }>();
  private readonly targets = new Map<TargetName, { process: ManagedProcess; url: string }>();
  private readonly startErrors = new Map<TargetName, string>();
  private readonly references = new Map<string, Answer>();
  private readonly mutationSamples = new Map<string, string>();
  private readonly notes: string[] = [];
  /** Where ours-tracing exports its spans, when it runs. */
  private otlpSink: OtlpSink | undefined;
  private readonly token = signHs256(
    { sub: '1', scope: 'admin', exp: Math.floor(Date.now() / 1000) + 24 * 3600 },
    JWT_SECRET,
  );
  private readonly gatewayHeaders = { 'content-type': 'application/json', authorization: `Bearer ${this.token}` };
  private readonly directHeaders = (body: string) => ({
    'content-type': 'application/json',
    ...benchCallerHeaders(SERVICE_SECRET, body),
  });
  private readonly workloads = createWorkloads({ orderSku: ORDER_SKU, jwtSecret: JWT_SECRET });
  /** The shop's supergraph file for this run, and the static graph once a workload needs it. */
  private shopSupergraph: string | undefined;
  private staticGraph: StaticGraph | undefined;
  /** Which supergraph the running targets serve; they are restarted when the next workload needs the other. */
  private graph: WorkloadGraph | undefined;
  /** Redis serves ours-default's cache and the subgraphs' change events: its CPU is read, not counted as "other". */
  private readonly redisPids = findProcessesByName('redis-server');

  constructor(private readonly options: BenchOptions) {}

  private baseEnv(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      // No load balancer to drain from: stop at once rather than serve 5 s more (production's default).
      DRAIN_MS: '0',
      HOST: '127.0.0.1',
      JWT_SECRET,
      SERVICE_SECRET,
    };
  }

  async startSubgraphs(): Promise<void> {
    const ports = {} as Record<SubgraphName, number>;
    for (const name of SUBGRAPH_NAMES) ports[name] = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...this.baseEnv(),
      DATA_DIR: path.join(this.tempDir, 'data'),
      USERS_PORT: String(ports.users),
      ORDERS_PORT: String(ports.orders),
      INVENTORY_PORT: String(ports.inventory),
      INVENTORY_URL: `http://127.0.0.1:${ports.inventory}/graphql`,
      // Where the subgraphs publish entity changes, as in production: ours-default's cache hears of writes
      // made through any target.
      REDIS_URL,
    };
    await Promise.all(
      SUBGRAPH_NAMES.map(async (name) => {
        const base = `http://127.0.0.1:${ports[name]}`;
        const process = startProcess({ name, entry: path.join(distRoot, 'subgraphs', name, 'index.js'), env });
        this.subgraphs.set(name, { process, url: `${base}/graphql`, metricsUrl: `${base}/metrics` });
        await waitUntilReady(process, () => answersGet(`${base}/readyz`), STARTUP_TIMEOUT_MS);
      }),
    );
    progress(`subgraphs ready: ${SUBGRAPH_NAMES.map((name) => `${name} :${ports[name]}`).join(', ')}`);
  }

  /** The committed supergraph with its routing URLs pointed at this run's subgraphs: one file for every gateway. */
  writeSupergraph(): string {
    const source = fs.readFileSync(path.join(projectRoot, 'schema', 'supergraph.graphql'), 'utf8');
    const rewritten = source.replace(/@join__graph\(name: "([^"]+)", url: "[^"]*"\)/g, (_match, name: string) => {
      const subgraph = this.subgraphs.get(name as SubgraphName);
      if (!subgraph) throw new Error(`the supergraph names a subgraph '${name}' the bench does not start`);
      return `@join__graph(name: "${name}", url: "${subgraph.url}")`;
    });
    const file = path.join(this.tempDir, 'supergraph.graphql');
    fs.writeFileSync(file, rewritten);
    this.shopSupergraph = file;
    return file;
  }

  /** The subgraphs behind the graph the targets serve now: the bench reads their counters and CPU. */
  private currentSubgraphs(): Map<string, RunningSubgraph> {
    return this.graph === 'static' && this.staticGraph ? this.staticGraph.subgraphs : this.subgraphs;
  }

  /**
   * Points every target at `graph`'s supergraph: stops the running targets and starts them again on the other
   * supergraph when the graph changes (the four foreign subgraphs start the first time they are needed).
   */
  private async useGraph(graph: WorkloadGraph): Promise<void> {
    if (this.graph === graph) return;
    if (this.graph !== undefined) {
      progress(`restarting the targets on the ${graph === 'static' ? 'four-subgraph' : "shop's"} supergraph`);
      await Promise.all([...this.targets.values()].map((target) => target.process.stop()));
      this.targets.clear();
      this.startErrors.clear();
      this.references.clear();
      await this.flushRedis().catch(() => undefined);
    }
    if (graph === 'static' && !this.staticGraph) {
      this.staticGraph = await startStaticGraph({
        distRoot,
        env: this.baseEnv(),
        dir: this.tempDir,
        timeoutMs: STARTUP_TIMEOUT_MS,
      });
      progress(`static subgraphs ready: ${[...this.staticGraph.subgraphs.keys()].join(', ')}`);
    }
    this.graph = graph;
    await this.startTargets(graph === 'static' ? this.staticGraph!.supergraph : this.shopSupergraph!);
  }

  async flushRedis(): Promise<void> {
    const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 3000, reconnectStrategy: false } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.flushDb();
    } finally {
      if (client.isOpen) await client.quit();
    }
  }

  private async startTarget(target: TargetName, supergraph: string): Promise<void> {
    if (target === 'subgraph-direct') return;
    const port = await freePort();
    const ourGateway = (extra: NodeJS.ProcessEnv) => ({
      entry: path.join(distRoot, 'gateway', 'index.js'),
      env: {
        ...this.baseEnv(),
        GATEWAY_PORT: String(port),
        SUPERGRAPH_PATH: supergraph,
        // Rate limits stay on (checked on every request, on Redis for ours-default) with a budget the bench's
        // one client never reaches, so what is measured is their cost, not 429s.
        RATE_LIMIT_PER_MINUTE: '100000000',
        RATE_LIMIT_BURST: '1000000',
        RATE_LIMIT_MUTATIONS_PER_MINUTE: '100000000',
        ...(this.graph === 'static' ? STATIC_GRAPH_GATEWAY_ENV : {}),
        ...extra,
      },
    });
    const baseline = (file: string, extra: string[] = []) => ({
      entry: path.join(distRoot, 'bench', 'targets', file),
      args: ['--port', String(port), '--supergraph', supergraph, '--service-secret', SERVICE_SECRET, '--jwt-secret', JWT_SECRET, ...extra],
      env: this.baseEnv(),
    });
    const sink = target === 'ours-tracing' ? (this.otlpSink ??= await startOtlpSink()) : undefined;
    const spec = (() => {
      switch (target) {
        case 'ours-off':
          return ourGateway({ BATCHING: 'true', DEDUP_INFLIGHT: 'false', DEDUP_INBOUND: 'off', ENTITY_CACHE: 'false' });
        case 'ours-default':
          // The shipped defaults (batching, in-flight and inbound sharing, entity cache), on Redis.
          return ourGateway({ REDIS_URL });
        case 'ours-nolimits':
          return ourGateway({ REDIS_URL, DOCUMENT_LIMITS: 'false', COST_LIMIT: 'false', RATE_LIMIT: 'false' });
        case 'ours-tracing':
          return ourGateway({ REDIS_URL, OTEL_EXPORTER_OTLP_ENDPOINT: sink!.url, OTEL_TRACES_SAMPLER: 'always_on' });
        case 'ours-off-2w':
          return ourGateway({
            GATEWAY_WORKERS: '2',
            BATCHING: 'true',
            DEDUP_INFLIGHT: 'false',
            DEDUP_INBOUND: 'off',
            ENTITY_CACHE: 'false',
          });
        case 'ours-default-2w':
          return ourGateway({ REDIS_URL, GATEWAY_WORKERS: '2' });
        case 'apollo-gateway':
          return baseline('apollo-gateway.js');
        case 'hive-gateway':
          return baseline('hive-gateway.js');
        case 'hive-gateway-rust':
          return baseline('hive-gateway.js', ['--planner', 'rust']);
        case 'hive-gateway-rust-dedup':
          return baseline('hive-gateway.js', ['--planner', 'rust', '--inbound-dedup']);
        case 'limit':
          return { entry: path.join(distRoot, 'bench', 'targets', 'limit.js'), args: ['--port', String(port)], env: this.baseEnv() };
      }
    })();
    const base = `http://127.0.0.1:${port}`;
    const process = startProcess({ name: target, ...spec });
    this.targets.set(target, { process, url: `${base}/graphql` });
    const probe =
      target === 'limit'
        ? () => fetch(base, { signal: AbortSignal.timeout(2000) }).then((response) => response.arrayBuffer().then(() => true))
        : () => answersGraphQL(`${base}/graphql`);
    await waitUntilReady(process, probe, STARTUP_TIMEOUT_MS);
  }

  /** Starts the reference and every selected target; one that fails to start is reported, not fatal. */
  async startTargets(supergraph: string): Promise<void> {
    const wanted = new Set<TargetName>([REFERENCE_TARGET, ...this.options.targets]);
    for (const target of wanted) {
      try {
        await this.startTarget(target, supergraph);
        progress(`${target} ready`);
      } catch (error) {
        const message = messageOf(error);
        this.startErrors.set(target, `did not start: ${message.split('\n')[0]}`);
        progress(`${target} FAILED to start: ${message}`);
        if (target === REFERENCE_TARGET) throw new Error(`the reference target ${target} must run: ${message}`);
      }
    }
  }

  /** The reference's answer to `request`; re-read every time for a stateful workload. */
  private async referenceAnswer(workload: Workload, request: BenchRequest): Promise<Answer> {
    const cached = this.references.get(requestKey(request));
    if (cached && !workload.stateful) return cached;
    const reference = this.targets.get(REFERENCE_TARGET)!;
    const answer = await post(reference.url, { ...this.gatewayHeaders, ...request.headers }, request.body);
    // A failed answer is not kept: the next check asks again rather than comparing everyone with a failure.
    if (answer.status === 200 && graphQLErrorsOf(answer.value).length === 0) this.references.set(requestKey(request), answer);
    return answer;
  }

  private firstQuery(workload: Workload): BenchRequest {
    const query = workload.requests.find((request) => request.kind === 'query');
    if (!query) throw new Error(`workload ${workload.name} has no query to check`);
    return query;
  }

  private endpoint(target: TargetName, workload: Workload): Endpoint {
    if (target === 'subgraph-direct') {
      const { direct } = workload;
      if (!direct) throw new Error(`not applicable: ${workload.name} has no single-subgraph equivalent`);
      const subgraph = this.currentSubgraphs().get(direct.subgraph)!;
      return {
        url: subgraph.url,
        headers: this.directHeaders,
        signsEachRequest: true,
        requests: direct.requests,
        serverPid: subgraph.process.pid,
        expected: async () => direct.expected((await this.referenceAnswer(workload, this.firstQuery(workload))).value),
      };
    }
    if (target === 'limit' && workload.traffic) {
      throw new Error(`not applicable: ${workload.name}'s requests are made as it runs, the limit server knows no answers to them`);
    }
    const running = this.targets.get(target);
    if (!running) throw new Error(this.startErrors.get(target) ?? 'not started');
    const endpoint: Endpoint = {
      url: running.url,
      headers: () => this.gatewayHeaders,
      signsEachRequest: false,
      requests: workload.requests,
      serverPid: running.process.pid,
      expected: async (request) => (await this.referenceAnswer(workload, request)).value,
    };
    if (target === 'limit') {
      endpoint.prepare = async () => {
        const answers = [];
        for (const request of new Map(workload.requests.map((r) => [r.body, r])).values()) {
          const response =
            request.kind === 'query'
              ? (await this.referenceAnswer(workload, request)).text
              : this.mutationSamples.get(request.body);
          if (response !== undefined) answers.push({ request: request.body, response });
        }
        const control = new URL('/__bench/answers', running.url);
        const reply = await fetch(control, { method: 'PUT', body: JSON.stringify(answers), signal: AbortSignal.timeout(5000) });
        if (reply.status !== 204) throw new Error(`limit server refused its answers: HTTP ${reply.status}`);
      };
    }
    const onRedis: TargetName[] = ['ours-default', 'ours-nolimits', 'ours-tracing', 'ours-default-2w'];
    if (onRedis.includes(target) && workload.stateful) {
      // Orders placed and stock restocked through the other targets bypass this gateway's entity cache; start
      // it empty so its answers reflect only what it saw itself (the warm-up fills it again).
      endpoint.prepare = () => this.flushRedis();
    }
    return endpoint;
  }

  /** Sends each distinct request once: 2xx, no GraphQL errors, and for queries the reference's answer. */
  private async check(endpoint: Endpoint, when: string): Promise<string[]> {
    const problems: string[] = [];
    const distinct = new Map(endpoint.requests.map((request) => [requestKey(request), request]));
    for (const request of distinct.values()) {
      try {
        const expected = request.kind === 'query' ? await endpoint.expected(request) : undefined;
        const answer = await post(endpoint.url, (body) => ({ ...endpoint.headers(body), ...request.headers }), request.body);
        if (answer.status < 200 || answer.status >= 300) {
          problems.push(`${when}: ${request.kind} answered HTTP ${answer.status}: ${answer.text.slice(0, 160)}`);
          continue;
        }
        if (answer.value === undefined) {
          problems.push(`${when}: ${request.kind} answer is not JSON: ${answer.text.slice(0, 160)}`);
          continue;
        }
        const errors = graphQLErrorsOf(answer.value);
        if (errors.length > 0) problems.push(`${when}: ${request.kind} has GraphQL errors: ${errors.slice(0, 2).join('; ')}`);
        if (request.kind === 'query') {
          const difference = firstDifference(expected, answer.value);
          if (difference) problems.push(`${when}: answer differs from ${REFERENCE_TARGET}'s at ${difference}`);
        }
      } catch (error) {
        problems.push(`${when}: ${request.kind} failed: ${messageOf(error)}`);
      }
    }
    return problems;
  }

  private redisCpuMs(): number {
    return this.redisPids.reduce((total, pid) => total + readCpuMsIfRunning(pid), 0);
  }

  private async readSubgraphs(): Promise<{ counters: Record<string, SubgraphCounters>; cpuMs: number }> {
    const counters: Record<string, SubgraphCounters> = {};
    let cpuMs = 0;
    for (const [name, subgraph] of this.currentSubgraphs()) {
      counters[name] = await readSubgraphCounters(subgraph.metricsUrl);
      cpuMs += readCpuMs(subgraph.process.pid);
    }
    return { counters, cpuMs };
  }

  /**
   * Waits until the previous load's dropped requests have finished: the subgraphs' counters stop moving and the
   * serving process is idle. Without this, one target's leftovers would be measured as the next one's work.
   */
  private async quiesce(serverPid: number | undefined): Promise<boolean> {
    const activity = async () => {
      const { counters } = await this.readSubgraphs();
      const work = Object.values(counters).reduce((sum, c) => sum + c.httpRequests + c.sqlStatements, 0);
      return { work, cpuMs: serverPid === undefined ? 0 : readCpuMsIfRunning(serverPid) };
    };
    const deadline = Date.now() + QUIESCE_TIMEOUT_MS;
    let last = await activity();
    let quietPolls = 0;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const now = await activity();
      const quiet = now.work === last.work && now.cpuMs - last.cpuMs <= 20;
      quietPolls = quiet ? quietPolls + 1 : 0;
      if (quietPolls >= 2) return true;
      last = now;
    }
    return false;
  }

  async measure(target: TargetName, workload: Workload, round: number): Promise<RunRecord> {
    const record: RunRecord = { workload: workload.name, target, round, check: { ok: false, details: [] }, warnings: [] };
    let serverPid: number | undefined;
    try {
      const endpoint = this.endpoint(target, workload);
      serverPid = endpoint.serverPid;
      const running = this.targets.get(target);
      const exit = running?.process.exit();
      if (exit) throw new Error(`${target} ${exit}: ${running?.process.logTail().split('\n').slice(-3).join(' | ')}`);
      if (workload.name === 'mixed') await this.ensureStock();
      await endpoint.prepare?.();
      const loadOptions = {
        url: endpoint.url,
        headers: endpoint.headers,
        signsEachRequest: endpoint.signsEachRequest,
        requests: endpoint.requests,
        // A fresh sequence for every target: each is offered the same (seeded) requests.
        traffic: workload.traffic && target !== 'subgraph-direct' ? workload.traffic() : undefined,
        expectedErrorCodes: workload.expectedErrorCodes,
        connections: this.options.connections,
      };

      const details = await this.check(endpoint, 'cold');
      if (this.options.warmupSeconds > 0) {
        await warmUp(loadOptions, this.options.warmupSeconds);
        if (!(await this.quiesce(serverPid))) record.warnings!.push('still busy 30 s after the warm-up');
        details.push(...(await this.check(endpoint, 'after warm-up')));
      }
      record.check = { ok: details.length === 0, details };

      let before: Awaited<ReturnType<Bench['readSubgraphs']>> | undefined;
      let after: typeof before;
      let serverBefore = 0;
      let serverAfter = 0;
      let benchBefore = process.cpuUsage();
      let benchCpu = process.cpuUsage(benchBefore);
      let machineBefore = 0;
      let redisBefore = 0;
      let redisAfter = 0;
      let machineAfter = 0;
      let windowStarted = 0;
      let windowMs = 0;
      // The target's process and those below it: a gateway with GATEWAY_WORKERS is a primary and its workers.
      let rss: ReturnType<typeof sampleTreePeakRss> | undefined;
      let peakRss = 0;
      const pid = endpoint.serverPid;
      const { connections, leadSeconds, durationSeconds } = this.options;
      const logLinesBefore = running?.process.linesWritten() ?? 0;
      const figures = await measureWindow(loadOptions, {
        leadSeconds,
        minLeadResponses: this.options.leadResponsesPerConnection * connections,
        maxLeadSeconds: Math.max(leadSeconds, 2 * durationSeconds),
        windowSeconds: durationSeconds,
        minWindowResponses: this.options.windowResponsesPerConnection * connections,
        maxWindowSeconds: 2 * durationSeconds,
        onOpen: async () => {
          before = await this.readSubgraphs();
          serverBefore = readTreeCpuMs(pid);
          benchBefore = process.cpuUsage();
          machineBefore = readMachineBusyMs();
          redisBefore = this.redisCpuMs();
          windowStarted = performance.now();
          rss = sampleTreePeakRss(pid);
        },
        onClose: async () => {
          peakRss = rss?.stop() ?? 0;
          machineAfter = readMachineBusyMs();
          redisAfter = this.redisCpuMs();
          windowMs = performance.now() - windowStarted;
          benchCpu = process.cpuUsage(benchBefore);
          serverAfter = readTreeCpuMs(pid);
          after = await this.readSubgraphs();
        },
      });
      if (!before || !after) throw new Error('the timed window did not complete');

      const totals: Record<string, SubgraphCounters> = {};
      for (const name of Object.keys(after.counters)) totals[name] = counterDelta(before.counters[name]!, after.counters[name]!);
      const all = Object.values(totals);
      const served = figures.requests;
      record.load = figures;
      record.server = { cpuMsPerRequest: perRequest(serverAfter - serverBefore, served), peakRssMB: peakRss / 1e6 };
      record.subgraphs = {
        httpRequestsPerRequest: perRequest(all.reduce((sum, c) => sum + c.httpRequests, 0), served),
        representationsPerRequest: perRequest(all.reduce((sum, c) => sum + c.representations, 0), served),
        sqlStatementsPerRequest: perRequest(all.reduce((sum, c) => sum + c.sqlStatements, 0), served),
        cpuMsPerRequest: perRequest(after.cpuMs - before.cpuMs, served),
        totals,
      };
      const benchCpuMs = (benchCpu.user + benchCpu.system) / 1000;
      record.loadGeneratorCpuMsPerRequest = perRequest(benchCpuMs, served);
      // The subgraphs are counted once even when one of them is the serving process (subgraph-direct).
      const subgraphCpuMs = after.cpuMs - before.cpuMs;
      const serverCpuMs = target === 'subgraph-direct' ? 0 : serverAfter - serverBefore;
      const redisMs = redisAfter - redisBefore;
      record.redisCpuMsPerRequest = this.redisPids.length > 0 ? perRequest(redisMs, served) : null;
      const otherMs = machineAfter - machineBefore - serverCpuMs - subgraphCpuMs - benchCpuMs - redisMs;
      record.otherCpuPercent = windowMs > 0 ? Math.max(0, (otherMs / windowMs) * 100) : null;
      const exitAfter = running?.process.exit();
      if (exitAfter) throw new Error(`${target} ${exitAfter} during the run`);
      // LOG_LEVEL=warn: anything a gateway logs under load is worth reading next to its numbers.
      const logLines = (running?.process.linesWritten() ?? 0) - logLinesBefore;
      if (running && logLines > 0) {
        record.warnings!.push(`logged ${logLines} line(s) during the load, the last: ${running.process.logTail().split('\n').at(-1)?.slice(0, 240)}`);
      }
      // Let the dropped requests finish before the next target starts.
      if (!(await this.quiesce(serverPid))) record.warnings!.push('still busy 30 s after the timed run');
      if (this.options.warmupSeconds === 0) {
        // Without a warm-up, the warm (cached) answer is checked after the load instead.
        const warm = await this.check(endpoint, 'after the load');
        record.check = { ok: record.check.ok && warm.length === 0, details: [...record.check.details, ...warm] };
      }
    } catch (error) {
      record.error = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      await this.quiesce(serverPid).catch(() => false);
    }
    return record;
  }

  /** Keeps the mixed workload's product far from selling out (restock goes through inventory as an admin). */
  private async ensureStock(): Promise<void> {
    const inventory = this.subgraphs.get('inventory')!;
    for (let attempt = 0; attempt < 5; attempt++) {
      const answer = await post(inventory.url, this.directHeaders, JSON.stringify({ query: `{ product(sku: "${ORDER_SKU}") { stock } }` }));
      const stock = (answer.value as { data?: { product?: { stock?: number } } } | undefined)?.data?.product?.stock;
      if (typeof stock !== 'number') throw new Error(`cannot read the stock of ${ORDER_SKU}: ${answer.text.slice(0, 200)}`);
      if (stock >= STOCK_FLOOR) return;
      const restock = await post(
        inventory.url,
        this.directHeaders,
        JSON.stringify({ query: `mutation { restock(sku: "${ORDER_SKU}", quantity: ${RESTOCK_QUANTITY}) { stock } }` }),
      );
      if (graphQLErrorsOf(restock.value).length > 0 || restock.status !== 200) {
        throw new Error(`restock of ${ORDER_SKU} failed: ${restock.text.slice(0, 200)}`);
      }
    }
  }

  /** One answer of the reference to each mutation, for the limit server to send back. */
  private async sampleMutations(workload: Workload): Promise<void> {
    const reference = this.targets.get(REFERENCE_TARGET)!;
    for (const request of workload.requests) {
      if (request.kind !== 'mutation' || this.mutationSamples.has(request.body)) continue;
      const answer = await post(reference.url, this.gatewayHeaders, request.body);
      this.mutationSamples.set(request.body, answer.text);
    }
  }

  async run(): Promise<RunRecord[]> {
    /** The targets in order, starting `shift` places in: who goes first rotates from round to round. */
    const rotated = (list: readonly TargetName[], shift: number): TargetName[] => {
      const start = list.length === 0 ? 0 : shift % list.length;
      return [...list.slice(start), ...list.slice(0, start)];
    };
    const runs: RunRecord[] = [];
    const { rounds, targets } = this.options;
    for (const name of this.options.workloads) {
      const workload = this.workloads[name];
      await this.useGraph(workload.graph ?? 'shop');
      if (workload.name === 'realistic') {
        const created = await ensureRealisticCallers(this.subgraphs.get('users')!.url, this.directHeaders);
        if (created > 0) progress(`created ${created} users for the realistic workload's callers`);
      }
      if (workload.name === 'mixed') {
        await this.ensureStock();
        await this.sampleMutations(workload);
      }
      for (let round = 1; round <= rounds; round++) {
        for (const target of rotated(targets, round - 1)) {
          progress(`${name} round ${round}/${rounds}: ${target}`);
          const record = await this.measure(target, workload, round);
          runs.push(record);
          const check = record.check.ok ? 'check ok' : `CHECK FAILED: ${record.check.details[0] ?? ''}`;
          progress(
            record.error
              ? `  ${target}: ERROR ${record.error}`
              : `  ${target}: ${formatRps(record.load?.rps ?? null)} rps, p99 ${formatMs(record.load?.latencyP99Ms ?? null)} ms, ` +
                  `${(record.load?.non2xx ?? 0) + (record.load?.graphqlErrors ?? 0) + (record.load?.transportErrors ?? 0)} errors, ${check}`,
          );
        }
      }
    }
    return runs;
  }

  note(message: string): void {
    this.notes.push(message);
  }

  allNotes(): string[] {
    return [...this.notes];
  }

  async stop(): Promise<void> {
    const stop = async (process: ManagedProcess) => {
      const started = Date.now();
      await process.stop();
      const seconds = (Date.now() - started) / 1000;
      if (seconds > 3) {
        const lastLine = process.logTail().split('\n').at(-1) ?? '';
        progress(`${process.name} took ${seconds.toFixed(1)} s to stop (${process.exit() ?? 'still running'}); last log line: ${lastLine}`);
      }
    };
    await Promise.all([
      ...[...this.targets.values()].map((target) => stop(target.process)),
      ...[...this.subgraphs.values()].map((subgraph) => stop(subgraph.process)),
      ...[...(this.staticGraph?.subgraphs.values() ?? [])].map((subgraph) => stop(subgraph.process)),
    ]);
    if (this.otlpSink) {
      // Read after ours-tracing stopped, which flushed its last spans.
      const { exports, bytes } = this.otlpSink.received();
      this.note(`ours-tracing exported ${exports} OTLP/HTTP batches (${(bytes / 1e6).toFixed(1)} MB of JSON) to the sink`);
      await this.otlpSink.close();
    }
    fs.rmSync(this.tempDir, { recursive: true, force: true });
  }
}

function writeResults(report: BenchReport, writeLatest: boolean): string[] {
  fs.mkdirSync(resultsDir, { recursive: true });
  const stamp = report.startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const markdown = renderMarkdown(report);
  const svg = renderChartSvg(report);
  const files: [string, string][] = [
    [`${stamp}.json`, `${JSON.stringify(report, null, 2)}\n`],
    [`${stamp}.md`, markdown],
    [`${stamp}.svg`, svg],
  ];
  if (writeLatest) files.push(['latest.md', markdown], ['latest.svg', svg]);
  for (const [name, content] of files) fs.writeFileSync(path.join(resultsDir, name), content);
  return files.map(([name]) => path.relative(projectRoot, path.join(resultsDir, name)));
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  // Nothing here may run unbounded: a stuck run is stopped, and its processes with it.
  // 10 s per timed window quick, 30 s full (warm-up, checks, window, quiet), never less than the old flat bounds.
  const windows = options.workloads.length * options.targets.length * options.rounds;
  const budgetMinutes = Math.ceil(Math.max(options.mode === 'quick' ? 6 : 45, (windows * (options.mode === 'quick' ? 10 : 30)) / 60));
  setTimeout(() => {
    progress(`stopping: the run took longer than ${budgetMinutes} minutes`);
    killStartedProcesses();
    process.exit(1);
  }, budgetMinutes * 60_000).unref();

  const startedAt = new Date();
  const timed = options.workloads.length * options.targets.length * options.rounds;
  progress(
    `${options.mode} run: ${options.workloads.join(', ')} x ${options.targets.join(', ')}, ${options.rounds} round(s), ` +
      `${timed} timed windows of ${options.durationSeconds} s or more after a ${options.warmupSeconds} s warm-up, ${options.connections} connections`,
  );
  const bench = new Bench(options);
  let runs: RunRecord[];
  try {
    await bench.startSubgraphs();
    bench.writeSupergraph();
    try {
      await bench.flushRedis();
    } catch (error) {
      const message = `Redis at ${REDIS_URL} could not be emptied (${messageOf(error)}); ours-default may fail`;
      bench.note(message);
      progress(message);
    }
    // The targets start in run(), on the supergraph of the first workload's graph.
    runs = await bench.run();
  } finally {
    await bench.stop();
  }

  const finishedAt = new Date();
  const summary = summarise(runs, options.workloads, options.targets, options.rounds);
  const workloads = createWorkloads({ orderSku: ORDER_SKU, jwtSecret: JWT_SECRET });
  const report: BenchReport = {
    schemaVersion: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    wallSeconds: (finishedAt.getTime() - startedAt.getTime()) / 1000,
    machine: machineFacts(),
    settings: {
      mode: options.mode,
      connections: options.connections,
      rounds: options.rounds,
      warmupSeconds: options.warmupSeconds,
      leadSeconds: options.leadSeconds,
      leadResponsesPerConnection: options.leadResponsesPerConnection,
      durationSeconds: options.durationSeconds,
      windowResponsesPerConnection: options.windowResponsesPerConnection,
      targets: options.targets,
      workloads: options.workloads,
    },
    targets: options.targets.map((name) => ({
      name,
      description: TARGET_DESCRIPTIONS[name],
      mechanisms: TARGET_MECHANISMS[name] ?? TARGET_DESCRIPTIONS[name],
    })),
    workloads: options.workloads.map((name) => ({
      name,
      description: workloads[name].description,
      direct: workloads[name].direct ? `${workloads[name].direct.subgraph}: ${workloads[name].direct.description}` : 'none',
      requests: [...new Map(workloads[name].requests.map((r) => [r.body, { kind: r.kind, body: r.body }])).values()],
    })),
    runs,
    summary,
    goals: options.workloads.includes('deep') ? evaluateGoals(summary) : [],
    notes: bench.allNotes(),
  };
  const files = writeResults(report, options.writeLatest);
  process.stdout.write(renderMarkdown(report));
  progress(`wrote ${files.join(', ')} in ${formatDuration(report.wallSeconds)}`);
  return 0;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killStartedProcesses();
    process.exit(130);
  });
}
process.on('exit', killStartedProcesses);

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    progress(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    killStartedProcesses();
    process.exitCode = 1;
  },
);
