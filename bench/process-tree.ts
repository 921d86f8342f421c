/**
 * A target's cost when it is more than one process: the gateway with GATEWAY_WORKERS=2 is a cluster primary and
 * its workers, and the bench must count all of them, not the primary that only hands out connections. The tree
 * is read from /proc/<pid>/task/<tid>/children at each reading, so a worker that was replaced mid-run is counted
 * from when it appeared (the CPU of a worker that died during a window is lost with it: the bench says so).
 */
import fs from 'node:fs';
import { readCpuMsIfRunning, readRssBytes } from './proc';

/** `pid` and every process below it. */
export function processTree(pid: number): number[] {
  const pids = [pid];
  for (let index = 0; index < pids.length; index++) {
    const current = pids[index]!;
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${current}/task`);
    } catch {
      continue; // gone
    }
    for (const task of tasks) {
      try {
        const children = fs.readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children !== '') pids.push(...children.split(/\s+/).map(Number));
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return pids;
}

/** Busy CPU time of `pid` and the processes below it, in milliseconds. */
export function readTreeCpuMs(pid: number): number {
  return processTree(pid).reduce((total, each) => total + readCpuMsIfRunning(each), 0);
}

/** Samples the summed RSS of `pid` and the processes below it every `intervalMs`; `stop` returns the peak. */
export function sampleTreePeakRss(pid: number, intervalMs = 100): { stop(): number } {
  const read = () => processTree(pid).reduce((total, each) => total + (readRssBytes(each) ?? 0), 0);
  let peak = read();
  const timer = setInterval(() => {
    peak = Math.max(peak, read());
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, read());
      return peak;
    },
  };
}
