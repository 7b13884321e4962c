/**
 * bench/schedule/round-trips: the statements one small scheduled pull sends, counted per database, for the run that
 * loads the table and for the empty incremental runs after it (the bench fleet's steady state). Each `query()` of a
 * pg client is one statement (a multi-statement simple query is one too); the socket writes are counted beside them
 * (statements pipelined together leave in one write, and the worker waits on each write's answer: its round trips).
 * The pull processor runs as the worker runs it, without BullMQ (its Redis commands are counted by the fleet
 * scenarios' commandstats).
 *
 * Then `--timed` more empty runs, one after another, uncounted: the process's CPU, the CPU of the PostgreSQL backends
 * serving the two databases (the server runs on this machine) and the wall time per run (direction only: compare two
 * revisions alternated, in the same minutes).
 *
 * With `--connectors N --concurrency C`, the timed runs go round the N connectors (each loaded first), C at a time,
 * as a fleet's minute does: what many connectors and runs at once cost the servers beside one connector's runs in turn.
 *
 *   npx tsx bench/schedule/round-trips.ts [--runs 3] [--timed 300] [--rows 100] [--statements] [--connectors 1]
 *       [--concurrency 1] [--pg-url URL]
 */
import { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import type { Job } from 'bullmq';
import pg from 'pg';
import { closeKeptConnectors } from '../../connectors/registry';
import { createPool } from '../../src/db/pool';
import { processCpuMs } from '../lib/proc-stats';
import { createPullProcessor } from '../../jobs/pull-processor';
import { fireJobId, schedulerId, type PullJobData } from '../../jobs/pull-queue';
import { createSourceDatabase, createPlatform, devBox, dropPlatform } from './fixture';

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    timed: { type: 'string', default: '300' },
    rows: { type: 'string', default: '100' },
    // Every statement of the last empty run, in order (first 140 characters each).
    statements: { type: 'boolean', default: false },
    connectors: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '1' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});

type Side = 'platform' | 'source';
let sides = new Map<string, Side>();
let counting = true;
let log: Array<{ side: Side; text: string }> = [];
let writes: Side[] = [];
const socketSides = new WeakMap<object, Side>();
// Counted where every statement of pg goes through, pools and dedicated clients alike.
const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
  const side = sides.get(this.database ?? '');
  const q = args[0] as string | { text?: string };
  if (side && counting) log.push({ side, text: (typeof q === 'string' ? q : (q?.text ?? '?')).replace(/\s+/g, ' ').trim() });
  const socket = (this as unknown as { connection?: { stream?: object } }).connection?.stream;
  if (side && socket) socketSides.set(socket, side);
  return query.apply(this, args);
} as typeof pg.Client.prototype.query;
// And every write of their sockets (Node's one call per write or writev that reaches the kernel).
const socketProto = Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown };
const writeGeneric = socketProto._writeGeneric;
socketProto._writeGeneric = function (this: object, ...args: unknown[]) {
  const side = socketSides.get(this);
  if (side && counting) writes.push(side);
  return writeGeneric.apply(this, args);
};

const source = await createSourceDatabase(opts['pg-url'], Number(opts.rows));
const connectors = Number(opts.connectors);
const concurrency = Number(opts.concurrency);
const platform = await createPlatform(opts['pg-url'], {
  count: connectors,
  sourceUrl: source.url,
  schedule: '* * * * *',
  sharedVertical: false,
});
sides = new Map([
  [platform.db.name, 'platform'],
  [source.name, 'source'],
]);
const quiet = { info() {}, warn() {}, error() {} } as unknown as Parameters<typeof createPullProcessor>[0]['log'];
// The worker's own pool and size (src/server.ts): runs at once each hold a lock session and write beside it.
const pool = createPool(platform.db.url, 10 + 3 * concurrency);
const processor = createPullProcessor({ pool, box: devBox, log: quiet, shutdown: new AbortController().signal });

/** One scheduled fire's job, as a worker takes it (only what the processor reads of a job that succeeds). */
const job = (fire: number, connectorId = platform.connectorIds[0]!) =>
  ({
    id: fireJobId(schedulerId(connectorId), fire),
    data: { connectorId, tenantId: platform.tenantId, mode: 'incremental', trigger: 'schedule' },
    opts: {},
    attemptsMade: 0,
    stalledCounter: 0,
    updateProgress: async () => {},
  }) as unknown as Job<PullJobData>;

/** CPU so far of each PostgreSQL backend connected to the two databases, by pid. */
async function backendsCpuMs(): Promise<Map<number, number>> {
  const { rows } = await platform.pool.query<{ pid: number }>('select pid from pg_stat_activity where datname = any($1)', [
    [...sides.keys()],
  ]);
  return new Map(rows.map((r) => [r.pid, processCpuMs(r.pid) ?? 0]));
}

/** `fn` over `items`, `concurrency` at a time. */
async function inTurns<T>(items: T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

try {
  const fire0 = Math.floor(Date.now() / 60_000) * 60_000;
  for (let i = 0; i <= Number(opts.runs); i++) {
    log = [];
    writes = [];
    const result = await processor(job(fire0 + i * 60_000));
    const count = (side: Side) => `${log.filter((s) => s.side === side).length} (${writes.filter((s) => s === side).length} writes)`;
    console.log(
      `${i === 0 ? 'first load ' : 'empty run  '} rows ${String(result?.rows_read).padStart(4)}  ` +
        `platform ${count('platform')}  source ${count('source')}  (${result?.status})`,
    );
  }
  if (opts.statements) for (const s of log) console.log(`  ${s.side.padEnd(8)} ${s.text.slice(0, 140)}`);
  counting = false;
  // The other connectors' first loads, and one empty run each (so the timed runs are all empty ones).
  const fireN = fire0 + (Number(opts.runs) + 1) * 60_000;
  for (let k = 0; k < 2; k++) await inTurns(platform.connectorIds.slice(1), (id) => processor(job(fireN + k * 60_000, id)));
  const timed = Number(opts.timed);
  const backends0 = await backendsCpuMs();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const runs = Array.from({ length: timed }, (_, i) => i);
  // Each connector's next fire: a fire already run would be a duplicate job, not a run.
  await inTurns(runs, (i) => processor(job(fireN + (2 + Math.floor(i / connectors)) * 60_000, platform.connectorIds[i % connectors]!)));
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  const backends = await backendsCpuMs();
  const serverMs = [...backends].reduce((sum, [pid, ms]) => sum + ms - (backends0.get(pid) ?? 0), 0);
  const ms = (n: number) => (n / timed).toFixed(2);
  if (timed > 0)
    console.log(
      `${timed} empty runs: ${ms((cpu.user + cpu.system) / 1000)} ms CPU (${ms(cpu.system / 1000)} ms of it in the kernel), ` +
        `PostgreSQL ${ms(serverMs)} ms CPU and ${ms(wall)} ms wall per run`,
    );
} finally {
  await closeKeptConnectors();
  await pool.end();
  await dropPlatform(platform);
  await source.drop();
}
