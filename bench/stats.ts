/** The arithmetic of the report: medians across rounds and ratios between targets within a round. */

/** The median of the finite values; null when there are none. An even count averages the middle two. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const finite = values.filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function maximum(values: readonly (number | null | undefined)[]): number | null {
  const finite = values.filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
  return finite.length === 0 ? null : Math.max(...finite);
}

export function sum(values: readonly (number | null | undefined)[]): number {
  return values.reduce<number>((total, value) => total + (typeof value === 'number' && Number.isFinite(value) ? value : 0), 0);
}

/** `numerator / denominator`, or null when either is missing or the denominator is not positive. */
export function ratio(numerator: number | null | undefined, denominator: number | null | undefined): number | null {
  if (typeof numerator !== 'number' || typeof denominator !== 'number') return null;
  if (!Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator <= 0) return null;
  return numerator / denominator;
}

/**
 * Ratios round by round, then their median. Comparing within a round cancels most of the machine's drift
 * (both targets ran minutes apart, not tens of minutes), and the median keeps one disturbed round from
 * deciding the result.
 */
export function roundRatios(
  values: readonly (number | null | undefined)[],
  baseline: readonly (number | null | undefined)[],
): { perRound: (number | null)[]; median: number | null } {
  const rounds = Math.max(values.length, baseline.length);
  const perRound = Array.from({ length: rounds }, (_, round) => ratio(values[round], baseline[round]));
  return { perRound, median: median(perRound) };
}

/** A per-request figure: `total / requests`, or null when nothing was served. */
export function perRequest(total: number, requests: number): number | null {
  return requests > 0 ? total / requests : null;
}

/** The nearest-rank percentile (0 < p <= 100) of values sorted ascending; null for no values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
