import { Counter, Histogram, Registry } from 'prom-client';
import { exposition } from '../../lib/metrics';
import type { OutboxRelay } from './outbox';

/**
 * A subgraph's `/metrics`, on prom-client with one Registry per server (tests run the three services in one
 * process; lib/metrics.ts appends the process's own metrics). Every series carries `subgraph="<name>"`, so the
 * three services' scrapes can be summed or told apart. The SQL statement and outbox totals are kept by the
 * database and the relay; they are read when scraped.
 */
export function createSubgraphMetrics(
  name: string,
  sources: { statementCount(): number; outbox: Pick<OutboxRelay, 'stats'> },
) {
  const registry = new Registry();
  // Each series starts at 0, so a scrape before the first request already shows it (rate() needs two samples).
  const counter = (metric: string, help: string) => {
    const series = new Counter({ name: metric, help, labelNames: ['subgraph'], registers: [registry] }).labels({
      subgraph: name,
    });
    series.inc(0);
    return series;
  };
  const requests = counter('subgraph_http_requests_total', 'GraphQL HTTP requests received.');
  const callersGone = counter(
    'subgraph_callers_gone_total',
    'Requests whose caller closed the connection before the answer (work stopped).',
  );
  const representations = counter(
    'subgraph_entity_representations_total',
    'Entity representations received in _entities calls.',
  );
  new Counter({
    name: 'subgraph_sql_statements_total',
    help: "SQL statements run against this service's database.",
    labelNames: ['subgraph'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ subgraph: name }, sources.statementCount());
    },
  });
  new Counter({
    name: 'subgraph_entity_change_batches_total',
    help: 'Outbox events (entity change batches, order events) handed to the broker, by outcome.',
    labelNames: ['subgraph', 'result'],
    registers: [registry],
    collect() {
      const { published, failed } = sources.outbox.stats();
      this.reset();
      this.inc({ subgraph: name, result: 'published' }, published);
      this.inc({ subgraph: name, result: 'failed' }, failed);
    },
  });
  const requestDuration = new Histogram({
    name: 'subgraph_request_duration_seconds',
    help: 'GraphQL HTTP request duration in seconds, by HTTP status.',
    labelNames: ['subgraph', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    requests,
    callersGone,
    representations,
    observeRequest: (status: number, seconds: number) =>
      requestDuration.observe({ subgraph: name, status: String(status) }, seconds),
    registry,
    render: () => exposition(registry),
  };
}
export type SubgraphMetrics = ReturnType<typeof createSubgraphMetrics>;
