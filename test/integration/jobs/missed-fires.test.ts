import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectorLocked, connectorLockKey } from '../../../jobs/connector-lock';
import { createPullQueue, fireJobId, schedulerId, type PullJobData } from '../../../jobs/pull-queue';
import { createRedisConnection, type RedisConnection } from '../../../jobs/redis-connection';
import { reconcileSchedules } from '../../../jobs/schedule-reconciler';
import { startWorker, type RunningWorker } from '../../../jobs/worker';
import { registry } from '../../../src/metrics';
import { loadConnectorForRun } from '../../../src/store/connectors';
import { connectorAndRunOfFire, recordMissedFires, runOfFire } from '../../../src/store/schedule-fires';
import { isUuid } from '../../../src/store/uuid';
import { saveConnector, testBox } from '../../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

/**
 * BullMQ makes a scheduler's next job when a worker takes the current one, from the time it is taken: a fire that
 * waited longer than the interval makes the fires after it never happen. Each such fire is recorded as a missed run.
 */

let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: RedisConnection;
let queue: Queue<PullJobData>;
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query('create table products (id bigint primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(
    `insert into products select g, 'P' || g, '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, 50) g`,
  );
  conn = createRedisConnection(redis.url);
  queue = createPullQueue(conn);
});
afterAll(async () => {
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
  await Promise.all([platform?.drop(), source?.drop()]);
});

const connector = (schedule: string) =>
  saveConnector(platform.pool, 'acme', {
    schedule,
    connection_config: { dsn: source.url },
    settings: { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 } },
  });

const runsOf = async (connectorId: string) =>
  (
    await platform.pool.query<{ status: string; fire: number | null; error_kind: string | null; error: string | null }>(
      `select status, (extract(epoch from scheduled_for) * 1000)::float8 as fire, error_kind, error
         from connector_runs where connector_id = $1 order by scheduled_for`,
      [connectorId],
    )
  ).rows;

const missedMetric = async (connectorId: string) => {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'qanatix_schedule_missed_total');
  return (metric?.values ?? []).find((v) => v.labels.connector_id === connectorId)?.value ?? 0;
};

