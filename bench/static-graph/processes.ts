/** Starts the four static subgraphs as processes of their own and writes their supergraph for this run's ports. */
import fs from 'node:fs';
import path from 'node:path';
import { answersGet, freePort, startProcess, waitUntilReady, type ManagedProcess } from '../processes';
import { STATIC_SUBGRAPH_NAMES, type StaticSubgraphName } from './subgraphs';
import { composeStaticSupergraph } from './supergraph';

/**
 * What our gateway is told about this foreign graph, as its operator would: its lists hold at most 10 items,
 * nested ones 4, so the cost estimate assumes 5 per list instead of the default 10. With 10, the workload's
 * query (four nested lists) is estimated at 22,420, over the default COST_MAX of 20,000, and refused.
 */
export const STATIC_GRAPH_GATEWAY_ENV: NodeJS.ProcessEnv = { COST_DEFAULT_LIST_SIZE: '5' };

export interface RunningSubgraph {
  process: ManagedProcess;
  url: string;
  metricsUrl: string;
}

export interface StaticGraph {
  subgraphs: Map<StaticSubgraphName, RunningSubgraph>;
  /** The composed supergraph file, routed to these processes. */
  supergraph: string;
}

export async function startStaticGraph(options: {
  distRoot: string;
  env: NodeJS.ProcessEnv;
  dir: string;
  timeoutMs: number;
}): Promise<StaticGraph> {
  const subgraphs = new Map<StaticSubgraphName, RunningSubgraph>();
  await Promise.all(
    STATIC_SUBGRAPH_NAMES.map(async (name) => {
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const process = startProcess({
        name: `static ${name}`,
        entry: path.join(options.distRoot, 'bench', 'static-graph', 'index.js'),
        args: ['--name', name, '--port', String(port)],
        env: options.env,
      });
      subgraphs.set(name, { process, url: `${base}/graphql`, metricsUrl: `${base}/metrics` });
      await waitUntilReady(process, () => answersGet(`${base}/readyz`), options.timeoutMs);
    }),
  );
  const urls = Object.fromEntries([...subgraphs].map(([name, subgraph]) => [name, subgraph.url]));
  const supergraph = path.join(options.dir, 'static-supergraph.graphql');
  fs.writeFileSync(supergraph, `${composeStaticSupergraph(urls as Record<StaticSubgraphName, string>)}\n`);
  return { subgraphs, supergraph };
}
