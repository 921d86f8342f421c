import { crossSubgraphWorkload } from './cross-subgraph';
import { deepWorkload } from './deep';
import { mixedWorkload } from './mixed';
import { singleSubgraphWorkload } from './single-subgraph';
import type { Workload, WorkloadContext, WorkloadName } from './workload';

export { WORKLOAD_NAMES, type BenchRequest, type Workload, type WorkloadName } from './workload';

/** The workloads in the order they run; mixed runs last because its orders change what the others read. */
export function createWorkloads(context: WorkloadContext): Record<WorkloadName, Workload> {
  return {
    'cross-subgraph': crossSubgraphWorkload(),
    deep: deepWorkload(),
    'single-subgraph': singleSubgraphWorkload(),
    mixed: mixedWorkload(context),
  };
}
