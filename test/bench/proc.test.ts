import { parseMachineBusyTicks, parseProcStat, parseVmRssBytes } from '../../bench/proc';

/** A /proc/<pid>/stat line as Linux writes it, with utime (field 14) and stime (field 15) set. */
function statLine(command: string, utime: number, stime: number): string {
  const fields = ['S', '1', '100', '100', '0', '-1', '4194560', '2000', '0', '0', '0', String(utime), String(stime), '0', '0', '20', '0', '11', '0', '5000'];
  return `4242 (${command}) ${fields.join(' ')}\n`;
}

describe('parseProcStat', () => {
  it('reads user and system ticks', () => {
    expect(parseProcStat(statLine('node', 1234, 56))).toEqual({ userTicks: 1234, systemTicks: 56 });
  });

  it('counts fields from the last parenthesis, so a command name with spaces and parentheses cannot shift them', () => {
    expect(parseProcStat(statLine('node (worker) 2', 77, 8))).toEqual({ userTicks: 77, systemTicks: 8 });
  });

  it('refuses text that is not a stat line', () => {
    expect(() => parseProcStat('garbage')).toThrow(/no command name/);
    expect(() => parseProcStat('1 (node) S 1')).toThrow(/utime or stime missing/);
  });
});

describe('parseVmRssBytes', () => {
  it('reads VmRSS in bytes', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1000000 kB\nVmHWM:\t  300000 kB\nVmRSS:\t  204800 kB\nThreads:\t11\n';
    expect(parseVmRssBytes(status)).toBe(204800 * 1024);
  });

  it('is undefined for a process without memory (a zombie)', () => {
    expect(parseVmRssBytes('Name:\tnode\nState:\tZ (zombie)\n')).toBeUndefined();
  });
});

describe('parseMachineBusyTicks', () => {
  it('adds user, nice, system, irq, softirq and steal, leaving out idle and iowait', () => {
    const stat = 'cpu  100 5 50 9000 40 3 2 1 0 0\ncpu0 50 2 25 4500 20 1 1 0 0 0\nintr 12345\n';
    expect(parseMachineBusyTicks(stat)).toBe(100 + 5 + 50 + 3 + 2 + 1);
  });

  it('refuses text without the machine-wide cpu line', () => {
    expect(() => parseMachineBusyTicks('intr 1\n')).toThrow(/no cpu line/);
  });
});
