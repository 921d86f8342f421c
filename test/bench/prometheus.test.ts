import { counterDelta, parsePrometheusText, subgraphCountersFrom } from '../../bench/prometheus';

describe('parsePrometheusText', () => {
  it('sums a metric over its label sets and skips comments', () => {
    const text = [
      '# HELP http_requests_total Requests.',
      '# TYPE http_requests_total counter',
      'http_requests_total{route="/graphql",status="200"} 10',
      'http_requests_total{route="/graphql",status="500"} 2',
      'up 1',
      '',
    ].join('\n');
    const totals = parsePrometheusText(text);
    expect(totals.get('http_requests_total')).toBe(12);
    expect(totals.get('up')).toBe(1);
  });

  it('reads label values holding spaces, braces and escaped quotes, and samples with timestamps', () => {
    const text = 'odd_total{path="/a b}",note="say \\"hi\\""} 3 1700000000000\nodd_total 4\n';
    expect(parsePrometheusText(text).get('odd_total')).toBe(7);
  });

  it('understands exponents and infinities and ignores unparsable values', () => {
    const text = 'a 1e3\nb +Inf\nc NaNx\n';
    const totals = parsePrometheusText(text);
    expect(totals.get('a')).toBe(1000);
    expect(totals.get('b')).toBe(Infinity);
    expect(totals.has('c')).toBe(false);
  });
});

describe('subgraph counters', () => {
  const metrics = (requests: number, representations: number, sql: number) =>
    [
      '# TYPE subgraph_http_requests_total counter',
      `subgraph_http_requests_total{subgraph="orders"} ${requests}`,
      `subgraph_entity_representations_total{subgraph="orders"} ${representations}`,
      `subgraph_sql_statements_total{subgraph="orders"} ${sql}`,
    ].join('\n');

  it('reads the three counters a subgraph exports, zero when one is absent', () => {
    expect(subgraphCountersFrom(metrics(5, 120, 9))).toEqual({ httpRequests: 5, representations: 120, sqlStatements: 9 });
    expect(subgraphCountersFrom('')).toEqual({ httpRequests: 0, representations: 0, sqlStatements: 0 });
  });

  it('subtracts a before reading from an after reading', () => {
    const before = subgraphCountersFrom(metrics(5, 120, 9));
    const after = subgraphCountersFrom(metrics(105, 2120, 209));
    expect(counterDelta(before, after)).toEqual({ httpRequests: 100, representations: 2000, sqlStatements: 200 });
  });
});
