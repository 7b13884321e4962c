/**
 * What the README promises about schedules and runs, on real servers: the reconciler re-arms an overdue scheduler,
 * a scheduled run that finds its connector busy is recorded as `skipped` (a manual one waits), a full resync
 * forgets the cursor once even when its first attempt is killed, and a cron in Asia/Kolkata fires at the UTC
 * instant that time zone means.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { connectorLockKey } from '../../../jobs/connector-lock';
import { createPullQueue, PULL_JOB, schedulerId, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { runPull } from '../../../jobs/run-pull';
import { armSchedule, reconcileSchedules } from '../../../jobs/schedule-reconciler';
import { startWorker } from '../../../jobs/worker';
import { createRun, getRun } from '../../../src/store/connector-runs';
import { getConnectorState } from '../../../src/store/connector-state';
import { newRun, saveConnector, testBox } from '../../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

const PULL_CHILD = fileURLToPath(new URL('../../conformance/pull-child.ts', import.meta.url));
const ROWS = 20_000;
const FEW = 3_000;
let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
const closing: Array<() => Promise<unknown>> = [];
const quiet = { info() {}, warn() {}, error() {} };

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query('create table products (id bigint primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(
    `insert into products select g, 'P' || g, '2026-01-01'::timestamptz + (g / 10) * interval '1 second' from generate_series(1, ${ROWS}) g`,
  );
  // Small batches of a smaller table: a pull long enough to be killed midway, short enough to run twice.
  await source.pool.query(`create table few as select * from products where id <= ${FEW}`);
  await source.pool.query('alter table few add primary key (id)');
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
});
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});
afterAll(async () => {
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
  await Promise.all([platform?.drop(), source?.drop()]);
});

function worker() {
  const w = startWorker({ pool: platform.pool, box: testBox, connection: createRedis(redis.url), log: quiet, lockDurationMs: 4_000 });
  closing.push(() => w.close());
  return w;
}

const connector = (vertical: string, extra: Record<string, unknown> = {}, table = 'products', batchSize = 1000) =>
  saveConnector(platform.pool, 'acme', {
    vertical,
    connection_config: { dsn: source.url },
    settings: { table, cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: batchSize },
    ...extra,
  });

const runsOf = async (connectorId: string) =>
  (
    await platform.pool.query<{ id: string; status: string; trigger: string; error_kind: string | null; started_at: Date | null }>(
      'select id, status, trigger, error_kind, started_at from connector_runs where connector_id = $1 order by queued_at',
      [connectorId],
    )
  ).rows;

const entityCount = async (vertical: string) =>
  (await platform.pool.query<{ n: number }>('select count(*)::int as n from entities where vertical = $1', [vertical])).rows[0]!.n;

describe('the reconciler', () => {
  test('a scheduler whose next fire is long past and whose job Redis lost is re-armed, and fires again', async () => {
    const id = await connector('overdue', { schedule: '*/2 * * * * *' });
    const tenantId = (await platform.pool.query('select tenant_id from connectors where id = $1', [id])).rows[0].tenant_id;
    await armSchedule(queue, tenantId, id, '*/2 * * * * *', 'UTC');
    // What a Redis that lost part of its state leaves: the scheduler's next fire five minutes ago, and no job for it.
    const past = Date.now() - 5 * 60_000;
    await conn.zadd(queue.keys.repeat!, past, schedulerId(id));
    for (const job of await queue.getJobs(['delayed', 'waiting', 'prioritized']))
      if (job.repeatJobKey === schedulerId(id)) await job.remove();
    expect((await queue.getJobScheduler(schedulerId(id)))?.next).toBe(past);

    const result = await reconcileSchedules(platform.pool, queue);
    expect(result.rearmed).toEqual([id]);
    expect(result.added).toEqual([]);
    expect((await queue.getJobScheduler(schedulerId(id)))!.next).toBeGreaterThan(Date.now() - 2_000);
    // Armed once more, a second pass leaves it alone.
    expect((await reconcileSchedules(platform.pool, queue)).rearmed).toEqual([]);

    worker();
    await waitFor(
      'a scheduled run',
      async () => (await runsOf(id)).some((r) => r.trigger === 'schedule' && r.status === 'succeeded'),
      20_000,
    );
    expect(await entityCount('overdue')).toBe(ROWS);
    await platform.pool.query('update connectors set enabled = false where id = $1', [id]);
    await reconcileSchedules(platform.pool, queue);
  });
});

