/**
 * Seeded randomness for the realistic workload: the same seed gives the same sequence of requests on every
 * machine, so two runs (and two targets within a run) are offered the same mix.
 */

/** mulberry32, the generator the demo data is drawn with. */
export { seededRandom } from '../../subgraphs/common/demo-data';

/**
 * Ranks 1..n drawn with probability proportional to 1 / rank^s (Zipf's law, as popularity on real sites: with
 * s = 1.1 over 100 items the first takes about a fifth of the draws and the last fifty a sixth together).
 * The cumulative weights are computed once; each draw is a binary search.
 */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new Error(`zipfSampler: n must be a positive integer, got ${n}`);
  if (!(s > 0)) throw new Error(`zipfSampler: s must be positive, got ${s}`);
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let rank = 1; rank <= n; rank++) {
    total += 1 / rank ** s;
    cumulative[rank - 1] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle]! > target) high = middle;
      else low = middle + 1;
    }
    return low + 1;
  };
}

/** The probability Zipf(n, s) gives `rank`: what a sampler's frequencies should approach. */
export function zipfProbability(rank: number, n: number, s: number): number {
  let total = 0;
  for (let k = 1; k <= n; k++) total += 1 / k ** s;
  return 1 / rank ** s / total;
}

/** Picks one of `choices` with probability proportional to its weight. */
export function weightedPicker<T>(choices: readonly { weight: number; value: T }[], random: () => number): () => T {
  const total = choices.reduce((sum, choice) => sum + choice.weight, 0);
  if (choices.length === 0 || !(total > 0)) throw new Error('weightedPicker: needs at least one positive weight');
  return () => {
    let remaining = random() * total;
    for (const choice of choices) {
      remaining -= choice.weight;
      if (remaining < 0) return choice.value;
    }
    return choices.at(-1)!.value;
  };
}
