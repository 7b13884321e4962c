/**
 * Where a worker's main thread spent its CPU in one stretch of its life (the empty minutes after the first), from the V8
 * CPU profile `--cpu-prof` writes for its whole life: only the samples taken between two instants count. The profile's
 * clock is the machine's monotonic clock, the same as `process.hrtime` in the benchmark, so the window is exact.
 *
 * Each sample is charged to its owner: the frame nearest the leaf that belongs to a package (node_modules/<name>) or
 * to one of our source files (the bundle's `// path.ts` comments say which lines are whose). Node's own modules and
 * native built-ins are passed over, so a socket write is charged to the client that wrote, a JSON.parse to its caller;
 * a sample with no such frame is charged to the Node module nearest its leaf (`node:timers`, `node:net`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ProfileWindow {
  /** Sampled main-thread time in the window, idle left out (ms). */
  busyMs: number;
  /** Sampled idle time in the window (ms). */
  idleMs: number;
  /** Busy time by owner, largest first (ms). */
  owners: Array<{ owner: string; ms: number }>;
  /** Busy time of samples with a frame of the owner anywhere on their stack (what it did and what it called), largest first. */
  inclusive: Array<{ owner: string; ms: number }>;
  /** The busiest leaf functions, with their owner (ms). */
  leaves: Array<{ fn: string; owner: string; ms: number }>;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** The monotonic clock in microseconds, as a V8 profile's timestamps read it. */
export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** The `--cpu-prof` file a process wrote (its name holds the pid), or null. */
export function profileOfPid(dir: string, pid: number): string | null {
  const name = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && f.split('.').includes(String(pid)));
  return name ? join(dir, name) : null;
}

/** For a bundle file: the source file of each line, from esbuild's `// path/to/file.ts` comments. */
function sourceLines(url: string): (line: number) => string | null {
  let marks: Array<[number, string]> = [];
  try {
    readFileSync(fileURLToPath(url), 'utf8')
      .split('\n')
      .forEach((text, i) => {
        const m = /^\/\/ ((?:src|jobs|connectors)\/\S+\.ts)$/.exec(text);
        if (m) marks.push([i, m[1]!]);
      });
  } catch {
    marks = [];
  }
  return (line) => {
    let found: string | null = null;
    for (const [at, file] of marks) {
      if (at > line) break;
      found = file;
    }
    return found;
  };
}

const SPECIAL: Record<string, string> = {
  '(garbage collector)': 'V8: garbage collector',
  '(program)': 'V8: native, no JS frame (program)',
  '(root)': 'V8: root',
};

const bundles = new Map<string, (line: number) => string | null>();

/** The package (node_modules/<name>) or source file of our bundle a frame at `url` and `line` (0-based) belongs to, or null. */
export function frameOwner(url: string, line: number): string | null {
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.includes('/dist/') && url.endsWith('.mjs')) {
    let lines = bundles.get(url);
    if (!lines) bundles.set(url, (lines = sourceLines(url)));
    return lines(line) ?? 'bundle (unmapped)';
  }
  return null;
}

export function profileWindow(file: string, fromUs: number, toUs: number, top = 25): ProfileWindow {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownerOf = (f: CallFrame) => frameOwner(f.url, f.lineNumber);
  /** Per node: its owner, and every owner on its stack. */
  const cache = new Map<number, { owner: string; all: Set<string> }>();
  const attribute = (id: number): { owner: string; all: Set<string> } => {
    const hit = cache.get(id);
    if (hit) return hit;
    const all = new Set<string>();
    let owner: string | null = null;
    let nodeModule: string | null = null;
    const leaf = byId.get(id)!.callFrame;
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      const o = ownerOf(f);
      if (o) {
        all.add(o);
        owner ??= o;
      } else if (f.url.startsWith('node:')) nodeModule ??= f.url;
    }
    const result = { owner: SPECIAL[leaf.functionName] ?? owner ?? nodeModule ?? `native: ${leaf.functionName || '(anonymous)'}`, all };
    cache.set(id, result);
    return result;
  };

  const owners = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const leaves = new Map<string, { fn: string; owner: string; ms: number }>();
  let busyUs = 0;
  let idleUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    if (t < fromUs || t >= toUs) continue;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i]!)!;
    if (node.callFrame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const { owner, all } = attribute(node.id);
    owners.set(owner, (owners.get(owner) ?? 0) + us);
    for (const o of all) inclusive.set(o, (inclusive.get(o) ?? 0) + us);
    const f = node.callFrame;
    const key = `${f.functionName}|${f.url}|${f.lineNumber}`;
    const leaf = leaves.get(key) ?? { fn: `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`, owner, ms: 0 };
    leaf.ms += us / 1000;
    leaves.set(key, leaf);
  }
  const sorted = (m: Map<string, number>) => [...m].map(([owner, us]) => ({ owner, ms: us / 1000 })).sort((a, b) => b.ms - a.ms);
  return {
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    owners: sorted(owners),
    inclusive: sorted(inclusive),
    leaves: [...leaves.values()].sort((a, b) => b.ms - a.ms).slice(0, top),
  };
}

const shortUrl = (url: string) => url.replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, 'dist/');

/** User and system CPU (ms) of each thread of the processes so far, summed by thread name (MainThread, V8Worker …). */
export function threadCpuMs(pids: number[]): Record<string, { user: number; system: number }> {
  const byName: Record<string, { user: number; system: number }> = {};
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const t = (byName[name] ??= { user: 0, system: 0 });
        t.user += (Number(fields[11]) * 1000) / CLOCK_TICKS_PER_S;
        t.system += (Number(fields[12]) * 1000) / CLOCK_TICKS_PER_S;
      } catch {
        // ended meanwhile
      }
    }
  }
  return byName;
}

/** What each thread name spent between two readings of threadCpuMs. */
export function threadCpuBetween(
  a: Record<string, { user: number; system: number }>,
  b: Record<string, { user: number; system: number }>,
): Record<string, { user: number; system: number }> {
  return Object.fromEntries(
    Object.entries(b).map(([name, t]) => [name, { user: t.user - (a[name]?.user ?? 0), system: t.system - (a[name]?.system ?? 0) }]),
  );
}

const CLOCK_TICKS_PER_S = 100; // USER_HZ (getconf CLK_TCK)
