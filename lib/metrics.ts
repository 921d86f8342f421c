import { collectDefaultMetrics, Registry, type Counter } from 'prom-client';

/**
 * What the gateway and the subgraphs share for `/metrics` (prom-client): each server instance has its own
 * Registry (tests build several gateways in one process, and each must count from zero), and the process's own
 * metrics (CPU, memory, event-loop lag, GC, handles) live in one registry per process, appended to every scrape.
 *
 * Per process, not per instance: `collectDefaultMetrics` starts an event-loop-delay monitor and a GC
 * PerformanceObserver that are never stopped, so calling it for every gateway a test builds would leave one of
 * each behind per instance; and two servers in one process do share that process's CPU and memory.
 */
let processMetrics: Registry | undefined;
/** This process's own metrics (a cluster worker hands them to the primary with its gateway's, see gateway/cluster.ts). */
export function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** The Prometheus text exposition content type, as prom-client writes it. */
export const METRICS_CONTENT_TYPE = new Registry().contentType;

/** The text exposition of an instance's registry followed by the process's metrics. */
export async function exposition(registry: Registry): Promise<string> {
  const [own, process_] = await Promise.all([registry.metrics(), processRegistry().metrics()]);
  return `${own}\n${process_}`;
}

/**
 * A counter's value for exactly this label set (0 when never counted): for tests and diagnostics, which
 * read one series where prom-client hands out all of them.
 */
export async function counterValue<T extends string>(
  counter: Counter<T>,
  labels: Partial<Record<T, string>> = {},
): Promise<number> {
  const wanted = Object.entries(labels);
  const { values } = await counter.get();
  const series = values.find(
    (value) =>
      Object.keys(value.labels).length === wanted.length &&
      wanted.every(([name, expected]) => String(value.labels[name as T]) === expected),
  );
  return series?.value ?? 0;
}
