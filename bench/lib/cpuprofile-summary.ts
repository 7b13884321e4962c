import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { markdownTable } from './markdown';

/**
 * Where a Node process spent its CPU, from a V8 .cpuprofile (`node --cpu-prof`): self time per
 * function and per package/file. Usage: npx tsx bench/lib/cpuprofile-summary.ts <file.cpuprofile> [--top N]
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  key: string;
  ms: number;
  /** Share of the busy (non-idle) time. */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Time the main thread waited (for the database, the network): (idle) samples. */
  idleMs: number;
  functions: SelfTime[];
  modules: SelfTime[];
}

/** node_modules/<pkg>, a project file, node:<area>, or V8's own buckets such as (garbage collector). */
function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const project = /\/((?:src|connectors|jobs|bench|test)\/.*)$/.exec(url);
  return project ? project[1]! : url.replace(/^file:\/\//, '');
}

function top(map: Map<string, number>, total: number, n: number): SelfTime[] {
  return [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, us]) => ({ key, ms: us / 1000, share: us / total }));
}

export function summarizeCpuProfile(profile: CpuProfile, n = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const fnTime = new Map<string, number>();
  const moduleTime = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const us = profile.timeDeltas[i] ?? 0;
    if (!node) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const mod = moduleOf(url, functionName);
    // Line 0 is all tsx-transpiled code reports; the file name is what helps there.
    const fn = `${functionName || '(anonymous)'} ${url ? mod + (lineNumber > 0 ? `:${lineNumber + 1}` : '') : ''}`.trim();
    fnTime.set(fn, (fnTime.get(fn) ?? 0) + us);
    moduleTime.set(mod, (moduleTime.get(mod) ?? 0) + us);
  }
  const busy = Math.max(1, total - idle);
  return { totalMs: total / 1000, idleMs: idle / 1000, functions: top(fnTime, busy, n), modules: top(moduleTime, busy, n) };
}

export function formatSummary(s: ProfileSummary): string {
  const rows = (list: SelfTime[]) => list.map((t) => [t.key, t.ms.toFixed(0), `${(t.share * 100).toFixed(1)}%`]);
  return [
    `profile: ${(s.totalMs / 1000).toFixed(1)} s, idle (waiting on I/O) ${((s.idleMs / s.totalMs) * 100).toFixed(1)}%; ` +
      `shares below are of the ${((s.totalMs - s.idleMs) / 1000).toFixed(1)} s busy`,
    '',
    markdownTable(['function (self time)', 'ms', 'share'], rows(s.functions), ['left', 'right', 'right']),
    '',
    markdownTable(['package / file (self time)', 'ms', 'share'], rows(s.modules), ['left', 'right', 'right']),
  ].join('\n');
}

/**
 * The busiest of several profiles: Node writes one per thread, and a loader worker thread (tsx)
 * that idles throughout is noise next to the main thread.
 */
export function busiestProfile(files: string[]): { file: string; profile: CpuProfile } | null {
  let best: { file: string; profile: CpuProfile; busyMs: number } | null = null;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const s = summarizeCpuProfile(profile, 0);
    if (!best || s.totalMs - s.idleMs > best.busyMs) best = { file, profile, busyMs: s.totalMs - s.idleMs };
  }
  return best;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const n = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 25;
  if (args.length === 0) {
    console.error('usage: npx tsx bench/lib/cpuprofile-summary.ts <file.cpuprofile>... [--top N]');
    process.exit(2);
  }
  for (const file of args) {
    console.log(`## ${file}\n\n${formatSummary(summarizeCpuProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, n))}\n`);
  }
}
