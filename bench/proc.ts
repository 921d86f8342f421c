/**
 * What a process costs, read from Linux's /proc: CPU time from /proc/<pid>/stat and resident memory from
 * /proc/<pid>/status. Reading another process's counters needs no cooperation from it, so every target (ours,
 * Apollo's, Hive's, a subgraph, the bare limit server) is measured the same way.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

export interface CpuTicks {
  userTicks: number;
  systemTicks: number;
}

/**
 * Parses /proc/<pid>/stat. The second field is the command name in parentheses and may itself contain spaces
 * and parentheses, so the fields are counted from the last ')'. utime and stime are fields 14 and 15.
 */
export function parseProcStat(text: string): CpuTicks {
  const end = text.lastIndexOf(')');
  if (end === -1) throw new Error('not a /proc/<pid>/stat line: no command name');
  // Fields after the command name start at field 3 (state), so field n is at index n - 3.
  const fields = text.slice(end + 1).trim().split(/\s+/);
  const userTicks = Number(fields[14 - 3]);
  const systemTicks = Number(fields[15 - 3]);
  if (!Number.isFinite(userTicks) || !Number.isFinite(systemTicks)) {
    throw new Error('not a /proc/<pid>/stat line: utime or stime missing');
  }
  return { userTicks, systemTicks };
}

/** Resident set size in bytes from /proc/<pid>/status (its `VmRSS: <n> kB` line); undefined if absent. */
export function parseVmRssBytes(text: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * CPU time the whole machine has spent busy, in ticks, from the first line of /proc/stat (`cpu user nice
 * system idle iowait irq softirq steal ...`). Guest time is already included in user time.
 */
export function parseMachineBusyTicks(text: string): number {
  const line = text.split('\n').find((candidate) => /^cpu\s/.test(candidate));
  if (!line) throw new Error('not /proc/stat: no cpu line');
  const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = [user, nice, system, irq, softirq, steal].map((value) => value ?? 0);
  if (busy.some((value) => !Number.isFinite(value))) throw new Error('not /proc/stat: unreadable cpu line');
  return busy.reduce((total, value) => total + value, 0);
}

let ticksPerSecond: number | undefined;

/** The kernel's clock tick (USER_HZ), in which /proc reports CPU time; 100 on practically every Linux. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU time (user + system, all threads) the process has used so far, in milliseconds. */
export function readCpuMs(pid: number): number {
  const { userTicks, systemTicks } = parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return ((userTicks + systemTicks) * 1000) / clockTicksPerSecond();
}

/** Busy CPU time of all processes on the machine so far, in milliseconds. */
export function readMachineBusyMs(): number {
  return (parseMachineBusyTicks(fs.readFileSync('/proc/stat', 'utf8')) * 1000) / clockTicksPerSecond();
}

/** The pids of running processes whose command name (/proc/<pid>/comm) is `name`. */
export function findProcessesByName(name: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

/** As readCpuMs, but 0 once the process has gone (for polling a process that may have died). */
export function readCpuMsIfRunning(pid: number): number {
  try {
    return readCpuMs(pid);
  } catch {
    return 0;
  }
}

export function readRssBytes(pid: number): number | undefined {
  try {
    return parseVmRssBytes(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined; // the process has exited
  }
}

/**
 * Samples the process's RSS every `intervalMs` until stopped, and returns the largest sample. VmHWM would give
 * the peak since the process started; the bench wants the peak during one timed run.
 */
export function samplePeakRss(pid: number, intervalMs = 100): { stop(): number } {
  let peak = readRssBytes(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, readRssBytes(pid) ?? 0);
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, readRssBytes(pid) ?? 0);
      return peak;
    },
  };
}
