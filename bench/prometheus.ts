/**
 * Reads the three counters every subgraph exports on GET /metrics. The bench reads them before and after a
 * timed run; the difference divided by the client requests served is the work each client request caused
 * downstream, whichever gateway sent it.
 */

/** Sums each metric's samples over all label sets: `name{a="1"} 2` and `name{a="2"} 3` give name → 5. */
export function parsePrometheusText(text: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    // name, optional {labels} (label values may hold spaces and braces inside quotes), value, optional timestamp
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const name = match[1]!;
    const value = parseSampleValue(match[3]!);
    if (value === undefined) continue;
    totals.set(name, (totals.get(name) ?? 0) + value);
  }
  return totals;
}

function parseSampleValue(text: string): number | undefined {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}

export interface SubgraphCounters {
  httpRequests: number;
  representations: number;
  sqlStatements: number;
}

export function subgraphCountersFrom(text: string): SubgraphCounters {
  const totals = parsePrometheusText(text);
  return {
    httpRequests: totals.get('subgraph_http_requests_total') ?? 0,
    representations: totals.get('subgraph_entity_representations_total') ?? 0,
    sqlStatements: totals.get('subgraph_sql_statements_total') ?? 0,
  };
}

export async function readSubgraphCounters(metricsUrl: string): Promise<SubgraphCounters> {
  const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`${metricsUrl} answered HTTP ${response.status}`);
  return subgraphCountersFrom(await response.text());
}

export function counterDelta(before: SubgraphCounters, after: SubgraphCounters): SubgraphCounters {
  return {
    httpRequests: after.httpRequests - before.httpRequests,
    representations: after.representations - before.representations,
    sqlStatements: after.sqlStatements - before.sqlStatements,
  };
}