describe('missed fires', () => {
  test('fires skipped while the first one waited for a worker are recorded as missed runs with their fire times, once', async () => {
    const id = await connector('*/10 * * * * *');
    await reconcileSchedules(platform.pool, queue);
    const first = (await queue.getJobScheduler(schedulerId(id)))!.next!;
    // No worker until two more fires have passed: the first fire's job waits, the next two are never made.
    await new Promise((r) => setTimeout(r, first + 25_000 - Date.now()));
    const connection = createRedisConnection(redis.url);
    // A fetch loop that parks on a fresh Redis Cluster (jobs/fetch-watchdog.ts) is restarted well within the wait below.
    const fetchWatch = { graceMs: 5_000, everyMs: 1_000 };
    const worker: RunningWorker = startWorker({ pool: platform.pool, box: testBox, connection, log: quiet, fetchWatch });
    try {
      await waitFor(
        'the first fire to run',
        async () => (await runsOf(id)).some((r) => r.fire === first && r.status === 'succeeded'),
        20_000,
      );
      const next = (await queue.getJobScheduler(schedulerId(id)))!.next!;
      expect(next).toBeGreaterThan(first + 20_000);
      const skipped = [first + 10_000, first + 20_000];

      // A check while the fires are within their grace records nothing; one later records each skipped fire once,
      // even when two workers' reconcilers check at the same moment.
      expect((await reconcileSchedules(platform.pool, queue)).missed.filter((m) => m.connectorId === id)).toEqual([]);
      const later = Date.now() + 60_000;
      const [a, b] = await Promise.all([reconcileSchedules(platform.pool, queue, later), reconcileSchedules(platform.pool, queue, later)]);
      const mine = (r: typeof a) => r.missed.filter((m) => m.connectorId === id);
      expect([...mine(a), ...mine(b)]).toEqual([{ connectorId: id, fires: skipped }]);
      expect(mine(await reconcileSchedules(platform.pool, queue, later))).toEqual([]);
      expect(await missedMetric(id)).toBe(2);

      const runs = await runsOf(id);
      expect(runs.filter((r) => r.status === 'missed')).toEqual(
        skipped.map((fire) => ({ fire, status: 'missed', error_kind: 'missed', error: expect.stringMatching(/no run started/) })),
      );
      expect(runs.find((r) => r.fire === first)).toMatchObject({ status: 'succeeded' });
      // The fires after the gap run as usual and are not missed.
      await waitFor(
        'a fire after the gap to run',
        async () => (await runsOf(id)).some((r) => r.fire! >= next && r.status === 'succeeded'),
        20_000,
      );
      expect(mine(await reconcileSchedules(platform.pool, queue, Date.now() + 60_000))).toEqual([]);
    } finally {
      await worker.close();
      connection.disconnect();
    }
  }, 90_000);

  test('a connector none of whose fires ever became a run (its scheduler lost, no worker) has them recorded from when it was set', async () => {
    const id = await connector('*/10 * * * * *');
    // Set two minutes ago, and never armed since: no fire could have run.
    await platform.pool.query("update connectors set updated_at = now() - interval '2 minutes' where id = $1", [id]);
    const changed = (
      await platform.pool.query('select (extract(epoch from updated_at) * 1000)::float8 as t from connectors where id = $1', [id])
    ).rows[0].t as number;
    const now = Date.now();
    const { missed } = await reconcileSchedules(platform.pool, queue, now);
    const expected: number[] = [];
    for (let f = Math.ceil((changed + 1) / 10_000) * 10_000; f < now - 60_000; f += 10_000) expected.push(f);
    expect(expected.length).toBeGreaterThanOrEqual(5);
    expect(missed.filter((m) => m.connectorId === id)).toEqual([{ connectorId: id, fires: expected }]);
    expect((await runsOf(id)).map((r) => [r.status, r.fire])).toEqual(expected.map((f) => ['missed', f]));
    expect((await reconcileSchedules(platform.pool, queue, now)).missed.filter((m) => m.connectorId === id)).toEqual([]);
    await platform.pool.query('update connectors set enabled = false where id = $1', [id]);
  });

  test("a fire recorded as missed whose job turns up after all (a worker that stalled) becomes that fire's run", async () => {
    const id = await connector('*/15 * * * *');
    const tenantId = (await platform.pool.query('select tenant_id from connectors where id = $1', [id])).rows[0].tenant_id as string;
    const fireAt = Date.UTC(2026, 0, 1, 0, 15);
    const jobId = fireJobId(schedulerId(id), fireAt);
    expect(await recordMissedFires(platform.pool, { connectorId: id, tenantId }, [{ fireAt, jobId }], 'test')).toEqual([fireAt]);
    const run = await runOfFire(platform.pool, { connectorId: id, tenantId, jobId, fireAt, mode: 'incremental' });
    expect(run).toMatchObject({ status: 'running', attempts: 0 });
    expect(await runsOf(id)).toEqual([{ fire: fireAt, status: 'running', error: null, error_kind: null }]);
    // The same fire again (a retry of its job) finds the same run.
    expect(await runOfFire(platform.pool, { connectorId: id, tenantId, jobId, fireAt, mode: 'incremental' })).toEqual(run);
  });

  test("a fire's connector and run in one statement: the run as runOfFire makes it, none for a paused connector or another tenant", async () => {
    const id = await connector('*/15 * * * *');
    const tenantId = (await platform.pool.query('select tenant_id from connectors where id = $1', [id])).rows[0].tenant_id as string;
    const fire = (minute: number) => {
      const fireAt = Date.UTC(2026, 0, 2, 0, minute);
      return { connectorId: id, tenantId, jobId: fireJobId(schedulerId(id), fireAt), fireAt, mode: 'incremental' as const };
    };
    const first = await connectorAndRunOfFire(platform.pool, testBox, fire(0));
    // The connector as a run loads it, its connection opened.
    expect(first.connector).toEqual(await loadConnectorForRun(platform.pool, testBox, id, tenantId));
    expect(first.connector!.connection_config).toEqual({ dsn: source.url });
    expect(first.run).toMatchObject({ status: 'running', attempts: 0, cancel_requested_at: null });
    // A retry of the same fire's job finds the same run; runOfFire agrees.
    expect((await connectorAndRunOfFire(platform.pool, testBox, fire(0))).run).toEqual(first.run);
    expect(await runOfFire(platform.pool, fire(0))).toEqual(first.run);
    // A fire recorded as missed whose job turns up becomes its run, as with runOfFire.
    await recordMissedFires(platform.pool, { connectorId: id, tenantId }, [fire(15)], 'test');
    expect((await connectorAndRunOfFire(platform.pool, testBox, fire(15))).run).toMatchObject({ status: 'running' });

    // Job data from Redis naming another tenant, or ids that are not ids: no connector, and nothing written.
    const other = await saveConnector(platform.pool, 'other-tenant', {
      connection_config: { dsn: source.url },
      settings: { table: 'products' },
    });
    const otherTenant = (await platform.pool.query('select tenant_id from connectors where id = $1', [other])).rows[0].tenant_id as string;
    for (const forged of [
      { ...fire(30), tenantId: otherTenant },
      { ...fire(30), connectorId: other },
      { ...fire(30), connectorId: "x' or true --" },
      { ...fire(30), tenantId: 'not-a-uuid' },
    ]) {
      expect(await connectorAndRunOfFire(platform.pool, testBox, forged)).toEqual({ connector: null, run: null, lockPid: null });
      // Asked to take the lock too, it takes none: not the other tenant's connector's, not the named one's.
      const session = await platform.pool.connect();
      try {
        const lockKey = connectorLockKey(isUuid(forged.connectorId) ? forged.connectorId : id);
        expect(await connectorAndRunOfFire(session, testBox, { ...forged, lockKey })).toEqual({
          connector: null,
          run: null,
          lockPid: null,
        });
        expect(await connectorLocked(platform.pool, other)).toBe(false);
        expect(await connectorLocked(platform.pool, id)).toBe(false);
      } finally {
        session.release();
      }
    }
    // With the connector's lock key, the statement takes the lock on its session: one session holds it, the next is told no.
    const [holder, next] = [await platform.pool.connect(), await platform.pool.connect()];
    try {
      const lockKey = connectorLockKey(id);
      const pid = (await holder.query('select pg_backend_pid() as pid')).rows[0].pid as number;
      expect(await connectorAndRunOfFire(holder, testBox, { ...fire(0), lockKey })).toMatchObject({ run: first.run, lockPid: pid });
      expect(await connectorLocked(platform.pool, id)).toBe(true);
      expect(await connectorAndRunOfFire(next, testBox, { ...fire(0), lockKey })).toMatchObject({ run: first.run, lockPid: null });
      await holder.query('select pg_advisory_unlock($1::bigint)', [lockKey]);
      expect(await connectorLocked(platform.pool, id)).toBe(false);
    } finally {
      holder.release();
      next.release();
    }
    // A paused connector: loaded (its job's retry may still own a run), but no new run.
    await platform.pool.query('update connectors set enabled = false where id = $1', [id]);
    const paused = await connectorAndRunOfFire(platform.pool, testBox, fire(45));
    expect(paused.connector).toMatchObject({ id, enabled: false });
    expect(paused.run).toBeNull();
    expect((await runsOf(id)).map((r) => r.fire)).toEqual([fire(0).fireAt, fire(15).fireAt]);
    expect((await platform.pool.query('select count(*)::int as n from connector_runs where connector_id = $1', [other])).rows[0].n).toBe(0);
  });
});
