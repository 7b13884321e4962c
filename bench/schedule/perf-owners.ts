/**
 * bench/schedule/perf-owners: a worker's CPU by owner from a Linux `perf` recording, which samples CPU time (task-clock),
 * not wall time as V8's profiler does: a write that wakes a server on a busy 2-core machine costs the V8 profile the
 * time the worker waited to run again, and perf nothing. Run the fleet with the worker's JIT frames named for perf, and
 * record one of its empty minutes from outside:
 *
 *   npx tsx bench/schedule/run.ts --scenarios unspread --minutes 3 --worker-env NODE_OPTIONS=--perf-basic-prof
 *   perf record -e task-clock -F 1000 -g -p <worker pid> -o worker.data      # from the second minute's fire, for 60 s
 *   perf script -i worker.data -F comm,tid,period,ip,sym,dso | npx tsx bench/schedule/perf-owners.ts --runs <runs> --map /tmp/perf-<pid>.map
 *
 * Owners are those of profile-window.ts (the package or source file nearest the leaf; Node's own code, V8 and libc are
 * charged to their caller); a sample in V8's garbage collector or compiler is charged to it, whoever triggered it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { markdownTable } from '../lib/markdown';
import { frameOwner } from './profile-window';

const { values: opts } = parseArgs({
  options: { runs: { type: 'string', default: '1' }, top: { type: 'string', default: '30' }, map: { type: 'string' } },
});
const runs = Number(opts.runs);
const jitName = opts.map ? jitSymbols(opts.map) : null;

/**
 * JIT code by address from the worker's /tmp/perf-<pid>.map. V8 reuses the memory of collected code, so the file holds
 * several functions for one address; perf picks one at random, this the last written (the code there now).
 */
function jitSymbols(file: string): (ip: number) => string | null {
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line, order) => {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
      return m ? [{ start: parseInt(m[1]!, 16), end: parseInt(m[1]!, 16) + parseInt(m[2]!, 16), name: m[3]!, order }] : [];
    })
    .sort((a, b) => a.start - b.start);
  const widest = entries.reduce((w, e) => Math.max(w, e.end - e.start), 0);
  return (ip) => {
    let lo = 0;
    let hi = entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (entries[mid]!.start <= ip) lo = mid;
      else hi = mid - 1;
    }
    let best: (typeof entries)[number] | null = null;
    for (let i = lo; i >= 0 && entries[i]!.start > ip - widest; i--) {
      const e = entries[i]!;
      if (e.start <= ip && ip < e.end && (!best || e.order > best.order)) best = e;
    }
    return best?.name ?? null;
  };
}

let input = '';
for await (const chunk of process.stdin) input += chunk;

/** What V8 itself spends, whoever caused it, by the native symbol of the sample's leaf frames. */
const V8_PARTS: Array<[RegExp, string]> = [
  [/Heap::|Scavenge|MarkCompact|Sweeper|ConcurrentMarking|MinorMS|GCTracer|Evacuat/, 'V8: garbage collector'],
  [/Compiler|Maglev|Turbofan|compiler::|Parser::|Deoptimiz|BytecodeGenerator|Isolate::CreateMessage/, 'V8: compiler'],
];

