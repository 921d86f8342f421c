import { maximum, median, percentile, perRequest, ratio, roundRatios, sum } from '../../bench/stats';

describe('median', () => {
  it('takes the middle value of an odd count, whatever the order', () => {
    expect(median([30, 10, 20])).toBe(20);
  });

  it('averages the middle two of an even count', () => {
    expect(median([1, 4, 2, 3])).toBe(2.5);
  });

  it('ignores rounds that produced nothing, and is null when none did', () => {
    expect(median([null, 5, undefined, 7, Number.NaN])).toBe(6);
    expect(median([null, undefined])).toBeNull();
  });
});

describe('ratios', () => {
  it('is null when the baseline is missing or not positive', () => {
    expect(ratio(10, 5)).toBe(2);
    expect(ratio(10, 0)).toBeNull();
    expect(ratio(10, null)).toBeNull();
    expect(ratio(null, 5)).toBeNull();
  });

  it('compares within each round first, then takes the median of the rounds', () => {
    // The machine slowed down in round 2: both targets halved, the ratio did not move.
    const result = roundRatios([300, 150, 330], [100, 50, 100]);
    expect(result.perRound).toEqual([3, 3, 3.3]);
    expect(result.median).toBe(3);
  });

  it('leaves a round out of the median when either side of it is missing', () => {
    const result = roundRatios([300, null, 500], [100, 50, 100]);
    expect(result.perRound).toEqual([3, null, 5]);
    expect(result.median).toBe(4);
  });
});

describe('percentile', () => {
  const sorted = Array.from({ length: 100 }, (_, index) => index + 1);

  it('uses the nearest rank', () => {
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
  });

  it('is null for no samples', () => {
    expect(percentile([], 50)).toBeNull();
  });
});

describe('aggregates', () => {
  it('sums and maximises only real numbers', () => {
    expect(sum([1, null, 2, undefined])).toBe(3);
    expect(maximum([1, null, 9, 3])).toBe(9);
    expect(maximum([])).toBeNull();
  });

  it('divides by the requests served, and is null when none were', () => {
    expect(perRequest(600, 200)).toBe(3);
    expect(perRequest(600, 0)).toBeNull();
  });
});
