import { crossSubgraphWorkload } from './cross-subgraph';
import { deepWorkload } from './deep';
import { fourSubgraphWorkload } from './four-subgraph';
import { mixedWorkload } from './mixed';
import { realisticWorkload } from './realistic';
import { singleSubgraphWorkload } from './single-subgraph';
import type { Workload, WorkloadContext, WorkloadName } from './workload';

export { WORKLOAD_NAMES, type BenchRequest, type Workload, type WorkloadGraph, type WorkloadName } from './workload';

/** The workloads in the order they run (see WORKLOAD_NAMES). */
export function createWorkloads(context: WorkloadContext): Record<WorkloadName, Workload> {
  return {
    'four-subgraph': fourSubgraphWorkload(),
    'cross-subgraph': crossSubgraphWorkload(),
    deep: deepWorkload(),
    'single-subgraph': singleSubgraphWorkload(),
    realistic: realisticWorkload(context),
    mixed: mixedWorkload(context),
  };
}