/** Owners grouped into the parts of a run, first match wins; helper threads are parts of their own. */
const PARTS: Array<[RegExp, string]> = [
  [/^V8: garbage collector$/, 'garbage collection'],
  [/^V8: compiler$/, 'V8 compiler (optimising hot code)'],
  [
    /^(bullmq|ioredis|redis-parser|msgpackr|tslib|cluster-key-slot|denque|standard-as-callback)$/,
    'BullMQ and ioredis (job taken, finished, next made)',
  ],
  [/^(cron-parser|luxon)$/, "cron: a scheduler's next fire"],
  [
    /^(pg|pg-protocol|pg-pool|pg-types|postgres-array|postgres-date|postgres-bytea|postgres-interval|pg-int8|pgpass|pg-connection-string)$/,
    'pg driver (statements, parsing, socket writes)',
  ],
  [
    /^jobs\/(pull-processor|run-pull|connector-lock|ordered-writes|read-ahead|run-recovery)\.ts$|^src\/(store|db)\//,
    'pull processor and run bookkeeping',
  ],
  [
    /^connectors\/(connector-config|source-policy|source-rules|connection-checks|shared-pools|registry|checked-connector)\.ts$|^connectors\/\w+\/\w+-config\.ts$|^src\/(crypto|config|source-policy)/,
    'connector load (decrypt, validate, kept pool)',
  ],
  [/^connectors\//, 'source session and reader'],
  [/^prom-client$|^src\/metrics\.ts$/, 'metrics (prom-client)'],
  [/^pino|^src\/outage-log\.ts$/, 'logging'],
  [/^jobs\/(schedule-reconciler|missed-fires|schedule)\.ts$|^node-cron$/, 'reconciler (every minute)'],
  [
    /^jobs\/(worker|fetch-watchdog|pull-queue|notify-queue|notify-processor|redis-connection)\.ts$|^src\/worker-health\.ts$/,
    'worker wiring, fetch watchdog, notifications',
  ],
  [/^node:internal\/process\/task_queues$/, 'Node: promise jobs and nextTick'],
  [/^node:/, 'Node: timers, streams, events, net'],
  [/^native: /, 'kernel, libuv, V8 runtime without a JS caller'],
];
const partOf = (owner: string) => PARTS.find(([re]) => re.test(owner))?.[1] ?? owner;

const byThreadOwner = new Map<string, number>();
const threads = new Map<string, number>();
const leaves = new Map<string, number>();
/** Main-thread samples with the owner anywhere on the stack: what it did and what it called. */
const inclusive = new Map<string, number>();
for (const block of input.split(/\n\s*\n/)) {
  const lines = block.split('\n').filter((l) => l.trim());
  if (lines.length === 0) continue;
  const head = /^\s*(\S.*?)\s+(\d+)\s+(\d+)\s*$/.exec(lines[0]!) ?? /^\s*(\S.*?)\s+(\d+)\s+(\d+)/.exec(lines[0]!);
  if (!head) continue;
  const thread = head[1]!.trim();
  const period = Number(head[3]);
  const frames = lines.slice(1).map((l) => {
    const m = /^([0-9a-f]+)\s+(.*?)(?:\s+\(([^)]*)\))?$/.exec(l.trim());
    if (!m) return l.trim();
    const jit = jitName && m[3] && /perf-\d+\.map|unknown/.test(m[3]) ? jitName(parseInt(m[1]!, 16)) : null;
    return jit ?? m[2]!;
  });
  let owner: string | null = null;
  for (const sym of frames.slice(0, 12)) {
    const part = V8_PARTS.find(([re]) => re.test(sym));
    if (part) {
      owner = part[1];
      break;
    }
    if (/^(JS|Script|Eval):/.test(sym)) break;
  }
  let nodeModule: string | null = null;
  const onStack = new Set<string>();
  for (const sym of frames) {
    const js = /^(?:JS|Script|Eval):.*?\s(\S+):(\d+):\d+$/.exec(sym);
    const o = js && frameOwner(js[1]!.startsWith('/') ? `file://${js[1]}` : js[1]!, Number(js[2]) - 1);
    if (o) onStack.add(o);
  }
  if (thread === 'MainThread') for (const o of onStack) inclusive.set(o, (inclusive.get(o) ?? 0) + period);
  for (const sym of frames) {
    if (owner) break;
    const js = /^(?:JS|Script|Eval):.*?\s(\S+):(\d+):\d+$/.exec(sym);
    if (!js) continue;
    owner = frameOwner(js[1]!.startsWith('/') ? `file://${js[1]}` : js[1]!, Number(js[2]) - 1);
    if (!owner && js[1]!.startsWith('node:')) nodeModule ??= js[1]!;
  }
  owner ??= nodeModule ?? `native: ${frames[0] ?? '?'}`.slice(0, 120);
  const key = `${thread === 'MainThread' ? 'main' : thread}|${owner}`;
  byThreadOwner.set(key, (byThreadOwner.get(key) ?? 0) + period);
  threads.set(thread, (threads.get(thread) ?? 0) + period);
  if (thread === 'MainThread') {
    const leaf = (frames[0] ?? '?').slice(0, 140);
    leaves.set(`${leaf}|${owner}`, (leaves.get(`${leaf}|${owner}`) ?? 0) + period);
  }
}
const ms = (ns: number) => (ns / 1e6 / runs).toFixed(3);
console.log(`CPU sampled, ms per run (${runs} runs), by thread:\n`);
console.log(
  markdownTable(
    ['thread', 'ms per run'],
    [...threads].sort((a, b) => b[1] - a[1]).map(([t, ns]) => [t, ms(ns)]),
  ),
);
const parts = new Map<string, number>();
for (const [k, ns] of byThreadOwner) {
  const [thread, owner] = k.split('|') as [string, string];
  const part = thread === 'main' || /^V8: /.test(owner) ? partOf(owner) : `${thread}: other`;
  parts.set(part, (parts.get(part) ?? 0) + ns);
}
console.log('\nBy part (all threads):\n');
console.log(
  markdownTable(
    ['part', 'ms per run'],
    [...parts].sort((a, b) => b[1] - a[1]).map(([p, ns]) => [p, ms(ns)]),
  ),
);
console.log('\nBy thread and owner:\n');
console.log(
  markdownTable(
    ['thread', 'owner', 'ms per run'],
    [...byThreadOwner]
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(opts.top))
      .map(([k, ns]) => [...k.split('|'), ms(ns)]),
  ),
);
console.log('\nMain thread, with callees (samples with the owner anywhere on the stack):\n');
console.log(
  markdownTable(
    ['owner', 'ms per run'],
    [...inclusive]
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(opts.top))
      .map(([o, ns]) => [o, ms(ns)]),
  ),
);
console.log('\nMain thread, busiest leaf symbols:\n');
console.log(
  markdownTable(
    ['leaf', 'owner', 'ms per run'],
    [...leaves]
      .sort((a, b) => b[1] - a[1])
      .slice(0, Number(opts.top))
      .map(([k, ns]) => [`\`${k.split('|')[0]}\``, k.split('|')[1]!, ms(ns)]),
  ),
);
