/**
 * bench/schedule/reconcile-cost: what one pass of the schedule reconciler costs the worker process that runs it every
 * minute, with `--connectors` connectors on `--schedule` that each ran every fire of the last 15 minutes (the steady
 * state of a fleet: nothing to add, nothing missed). CPU and wall time per pass, after `--warmup` passes; a fleet's
 * minute divides it by its runs.
 *
 *   npx tsx bench/schedule/reconcile-cost.ts [--connectors 1000] [--schedule "* * * * *"] [--passes 10] [--warmup 3]
 */
import { parseArgs } from 'node:util';
import { createPullQueue } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { reconcileSchedules } from '../../jobs/schedule-reconciler';
import { startRedisServer } from '../lib/redis-server';
import { createPlatform, dropPlatform } from './fixture';

const { values: opts } = parseArgs({
  options: {
    connectors: { type: 'string', default: '1000' },
    schedule: { type: 'string', default: '* * * * *' },
    passes: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});

const redisServer = await startRedisServer();
const platform = await createPlatform(opts['pg-url'], {
  count: Number(opts.connectors),
  sourceUrl: 'postgres://bench@127.0.0.1:5432/unused',
  schedule: opts.schedule,
  sharedVertical: false,
});
const redis = createRedis(redisServer.url);
const queue = createPullQueue(redis);
try {
  // Every fire of the last 15 minutes became a run (one a minute, as "* * * * *" fires), and the schedules are older.
  await platform.pool.query(`update connectors set updated_at = now() - interval '1 hour'`);
  await platform.pool.query(
    `insert into connector_runs (connector_id, tenant_id, job_id, trigger, mode, status, scheduled_for, queued_at, started_at, finished_at)
     select c.id, c.tenant_id, 'repeat:connector:' || c.id || ':' || (extract(epoch from f) * 1000)::bigint, 'schedule', 'incremental',
            'succeeded', f, f, f, f
       from connectors c, generate_series(date_trunc('minute', now()) - interval '16 minutes', now() - interval '1 minute', interval '1 minute') f`,
  );
  await reconcileSchedules(platform.pool, queue);
  const passes = Number(opts.passes);
  const samples: Array<{ cpuMs: number; wallMs: number }> = [];
  for (let i = 0; i < Number(opts.warmup) + passes; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await reconcileSchedules(platform.pool, queue);
    const cpu = process.cpuUsage(cpu0);
    if (r.added.length + r.updated.length + r.rearmed.length + r.missed.length > 0)
      throw new Error(`not a steady state: ${JSON.stringify(r)}`);
    if (i >= Number(opts.warmup)) samples.push({ cpuMs: (cpu.user + cpu.system) / 1000, wallMs: performance.now() - t0 });
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const cpu = median(samples.map((s) => s.cpuMs));
  console.log(
    `${opts.connectors} connectors on "${opts.schedule}": one reconciler pass ${cpu.toFixed(1)} ms CPU of this process ` +
      `(median of ${passes}), ${median(samples.map((s) => s.wallMs)).toFixed(1)} ms wall; ` +
      `${(cpu / Number(opts.connectors)).toFixed(3)} ms per connector and minute`,
  );
} finally {
  await queue.close();
  redis.disconnect();
  await redisServer.stop();
  await dropPlatform(platform);
}
