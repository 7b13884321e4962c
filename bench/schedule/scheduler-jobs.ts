/**
 * bench/schedule/scheduler-jobs: what BullMQ's job schedulers cost per job against plain jobs, with nothing else
 * running. `--jobs` jobs fire on each minute for `--minutes` minutes, either made by as many job schedulers on
 * `* * * * *` (as the reconciler arms them: the worker makes each one's next job when it takes the current one), or
 * added by one `addBulk` per minute (as a reconciler that enqueued fires itself would). One BullMQ worker in this
 * process takes them with the pull worker's options and a processor that returns at once, so the figures are BullMQ's
 * own: this process's CPU (worker and producer), the redis-server's, and Redis commands, per job; and how long each
 * minute's jobs took to drain. The modes alternate (`--rounds`), each on an emptied private redis-server.
 *
 *   npx tsx bench/schedule/scheduler-jobs.ts [--jobs 1000] [--minutes 2] [--rounds 2] [--concurrency 8]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Worker } from 'bullmq';
import { createPullQueue, PULL_JOB, PULL_QUEUE, schedulerId, type PullJobData } from '../../jobs/pull-queue';
import { createRedis, QUEUE_PREFIX } from '../../jobs/redis-connection';
import { markdownTable } from '../lib/markdown';
import { processCpuMs } from '../lib/proc-stats';
import { startRedisServer } from '../lib/redis-server';
import { MINUTE_MS, nextMinute, sleepUntil } from './observe';

const { values: opts } = parseArgs({
  options: {
    jobs: { type: 'string', default: '1000' },
    minutes: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '8' },
  },
});
const jobs = Number(opts.jobs);
const minutes = Number(opts.minutes);
const rounds = Number(opts.rounds);
const concurrency = Number(opts.concurrency);
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

type Mode = 'scheduler' | 'plain';
interface ModeResult {
  mode: Mode;
  window: string;
  jobs: number;
  cpuPerJobMs: number;
  redisCpuPerJobMs: number;
  redisCommandsPerJob: number;
  /** From the fire to the last job's finish, each minute. */
  drainMs: number[];
}

const redisServer = await startRedisServer();
const admin = createRedis(redisServer.url);
const commands = async () => [...(await admin.info('commandstats')).matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
const ids = Array.from({ length: jobs }, () => randomUUID());
const tenantId = randomUUID();
const data = (connectorId: string): PullJobData => ({ connectorId, tenantId, mode: 'incremental', trigger: 'schedule' });

async function measure(mode: Mode): Promise<ModeResult> {
  await admin.flushall();
  const conn = createRedis(redisServer.url);
  const queue = createPullQueue(conn);
  const workerConn = createRedis(redisServer.url);
  const finished: number[] = [];
  // The pull worker's options (jobs/worker.ts), with a processor that does nothing.
  const worker = new Worker<PullJobData>(
    PULL_QUEUE,
    async () => {
      finished.push(Date.now());
    },
    {
      connection: workerConn,
      prefix: QUEUE_PREFIX,
      concurrency,
      lockDuration: 60_000,
      stalledInterval: 15_000,
      maxStalledCount: 10,
    },
  );
  await worker.waitUntilReady();
  if (mode === 'scheduler')
    for (let i = 0; i < ids.length; i += 100)
      await Promise.all(
        ids
          .slice(i, i + 100)
          .map((id) => queue.upsertJobScheduler(schedulerId(id), { pattern: '* * * * *', tz: 'UTC' }, { name: PULL_JOB, data: data(id) })),
      );
  const start = nextMinute(Date.now() + 2_000);
  await sleepUntil(start - 500);
  const cpu0 = process.cpuUsage();
  const redis0 = processCpuMs(redisServer.pid) ?? 0;
  const commands0 = await commands();
  const drainMs: number[] = [];
  for (let m = 0; m < minutes; m++) {
    const fire = start + m * MINUTE_MS;
    const before = finished.length;
    await sleepUntil(fire);
    if (mode === 'plain') await queue.addBulk(ids.map((id) => ({ name: PULL_JOB, data: data(id), opts: { jobId: `fire-${id}-${fire}` } })));
    while (finished.length - before < jobs && Date.now() < fire + MINUTE_MS - 1_000) await sleepUntil(Date.now() + 50);
    drainMs.push(Math.max(...finished.slice(before)) - fire);
  }
  await sleepUntil(start + minutes * MINUTE_MS - 500);
  const cpu = process.cpuUsage(cpu0);
  const redisMs = (processCpuMs(redisServer.pid) ?? redis0) - redis0;
  const n = finished.filter((t) => t >= start).length;
  const result: ModeResult = {
    mode,
    window: `${new Date(start).toISOString().slice(11, 16)}–${new Date(start + minutes * MINUTE_MS).toISOString().slice(11, 16)}`,
    jobs: n,
    cpuPerJobMs: (cpu.user + cpu.system) / 1000 / Math.max(1, n),
    redisCpuPerJobMs: redisMs / Math.max(1, n),
    // Less the two INFOs.
    redisCommandsPerJob: ((await commands()) - commands0 - 1) / Math.max(1, n),
    drainMs,
  };
  await worker.close();
  await queue.close();
  conn.disconnect();
  workerConn.disconnect();
  return result;
}

const results: ModeResult[] = [];
try {
  for (let r = 0; r < rounds; r++)
    for (const mode of ['scheduler', 'plain'] as const) {
      results.push(await measure(mode));
      log(JSON.stringify(results.at(-1)));
    }
} finally {
  admin.disconnect();
  await redisServer.stop();
}
console.log(
  markdownTable(
    [
      'jobs made by',
      'window',
      'jobs',
      'this process CPU per job',
      'redis-server CPU per job',
      'Redis commands per job',
      'drain per minute',
    ],
    results.map((r) => [
      r.mode === 'scheduler' ? `${jobs} job schedulers` : `one addBulk of ${jobs} a minute`,
      r.window,
      String(r.jobs),
      `${r.cpuPerJobMs.toFixed(3)} ms`,
      `${r.redisCpuPerJobMs.toFixed(3)} ms`,
      r.redisCommandsPerJob.toFixed(1),
      r.drainMs.map((d) => `${(d / 1000).toFixed(2)} s`).join(', '),
    ]),
  ),
);
