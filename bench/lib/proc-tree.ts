import { readdirSync, readFileSync } from 'node:fs';
import { processCpuMs, readVmBytes } from './proc-stats';

/**
 * Memory and CPU of a whole process tree (a Python loader and the binaries it starts), sampled from
 * /proc, since VmHWM and rusage only describe one process at a time.
 */

/** Pid → parent pid of every live process. */
function parentMap(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // gone meanwhile
    }
  }
  return parents;
}

/** `root` and every live descendant of it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parentMap()) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid)!.push(pid);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export interface TreeUsage {
  /** Highest sum of VmRSS over the tree at one sample. */
  peakRssBytes: number;
  /** The largest VmHWM any single process of the tree reached (exact, never missed by sampling). */
  peakSingleProcessBytes: number;
  /** CPU time of the tree's processes, as last sampled (a process that exited between samples loses its last interval). */
  cpuMs: number;
  processes: number;
}

/** Samples the tree under `root` until the returned function is called. */
export function watchTree(root: number, sampleMs = 50): () => TreeUsage {
  let peak = 0;
  let single = 0;
  const cpu = new Map<number, number>();
  const seen = new Set<number>();
  const sample = () => {
    let sum = 0;
    for (const pid of processTree(root)) {
      const rss = readVmBytes(pid, 'VmRSS');
      if (rss === null) continue;
      seen.add(pid);
      sum += rss;
      single = Math.max(single, readVmBytes(pid, 'VmHWM') ?? 0);
      const ms = processCpuMs(pid);
      if (ms !== null) cpu.set(pid, ms);
    }
    peak = Math.max(peak, sum);
  };
  sample();
  const timer = setInterval(sample, sampleMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    sample();
    return {
      peakRssBytes: peak,
      peakSingleProcessBytes: single,
      cpuMs: [...cpu.values()].reduce((a, b) => a + b, 0),
      processes: seen.size,
    };
  };
}
