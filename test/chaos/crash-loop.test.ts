/**
 * A worker that dies again and again (OOM kills, evictions): the pull is resumable, so it must end
 * `succeeded` with exactly the source rows; and a job given up after too many deaths must not leave its run
 * `running` nor its connector blocked.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createPullQueue, PULL_JOB, type PullJobData } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { createRun } from '../../src/store/connector-runs';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { waitFor, type ChildRole } from '../helpers/worker-process';
import { expectExactlyRows, startInstallation, type Installation } from './installation';

const ROWS = 300_000;
/** The stall-limit test needs only a few deaths, so a smaller table. */
const FEW = 40_000;
const silent = { info() {}, warn() {}, error() {} };
let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let inst: Installation;

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query(
    'create table items (id bigint primary key, name text not null, qty int not null, updated_at timestamptz not null)',
  );
  await source.pool.query(
    `insert into items select g, 'item ' || g, (g * 7) % 1000, '2026-01-01'::timestamptz + (g / 100) * interval '1 second' from generate_series(1, ${ROWS}) g`,
  );
  await source.pool.query('create index on items (updated_at, id)');
  await source.pool.query(`create table few_items as select * from items where id <= ${FEW}`);
  await source.pool.query('alter table few_items add primary key (id)');
  await source.pool.query('create index on few_items (updated_at, id)');
  conn = createRedis(redis.url, silent);
  queue = createPullQueue(conn, silent);
  // The API alone: the test starts the workers, and kills them.
  inst = await startInstallation({
    databaseUrl: platform.url,
    redisUrl: redis.url,
    topology: 'api',
    env: { WORKER_LOCK_MS: '1000', WORKER_CONCURRENCY: '1' },
  });
});
afterAll(async () => {
  await inst?.stop();
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
  await Promise.all([platform?.drop(), source?.drop()]);
});

let n = 0;
const connector = (table = 'items') =>
  inst.createConnector({
    name: `items-${++n}`,
    vertical: `crash-${n}`,
    connector_type: 'postgresql',
    connection_config: { dsn: source.url },
    table,
    cursor: { column: 'updated_at', lag_seconds: 0 },
    batch_size: 1000,
  });

/** A full pull queued as the API does, with a short backoff so the test does not wait minutes between deaths. */
async function enqueueFull(connectorId: string): Promise<string> {
  const tenantId = (await platform.pool.query('select tenant_id from connectors where id = $1', [connectorId])).rows[0].tenant_id;
  const runId = await createRun(platform.pool, { connectorId, tenantId, trigger: 'manual', mode: 'full' });
  await queue.add(
    PULL_JOB,
    { connectorId, tenantId, mode: 'full', trigger: 'manual', runId },
    { jobId: `run-${runId}`, backoff: { type: 'fixed', delay: 500 } },
  );
  return runId;
}

/** SIGKILLs `worker` at a random point of the pull: once it has committed between 1,000 and `most` more rows. */
async function killMidPull(worker: ChildRole, connectorId: string, runId: string, most = 20_000): Promise<void> {
  const before = (await inst.run(connectorId, runId)).rows_read;
  const at = before + 1_000 + Math.floor(Math.random() * (most - 1_000));
  await waitFor(`the pull to pass row ${at}`, async () => (await inst.run(connectorId, runId)).rows_read >= at, 90_000, 20);
  expect((await inst.run(connectorId, runId)).status).toBe('running');
  await inst.kill(worker);
}

test('a 300,000-row full pull whose worker is SIGKILLed at ten random moments ends succeeded with exactly the source rows', async () => {
  const id = await connector();
  const runId = await enqueueFull(id);
  for (let kill = 0; kill < 10; kill++) await killMidPull(inst.addWorker(), id, runId);
  const last = inst.addWorker();
  const run = await inst.waitRun(id, runId, 'succeeded', 300_000);
  expect(run.rows_read).toBe(ROWS); // each attempt resumed after the last committed batch: nothing read twice
  expect(run.attempts).toBe(11);
  expect((await queue.getJob(`run-${runId}`))!.stalledCounter).toBe(10);
  await expectExactlyRows(platform.pool, `crash-${n}`, ROWS);
  inst.expectAlive();
  await inst.kill(last);
});

test('a pull whose worker dies more often than WORKER_MAX_STALLS: its run is closed with the reason and the connector takes its next pull', async () => {
  const id = await connector('few_items');
  const runId = await enqueueFull(id);
  const env = { WORKER_MAX_STALLS: '2' };
  // Every worker of this test has the limit: 2 deaths are survived, the 3rd gives the job up.
  for (let kill = 0; kill < 3; kill++) await killMidPull(inst.addWorker(env), id, runId, 5_000);
  const last = inst.addWorker(env);
  const run = await inst.waitRun(id, runId, 'failed', 60_000);
  expect(run.error_kind).toBe('stalled');
  expect(run.error).toMatch(/stopped without finishing too many times/);
  expect((await queue.getJob(`run-${runId}`))!.failedReason).toBe('job stalled more than allowable limit');
  const { rows } = await platform.pool.query(
    "select count(*)::int as n from connector_runs where connector_id = $1 and status in ('queued', 'running', 'retrying')",
    [id],
  );
  expect(rows[0].n).toBe(0);

  // Not blocked: the next pull is accepted and continues from the committed cursor to exactly the source rows.
  const next = await inst.pull(id, 'incremental');
  const finished = await inst.waitRun(id, next, 'succeeded');
  expect(finished.rows_read).toBe(FEW - run.rows_read);
  await expectExactlyRows(platform.pool, `crash-${n}`, FEW);
  inst.expectAlive();
  await inst.kill(last);
});

test('a pull request for a connector whose run lost its job from Redis queues that run again instead of blocking, and the run finishes', async () => {
  const id = await connector('few_items');
  const runId = await enqueueFull(id); // no worker runs now
  await queue.remove(`run-${runId}`);
  await platform.pool.query("update connector_runs set queued_at = now() - interval '1 minute' where id = $1", [runId]);
  const res = await inst.api('POST', `/connectors/${id}/pull`, { mode: 'incremental' });
  expect(res.status).toBe(409);
  expect(res.body.run_id).toBe(runId);
  expect(await inst.run(id, runId)).toMatchObject({ status: 'retrying', error_kind: 'requeued' });
  expect(await queue.getJob(`run-${runId}`)).toBeDefined();
  const worker = inst.addWorker();
  await inst.waitRun(id, runId, 'succeeded');
  await expectExactlyRows(platform.pool, `crash-${n}`, FEW);
  inst.expectAlive();
  await inst.kill(worker);
});
