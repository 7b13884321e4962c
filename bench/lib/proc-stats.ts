import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Linux /proc readers for measuring another process (a server under load) from the outside,
 * so the measurement itself costs the measured process nothing.
 */

const CLOCK_TICKS_PER_S = 100; // USER_HZ: 100 on every mainstream Linux build (getconf CLK_TCK)

/** A `Vm*:` field of /proc/<pid>/status in bytes, or null once the process is gone. */
export function readVmBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Resets the process's VmHWM to its current RSS (`echo 5 > clear_refs`, Linux ≥ 4.0, same user), so
 * a later VmHWM is the peak of one phase rather than of the process's whole life.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** User + system CPU time of a process in milliseconds (all its threads: GC and libuv included). */
export function processCpuMs(pid: number): number | null {
  try {
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return null;
  }
}

/** Busy and total CPU time of the whole machine in milliseconds, summed over all cores. */
export function machineCpuMs(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already inside user). Steal is the
  // hypervisor's: neither work done here nor time we could have used, so it counts as neither.
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0] = values.map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy: (busy * 1000) / CLOCK_TICKS_PER_S, total: ((busy + idle + iowait) * 1000) / CLOCK_TICKS_PER_S };
}

/** Pids of the processes whose command name (/proc/<pid>/comm) is `name`, e.g. every PostgreSQL backend. */
export function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/**
 * CPU used by every process named `name` during one phase (PostgreSQL forks a process per session).
 * Sampled, because a process that exits takes its counters with it: at most one interval of an
 * exiting process's time is lost. `keep` narrows them (e.g. to the backends of some databases).
 */
export function watchProcessesNamed(name: string, sampleMs = 200, keep: (pid: number) => boolean = () => true): () => number {
  const start = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = (initial: boolean) => {
    for (const pid of pidsNamed(name)) {
      if (!keep(pid)) continue;
      const ms = processCpuMs(pid);
      if (ms === null) continue;
      if (initial) start.set(pid, ms);
      else if (!start.has(pid)) start.set(pid, 0); // born during the phase: all its time counts
      last.set(pid, ms);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), sampleMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    sample(false);
    let total = 0;
    for (const [pid, ms] of last) total += ms - (start.get(pid) ?? 0);
    return total;
  };
}

export interface ProcessUsage {
  /** Resident memory of the watched process when the phase began (its idle footprint). */
  startRssBytes: number | null;
  /** Peak resident memory of the watched process during the phase. */
  peakRssBytes: number | null;
  /** How the peak was found: VmHWM after a reset (exact), or sampled VmRSS (may miss short spikes). */
  peakRssMethod: 'vmhwm' | 'sampled';
  /** CPU time the watched process used during the phase. */
  cpuMs: number | null;
  /** CPU time the whole machine used (all processes), and what it could have used. */
  machineBusyMs: number;
  machineTotalMs: number;
}

/**
 * Watches a process during one phase: call the returned function when the phase ends. VmRSS is also
 * sampled, as a fallback where clear_refs is not writable.
 */
export function watchProcess(pid: number, sampleMs = 100): () => ProcessUsage {
  const exact = resetPeakRss(pid);
  const cpu0 = processCpuMs(pid);
  const machine0 = machineCpuMs();
  const startRss = readVmBytes(pid, 'VmRSS');
  let sampled = startRss ?? 0;
  const timer = setInterval(() => {
    sampled = Math.max(sampled, readVmBytes(pid, 'VmRSS') ?? 0);
  }, sampleMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    const hwm = exact ? readVmBytes(pid, 'VmHWM') : null;
    const cpu1 = processCpuMs(pid);
    const machine1 = machineCpuMs();
    return {
      startRssBytes: startRss,
      peakRssBytes: hwm ?? (sampled || null),
      peakRssMethod: hwm !== null ? 'vmhwm' : 'sampled',
      cpuMs: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null,
      machineBusyMs: machine1.busy - machine0.busy,
      machineTotalMs: machine1.total - machine0.total,
    };
  };
}
