import { parseBenchOptions, UsageError } from '../../bench/options';
import { TARGET_NAMES } from '../../bench/targets/catalog';
import { WORKLOAD_NAMES } from '../../bench/workloads/workload';

describe('parseBenchOptions', () => {
  it('runs everything for 3 rounds by default, and only such a run updates latest.md', () => {
    const options = parseBenchOptions([]);
    expect(options).toMatchObject({ mode: 'full', rounds: 3, connections: 50, writeLatest: true });
    expect(options.targets).toEqual([...TARGET_NAMES]);
    expect(options.workloads).toEqual([...WORKLOAD_NAMES]);
  });

  it('makes --quick one short round that leaves latest.md alone', () => {
    const options = parseBenchOptions(['--quick']);
    expect(options).toMatchObject({ mode: 'quick', rounds: 1, writeLatest: false });
    expect(options.durationSeconds).toBeLessThan(parseBenchOptions([]).durationSeconds);
  });

  it('keeps the canonical order of filtered names, so mixed still runs last', () => {
    const options = parseBenchOptions(['--workloads', 'mixed,deep', '--targets', 'limit,ours-off']);
    expect(options.workloads).toEqual(['deep', 'mixed']);
    expect(options.targets).toEqual(['ours-off', 'limit']);
    expect(options.writeLatest).toBe(false);
  });

  it('names the unknown target or bad number', () => {
    expect(() => parseBenchOptions(['--targets', 'ours-off,router'])).toThrow(/--targets: unknown 'router'/);
    expect(() => parseBenchOptions(['--rounds', '0'])).toThrow(UsageError);
    expect(() => parseBenchOptions(['--bogus'])).toThrow(UsageError);
  });
});