describe('one run per connector', () => {
  test('a scheduled run that finds its connector busy is recorded as skipped; a manual run queued then waits and runs', async () => {
    const id = await connector('busy');
    const tenantId = (await platform.pool.query('select tenant_id from connectors where id = $1', [id])).rows[0].tenant_id;
    // Another run's lock, held by a session of its own.
    const holder = new pg.Client({ connectionString: platform.url });
    await holder.connect();
    closing.push(() => holder.end());
    await holder.query('select pg_advisory_lock($1::bigint)', [connectorLockKey(id)]);

    await armSchedule(queue, tenantId, id, '*/1 * * * * *', 'UTC');
    closing.push(() => queue.removeJobScheduler(schedulerId(id)));
    worker();
    const skipped = await waitFor('a skipped scheduled run', async () => (await runsOf(id)).find((r) => r.status === 'skipped'), 15_000);
    expect(skipped).toMatchObject({ trigger: 'schedule', error_kind: 'locked' });
    await queue.removeJobScheduler(schedulerId(id));

    const manual = await createRun(platform.pool, { connectorId: id, tenantId, trigger: 'manual', mode: 'incremental' });
    await queue.add(
      PULL_JOB,
      { connectorId: id, tenantId, mode: 'incremental', trigger: 'manual', runId: manual },
      { jobId: `run-${manual}` },
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const waiting = (await runsOf(id)).find((r) => r.id === manual)!;
    expect(['queued', 'retrying']).toContain(waiting.status); // never skipped: it waits for the lock
    expect(await entityCount('busy')).toBe(0);

    await holder.query('select pg_advisory_unlock($1::bigint)', [connectorLockKey(id)]);
    await waitFor('the manual run', async () => (await runsOf(id)).find((r) => r.id === manual && r.status === 'succeeded'), 30_000);
    expect(await entityCount('busy')).toBe(ROWS);
    expect((await runsOf(id)).filter((r) => r.status === 'skipped').every((r) => r.trigger === 'schedule')).toBe(true);
  });
});

describe('full resync', () => {
  test('forgets the cursor once, on its first attempt: a second attempt after a SIGKILL resumes instead of starting over', async () => {
    const id = await connector('resync', {}, 'few', 10);
    const first = await newRun(platform.pool, id, 'incremental');
    await runPull({
      pool: platform.pool,
      connector: first.connector,
      runId: first.runId,
      mode: 'incremental',
      signal: new AbortController().signal,
    });
    expect((await getConnectorState(platform.pool, id)).cursor).toMatchObject({ key: [FEW] });

    const { runId } = await newRun(platform.pool, id, 'full');
    const attempt = () => {
      const child = spawn(process.execPath, ['--import', 'tsx', PULL_CHILD, platform.url, id, runId, 'full'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      const closed = new Promise<{ code: number | null; signal: string | null }>((r) =>
        child.on('close', (code, signal) => r({ code, signal })),
      );
      return { child, closed, output: () => out };
    };
    const killed = attempt();
    await waitFor(
      'the full run to commit batches',
      async () => {
        if (killed.child.exitCode !== null) throw new Error(`the pull ended before it could be killed: ${killed.output()}`);
        return ((await getRun(platform.pool, runId))?.rows_read ?? 0) >= 300;
      },
      120_000,
      10,
    );
    killed.child.kill('SIGKILL');
    expect((await killed.closed).signal).toBe('SIGKILL');
    const midway = (await getConnectorState(platform.pool, id)).cursor as { key: number[] };
    expect(midway.key[0]).toBeLessThan(FEW); // the first attempt forgot the old cursor and started from the beginning

    const resumed = attempt();
    expect((await resumed.closed).code, resumed.output()).toBe(0);
    const run = (await getRun(platform.pool, runId))!;
    // Forgetting again would read the committed part twice: more than FEW rows.
    expect(run).toMatchObject({ rows_read: FEW, cursor_reset: true });
    expect(run.inserted + run.updated + run.unchanged).toBe(FEW);
    expect(await entityCount('resync')).toBe(FEW);
  });
});

describe('time zones', () => {
  test('a cron in Asia/Kolkata (UTC+05:30) fires at the UTC instant its local time means', async () => {
    const id = await connector('kolkata');
    const tenantId = (await platform.pool.query('select tenant_id from connectors where id = $1', [id])).rows[0].tenant_id;
    // A whole second at least eight seconds ahead, written as a wall-clock time in Kolkata.
    const fireAt = Math.ceil((Date.now() + 8_000) / 1000) * 1000;
    const local = new Date(fireAt + 5.5 * 3600_000);
    const pattern = `${local.getUTCSeconds()} ${local.getUTCMinutes()} ${local.getUTCHours()} * * *`;
    await armSchedule(queue, tenantId, id, pattern, 'Asia/Kolkata');
    closing.push(() => queue.removeJobScheduler(schedulerId(id)));
    expect((await queue.getJobScheduler(schedulerId(id)))!.next).toBe(fireAt);

    worker();
    const run = await waitFor('the run at that instant', async () => (await runsOf(id)).find((r) => r.status === 'succeeded'), 30_000, 50);
    expect(run.trigger).toBe('schedule');
    expect(run.started_at!.getTime()).toBeGreaterThanOrEqual(fireAt);
    expect(run.started_at!.getTime()).toBeLessThan(fireAt + 5_000);
  });
});
