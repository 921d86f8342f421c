import fs from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { readGatewayInternals } from '../../gateway/execution/apollo-internals';
import {
  installPlanExecutor,
  type PlanExecutorHandle,
  type PlanExecutorOptions,
} from '../../gateway/execution/executor';
import { createGatewayMetrics } from '../../gateway/metrics';
import type { Logger } from '../../lib/logger';
import { ask, startReference, type Target } from '../helpers/gateways';
import { startSpyFederation, type SpyFederation } from '../helpers/spy-subgraphs';
import { counterValue } from '../../lib/metrics';

/**
 * Our executor reaches into Apollo Gateway's private fields (through `apollo-internals` only). When one is
 * missing it must say so once and let Apollo's executor answer everything; a plan that does not compile is
 * logged once and answered by Apollo's executor; compiled plans are bounded by size.
 */
interface RecordingLogger extends Logger {
  warnings: { message: string; fields?: Record<string, unknown> }[];
}
function recordingLogger(): RecordingLogger {
  const warnings: RecordingLogger['warnings'] = [];
  const logger: RecordingLogger = {
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (message, fields) => void warnings.push({ message, fields }),
    error: (message, fields) => void warnings.push({ message, fields }),
    child: () => logger,
  };
  return logger;
}

interface Started {
  server: ApolloServer;
  gateway: ApolloGateway;
  handle: PlanExecutorHandle;
  logger: RecordingLogger;
  metrics: ReturnType<typeof createGatewayMetrics>;
  run(query: string): Promise<{ data?: unknown; errors?: unknown }>;
}

describe("Apollo Gateway's internals, as the executor uses them", () => {
  let spies: SpyFederation;
  let reference: Target;
  const started: Started[] = [];

  async function start(extra: Partial<PlanExecutorOptions> = {}): Promise<Started> {
    const gateway = new ApolloGateway({ supergraphSdl: fs.readFileSync(spies.supergraphPath, 'utf8') });
    const logger = recordingLogger();
    const metrics = createGatewayMetrics();
    const handle = installPlanExecutor(gateway, { logger, metrics, exposeQueryPlan: false, ...extra });
    const server = new ApolloServer({ gateway });
    await server.start();
    const run = async (query: string) => {
      const response = await server.executeOperation({ query });
      if (response.body.kind !== 'single') throw new Error('expected a single result');
      const { data, errors } = response.body.singleResult;
      return { data, errors: errors?.map(({ message, path }) => ({ message, path })) };
    };
    const entry = { server, gateway, handle, logger, metrics, run };
    started.push(entry);
    return entry;
  }
  const expected = async (query: string) => {
    const { data, errors } = await ask(reference.url, query);
    return { data, errors: errors?.map(({ message, path }) => ({ message, path })) };
  };

  beforeAll(async () => {
    spies = await startSpyFederation();
    reference = await startReference(spies.supergraphPath);
  }, 30_000);
  afterAll(async () => {
    for (const { server } of started) await server.stop();
    await reference?.close();
    await spies?.close();
  });

  it('finds every internal it needs in this Apollo Gateway, and runs plans itself', async () => {
    const { gateway, handle, logger, metrics, run } = await start();
    expect(readGatewayInternals(gateway)).toMatchObject({ kind: 'ready' });
    expect(handle.active()).toBe(true);
    const query = '{ topProducts(first: 3) { name shippingEstimate } }';
    expect(await run(query)).toEqual(await expected(query));
    expect(await counterValue(metrics.planExecutions, { executor: 'waves' })).toBe(1);
    expect(logger.warnings).toEqual([]);
  });

  it('names what is missing from a gateway that lacks its internals', () => {
    const check = readGatewayInternals({} as ApolloGateway);
    expect(check).toEqual({
      kind: 'missing',
      missing: ['queryPlanner.buildQueryPlan', 'apiSchema', 'supergraphSchema', 'serviceMap'],
    });
  });

  it("falls back to Apollo's executor for every request, with one log line, when an internal is missing", async () => {
    const { handle, logger, metrics, run } = await start({
      readInternals: () => ({ kind: 'missing', missing: ['queryPlanner.buildQueryPlan'] }),
    });
    expect(handle.active()).toBe(false);
    for (const query of ['{ topProducts { name } }', '{ me { name } }', '{ topProducts { name } }'])
      expect(await run(query)).toEqual(await expected(query));
    expect(await counterValue(metrics.planExecutions, { executor: 'waves' })).toBe(0);
    expect(await counterValue(metrics.planExecutions, { executor: 'apollo', reason: 'gateway_internals' })).toBe(3);
    expect(logger.warnings.map((warning) => warning.message)).toEqual([
      "plan executor: Apollo Gateway internals not found (queryPlanner.buildQueryPlan); using Apollo's executor",
    ]);
  });

  it('leaves Apollo in charge, with one log line, when a public hook it installs through is missing', () => {
    const logger = recordingLogger();
    const executor = async () => ({});
    const gateway = { executor } as unknown as ApolloGateway;
    const handle = installPlanExecutor(gateway, { logger, metrics: createGatewayMetrics(), exposeQueryPlan: false });
    expect(gateway.executor).toBe(executor);
    expect(handle.active()).toBe(false);
    expect(logger.warnings.map((warning) => warning.message)).toEqual([
      "plan executor: Apollo Gateway lacks ApolloGateway.onSchemaLoadOrUpdate; using Apollo's executor",
    ]);
  });

  it("logs a plan that does not compile once per operation, and lets Apollo's executor answer it", async () => {
    const { logger, metrics, run } = await start({
      readInternals: (gateway) => {
        const check = readGatewayInternals(gateway);
        if (check.kind !== 'ready') return check;
        const broken = Object.create(check.internals.queryPlanner) as typeof check.internals.queryPlanner;
        broken.buildQueryPlan = () => {
          throw new Error('planner exploded');
        };
        return { kind: 'ready', internals: { ...check.internals, queryPlanner: broken } };
      },
    });
    const first = 'query First { topProducts { name } }';
    const second = 'query Second { me { name } }';
    for (const query of [first, first, second, first]) expect(await run(query)).toEqual(await expected(query));
    expect(await counterValue(metrics.planExecutions, { executor: 'apollo', reason: 'compile_error' })).toBe(4);
    expect(logger.warnings.map((warning) => [warning.fields?.operationName, warning.fields?.error])).toEqual([
      ['First', 'planner exploded'],
      ['Second', 'planner exploded'],
    ]);
  });

  it('keeps compiled plans within the configured size, dropping the least recently used', async () => {
    const { handle, run } = await start({ planCacheBytes: 40_000 });
    for (let first = 1; first <= 40; first++)
      await run(`{ topProducts(first: ${first}) { name price shippingEstimate } }`);
    const { entries, bytes } = handle.planCache();
    expect(bytes).toBeLessThanOrEqual(40_000);
    expect(bytes).toBeGreaterThan(0);
    expect(entries).toBeGreaterThan(0);
    expect(entries).toBeLessThan(40);
  });
});
