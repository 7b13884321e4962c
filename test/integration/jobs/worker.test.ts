import { UnrecoverableError, Worker, type Queue } from 'bullmq';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { connectorLockKey } from '../../../jobs/connector-lock';
import { createPullQueue, PULL_JOB, PULL_QUEUE, schedulerId, type PullJobData } from '../../../jobs/pull-queue';
import { createRedisConnection, QUEUE_PREFIX, type RedisConnection } from '../../../jobs/redis-connection';
import { recoverRuns } from '../../../jobs/run-recovery';
import { reconcileSchedules, startReconciler } from '../../../jobs/schedule-reconciler';
import { startWorker, type RunningWorker } from '../../../jobs/worker';
import { createApiKey, ensureTenant } from '../../../src/auth/api-keys';
import { loadConfig } from '../../../src/config';
import { createRun } from '../../../src/store/connector-runs';
import { saveConnector, testBox } from '../../helpers/connector-fixture';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { serviceUrl } from '../../helpers/service-url';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

const SOURCE_PASSWORD = 'src-Secr3t-pw';
let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: RedisConnection;
let queue: Queue<PullJobData>;
let sourceDsn: string;
const logs: string[] = [];
const log = {
  info: (o: object, m: string) => logs.push(JSON.stringify({ ...o, m })),
  warn: (o: object, m: string) => logs.push(JSON.stringify({ ...o, m })),
  error: (o: object, m: string) => logs.push(JSON.stringify({ ...o, m })),
};
const running: Array<{ close(): Promise<unknown> }> = [];
const children: ChildRole[] = [];

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  // The source is read with a role of its own, whose password must never show up in Redis or logs.
  await source.pool.query(
    `do $$ begin if not exists (select from pg_roles where rolname = 'qanatix_reader') then create role qanatix_reader login password '${SOURCE_PASSWORD}'; end if; end $$`,
  );
  await source.pool.query(
    `create table products (id bigint primary key, name text not null, price numeric(12,2), updated_at timestamptz not null)`,
  );
  await source.pool.query(
    `insert into products select g, 'P' || g, g, '2026-01-01'::timestamptz + (g / 100) * interval '1 second' from generate_series(1, 20000) g`,
  );
  await source.pool.query('grant select on products to qanatix_reader');
  const url = new URL(source.url);
  url.username = 'qanatix_reader';
  url.password = SOURCE_PASSWORD;
  sourceDsn = url.toString();
  conn = createRedisConnection(redis.url);
  queue = createPullQueue(conn);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
  await Promise.all(children.splice(0).map((c) => c.kill()));
});
afterAll(async () => {
  await queue.close();
  conn.disconnect();
  await redis.stop();
  await Promise.all([platform.drop(), source.drop()]);
});

function worker(concurrency = 2, fetchWatch?: { graceMs: number; everyMs: number }): RunningWorker {
  const w = startWorker({
    pool: platform.pool,
    box: testBox,
    connection: createRedisConnection(redis.url),
    log,
    concurrency,
    lockDurationMs: 4_000,
    fetchWatch,
  });
  running.push(w);
  return w;
}

function childWorker(): ChildRole {
  const c = spawnRole('worker', { DATABASE_URL: platform.url, REDIS_URL: redis.url, WORKER_LOCK_MS: '4000', WORKER_CONCURRENCY: '4' });
  children.push(c);
  return c;
}

const connector = (extra: Record<string, unknown> = {}, settings: Record<string, unknown> = {}) =>
  saveConnector(platform.pool, 'acme', {
    connection_config: { dsn: sourceDsn },
    settings: { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000, ...settings },
    ...extra,
  });

const runs = async (connectorId: string) =>
  (
    await platform.pool.query<{
      id: string;
      status: string;
      trigger: string;
      mode: string;
      rows_read: number;
      attempts: number;
      error: string | null;
      error_kind: string | null;
      started_at: Date | null;
      finished_at: Date | null;
    }>(
      'select id, status, trigger, mode, rows_read::int, attempts, error, error_kind, started_at, finished_at from connector_runs where connector_id = $1 order by started_at nulls last',
      [connectorId],
    )
  ).rows;

const entityCount = async (vertical: string) =>
  (
    await platform.pool.query('select count(*)::int as n, count(distinct source_id)::int as d from entities where vertical = $1', [
      vertical,
    ])
  ).rows[0] as { n: number; d: number };

async function enqueue(connectorId: string, mode: 'incremental' | 'full', trigger: 'manual' | 'schedule' = 'manual', opts: object = {}) {
  const tenantId = (await platform.pool.query('select tenant_id from connectors where id = $1', [connectorId])).rows[0].tenant_id;
  const runId = await createRun(platform.pool, { connectorId, tenantId, trigger, mode });
  await queue.add(PULL_JOB, { connectorId, tenantId, mode, trigger, runId }, { jobId: `run-${runId}`, ...opts });
  return runId;
}

function assertNoOverlap(rows: Array<{ started_at: Date | null; finished_at: Date | null; status: string }>) {
  const done = rows
    .filter((r) => r.started_at && r.finished_at && r.status !== 'skipped')
    .sort((a, b) => a.started_at!.getTime() - b.started_at!.getTime());
  for (let i = 1; i < done.length; i++) expect(done[i]!.started_at!.getTime()).toBeGreaterThanOrEqual(done[i - 1]!.finished_at!.getTime());
}

describe('scheduled pulls', () => {
  test('a connector on a per-second schedule runs on schedule and stops when disabled', async () => {
    const id = await connector({ vertical: 'sched', schedule: '*/1 * * * * *' });
    await reconcileSchedules(platform.pool, queue);
    worker();
    await waitFor('three scheduled runs', async () => (await runs(id)).filter((r) => r.status === 'succeeded').length >= 3, 20_000);
    expect((await runs(id)).every((r) => r.trigger === 'schedule')).toBe(true);
    expect(await entityCount('sched')).toEqual({ n: 20000, d: 20000 });

    await platform.pool.query('update connectors set enabled = false where id = $1', [id]);
    const r = await reconcileSchedules(platform.pool, queue);
    expect(r.removed).toContain(id);
    await new Promise((res) => setTimeout(res, 1500)); // a run already queued may still finish
    const settled = (await runs(id)).length;
    await new Promise((res) => setTimeout(res, 3000));
    expect((await runs(id)).length).toBe(settled);
    expect(await queue.getJobScheduler(schedulerId(id))).toBeUndefined();
  });

  test('after FLUSHALL the reconciler puts every schedule back and it fires again', async () => {
    const ids = [
      await connector({ vertical: 'flush', schedule: '*/1 * * * * *' }),
      await connector({ vertical: 'flush2', schedule: '*/2 * * * * *' }),
    ];
    const stop = startReconciler(platform.pool, queue, log, '* * * * * *');
    running.push({ close: async () => stop() });
    await waitFor(
      'schedulers',
      async () => (await Promise.all(ids.map((id) => queue.getJobScheduler(schedulerId(id))))).every(Boolean),
      10_000,
    );
    await redis.flushAll();
    expect(await queue.getJobScheduler(schedulerId(ids[0]!))).toBeUndefined();
    await waitFor(
      'schedulers back',
      async () => (await Promise.all(ids.map((id) => queue.getJobScheduler(schedulerId(id))))).every(Boolean),
      10_000,
    );
    worker();
    for (const id of ids) await waitFor(`a run of ${id}`, async () => (await runs(id)).some((r) => r.status === 'succeeded'), 20_000);
  });
});

describe('one run per connector', () => {
  test('an ad-hoc full resync while a scheduled run is active waits its turn and ends with the same entity set', async () => {
    const id = await connector({ vertical: 'resync' }, { batch_size: 100 });
    worker(4);
    const scheduled = await enqueue(id, 'incremental', 'schedule');
    await waitFor('the scheduled run to start', async () => (await runs(id)).some((r) => r.id === scheduled && r.status === 'running'));
    const resync = await enqueue(id, 'full');
    await waitFor('both runs to finish', async () => (await runs(id)).filter((r) => r.status === 'succeeded').length === 2, 60_000);
    const all = await runs(id);
    assertNoOverlap(all);
    expect(all.find((r) => r.id === resync)).toMatchObject({ mode: 'full', rows_read: 20000 });
    expect(await entityCount('resync')).toEqual({ n: 20000, d: 20000 });
  });

  test('two worker processes share one queue of 100 connectors, one run per connector at a time', async () => {
    await source.pool.query('create table small as select * from products where id <= 200');
    await source.pool.query('alter table small add primary key (id)');
    await source.pool.query('grant select on small to qanatix_reader');
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push(await connector({ vertical: 'many' }, { table: 'small', batch_size: 50 }));
    childWorker();
    childWorker();
    // Three manual runs per connector queued at once: both processes take them concurrently.
    for (let round = 0; round < 3; round++) for (const id of ids) await enqueue(id, round === 1 ? 'full' : 'incremental');
    await waitFor(
      'all 300 runs to finish',
      async () => {
        const { rows } = await platform.pool.query(
          "select count(*)::int as n from connector_runs where connector_id = any($1) and status = 'succeeded'",
          [ids],
        );
        return rows[0].n === 300;
      },
      120_000,
      500,
    );
    for (const id of ids) assertNoOverlap(await runs(id));
    // Both processes did part of the work.
    for (const c of children) expect(c.output().split('pull succeeded').length - 1).toBeGreaterThan(10);
    expect(await entityCount('many')).toEqual({ n: 200, d: 200 });
  });

  test('two worker processes never run one connector twice at once: runs queued back to back against a slow source wait for the lock', async () => {
    // Every row costs the source a millisecond, so a run takes seconds and the runs queued after it are taken by idle worker slots at once.
    await source.pool.query(
      "create view slow_products as select id, name, updated_at from products where id <= 300 and pg_sleep(0.001)::text = ''",
    );
    await source.pool.query('grant select on slow_products to qanatix_reader');
    const id = await connector({ vertical: 'slow' }, { table: 'slow_products', primary_key: ['id'], batch_size: 30 });
    childWorker();
    childWorker();
    const queued: string[] = [];
    for (let i = 0; i < 6; i++) queued.push(await enqueue(id, i % 2 ? 'full' : 'incremental'));
    await waitFor(
      'the six runs to finish',
      async () => (await runs(id)).filter((r) => r.status === 'succeeded').length === 6,
      120_000,
      250,
    );
    assertNoOverlap(await runs(id));
    // Four slots and six runs of one connector: some runs were taken while another held the lock, and waited.
    const jobs = await Promise.all(queued.map((runId) => queue.getJob(`run-${runId}`)));
    const waits = jobs.reduce((sum, job) => sum + job!.attemptsStarted - 1, 0);
    expect(waits).toBeGreaterThan(0);
    expect(await entityCount('slow')).toEqual({ n: 300, d: 300 });
  });
});

describe('crashes and outages', () => {
  test('a worker killed with SIGKILL mid-pull: the job is picked up again and ends with exactly the source rows', async () => {
    const id = await connector({ vertical: 'killed' }, { batch_size: 50 });
    const first = childWorker();
    const runId = await enqueue(id, 'incremental');
    await waitFor('some batches committed', async () => (await runs(id))[0]!.rows_read >= 2000, 60_000, 50);
    await first.kill('SIGKILL');
    const before = (await runs(id))[0]!;
    expect(before.status).toBe('running');
    expect(before.rows_read).toBeLessThan(20000);
    childWorker();
    await waitFor('the run to finish', async () => (await runs(id))[0]!.status === 'succeeded', 90_000, 200);
    const [run] = await runs(id);
    expect(run).toMatchObject({ id: runId, status: 'succeeded' });
    expect(run!.attempts).toBeGreaterThanOrEqual(2);
    expect(await entityCount('killed')).toEqual({ n: 20000, d: 20000 });
  });

  test('a run whose lock connection ends stops committing, so a rival holding the lock is alone; then it resumes to exactly the source rows', async () => {
    const id = await connector({ vertical: 'lock-lost' }, { batch_size: 50 });
    worker();
    const runId = await enqueue(id, 'incremental', 'manual', { backoff: { type: 'fixed', delay: 200 } });
    await waitFor('some batches committed', async () => (await runs(id))[0]!.rows_read >= 2000, 60_000, 25);
    const key = connectorLockKey(id);
    const { rows } = await platform.pool.query<{ pid: number }>(
      "select pid from pg_locks where locktype = 'advisory' and granted and objsubid = 1 and ((classid::bigint << 32) | objid::bigint) = $1::bigint",
      [key],
    );
    expect(rows).toHaveLength(1);
    // The session holding the lock ends (as a restart, a failover or an operator's pg_terminate_backend ends it) and a rival takes the lock.
    await platform.pool.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
    const rival = new pg.Client({ connectionString: platform.url });
    await rival.connect();
    try {
      await rival.query('select pg_advisory_lock($1::bigint)', [key]);
      await new Promise((r) => setTimeout(r, 300)); // a commit already past its lock check may still land
      const frozen = (await runs(id))[0]!;
      expect(frozen.rows_read).toBeLessThan(20000);
      await new Promise((r) => setTimeout(r, 3000));
      // Nothing was committed while the rival held the lock: the run noticed it had lost it and is waiting its turn.
      expect((await runs(id))[0]).toMatchObject({ id: runId, status: 'retrying', error_kind: 'lock_lost', rows_read: frozen.rows_read });
    } finally {
      await rival.end();
    }
    await waitFor('the run to finish', async () => (await runs(id))[0]!.status === 'succeeded', 60_000, 200);
    expect((await runs(id))[0]!.rows_read).toBe(20000); // resumed after its last committed batch: nothing read twice
    expect(await entityCount('lock-lost')).toEqual({ n: 20000, d: 20000 });
  });

  test('SIGTERM mid-pull: the worker commits its batch, hands the job back and exits; the next worker finishes the run', async () => {
    const id = await connector({ vertical: 'sigterm' }, { batch_size: 50 });
    const first = childWorker();
    const runId = await enqueue(id, 'incremental');
    await waitFor('some batches committed', async () => (await runs(id))[0]!.rows_read >= 1000, 60_000, 50);
    expect(await first.kill('SIGTERM')).toBe(0);
    const handedBack = (await runs(id))[0]!;
    expect(handedBack).toMatchObject({ id: runId, status: 'retrying', error_kind: 'shutdown' });
    expect(handedBack.rows_read).toBeLessThan(20000);
    const committed = await entityCount('sigterm');
    expect(committed.n).toBe(handedBack.rows_read); // every row read was committed, no batch half-done
    childWorker();
    await waitFor('the run to finish', async () => (await runs(id))[0]!.status === 'succeeded', 60_000, 200);
    expect(await entityCount('sigterm')).toEqual({ n: 20000, d: 20000 });
  });

  test('Redis restarted mid-run: committed data stays, and the schedule comes back and fires', async () => {
    const id = await connector({ vertical: 'redis-restart', schedule: '*/1 * * * * *' }, { batch_size: 50 });
    const stop = startReconciler(platform.pool, queue, log, '* * * * * *');
    running.push({ close: async () => stop() });
    worker();
    await waitFor('a run in progress', async () => (await runs(id)).some((r) => r.status === 'running' && r.rows_read > 500), 30_000, 50);
    const before = await entityCount('redis-restart');
    expect(before.n).toBeGreaterThan(0);
    await redis.restart();
    const restartedAt = Date.now();
    // Committed data stays: nothing written before the restart is lost with Redis.
    expect((await entityCount('redis-restart')).n).toBeGreaterThanOrEqual(before.n);
    const after = await waitFor(
      'a run that started after the restart to succeed',
      async () => (await runs(id)).find((r) => r.status === 'succeeded' && r.started_at!.getTime() > restartedAt),
      60_000,
      200,
    );
    expect(after.trigger).toBe('schedule'); // the schedule came back and fired
    expect(await entityCount('redis-restart')).toEqual({ n: 20000, d: 20000 });
  });

  test('closing a worker while Redis is away ends within its bound and names what it left', async () => {
    const w = worker();
    await w.worker.waitUntilReady();
    running.splice(running.indexOf(w), 1);
    const before = logs.length;
    await redis.kill();
    try {
      // Once its clients are retrying, BullMQ's own close waits for them to end, which they do not while Redis is away.
      await waitFor('the worker to see Redis away', () => logs.slice(before).some((l) => l.includes('pull worker is failing')), 20_000, 50);
      await new Promise((r) => setTimeout(r, 1_000));
      const started = Date.now();
      await w.close();
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(logs.slice(before).join('\n')).toMatch(/closing the pull worker did not finish within 4000 ms; going on without it/);
    } finally {
      await redis.start();
    }
  });

  describe('a fetch loop that stops taking jobs', () => {
    const watch = { graceMs: 1_500, everyMs: 200 };
    const restarts = () => logs.filter((l) => l.includes('restarting its fetch loop')).length;

    test('is restarted once a job has been due past the grace with the worker idle, and the job runs', async () => {
      const id = await connector({ vertical: 'fetch-stuck' });
      const w = worker(2, watch);
      const stuck = w.worker;
      await stuck.waitUntilReady();
      const before = restarts();
      // What a parked wait looks like from outside: the process runs, the loop takes nothing.
      await stuck.pause(true);
      // A wait already sent to Redis still takes the job it wakes for: let it time out first (BullMQ's `waiting`).
      await waitFor('its last wait to end', () => !(stuck as unknown as { waiting: Promise<unknown> | null }).waiting, 10_000, 50);
      const queuedAt = Date.now();
      const runId = await enqueue(id, 'incremental');
      const run = await waitFor('the run to succeed', async () => (await runs(id)).find((r) => r.id === runId && r.status === 'succeeded'));
      expect(run.started_at!.getTime() - queuedAt).toBeGreaterThanOrEqual(watch.graceMs);
      expect(w.worker === stuck, 'the worker has a new fetch loop').toBe(false);
      expect(restarts()).toBe(before + 1);
      expect(stuck.closing).toBeTruthy();
      expect(await entityCount('fetch-stuck')).toEqual({ n: 20000, d: 20000 });
    });

    test('is left alone while an operator paused the queue, and while its pulls keep it busy', async () => {
      // 1,000 batches of 20: several times the grace even on a quiet machine (400 of 50 once took 1.44 s, under it).
      const slow = await connector({ vertical: 'fetch-busy' }, { batch_size: 20 });
      const other = await connector({ vertical: 'fetch-paused' });
      const w = worker(1, watch);
      const loop = w.worker;
      await loop.waitUntilReady();
      const before = restarts();
      await queue.pause();
      const pausedRun = await enqueue(other, 'incremental');
      await new Promise((r) => setTimeout(r, 3 * watch.graceMs));
      expect((await runs(other)).find((r) => r.id === pausedRun)!.status).toBe('queued');
      await queue.resume();
      await waitFor('the paused run to succeed', async () =>
        (await runs(other)).some((r) => r.id === pausedRun && r.status === 'succeeded'),
      );
      // One slot, taken by a pull that outlasts the grace, and a job waiting behind it: busy, not stuck.
      const first = await enqueue(slow, 'incremental');
      await waitFor(
        'the slow pull to start',
        async () => (await runs(slow)).some((r) => r.id === first && r.status === 'running'),
        30_000,
        20,
      );
      const second = await enqueue(other, 'full');
      await waitFor(
        'both runs to succeed',
        async () => {
          const all = [...(await runs(slow)), ...(await runs(other))];
          return [first, second].every((id) => all.some((r) => r.id === id && r.status === 'succeeded'));
        },
        60_000,
        200,
      );
      const [slowRun] = (await runs(slow)).filter((r) => r.id === first);
      expect(slowRun!.finished_at!.getTime() - slowRun!.started_at!.getTime()).toBeGreaterThan(watch.graceMs);
      expect(w.worker === loop, 'the fetch loop is the first one').toBe(true);
      expect(restarts()).toBe(before);
    });
  });

  test('a source that is down: retries with backoff are visible in the run, then it succeeds when the database is back', async () => {
    const { createServer, connect } = await import('node:net');
    const target = new URL(source.url);
    // A TCP relay in front of the source: closing it makes the database unreachable for real.
    const sockets = new Set<import('node:net').Socket>();
    let relay = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as { port: number }).port;
    const relayed = new URL(sourceDsn);
    relayed.host = `127.0.0.1:${port}`;
    const relayHandler = relay.listeners('connection')[0] as (s: import('node:net').Socket) => void;
    await new Promise<void>((r) => relay.close(() => r())); // the database is "down"
    const id = await saveConnector(platform.pool, 'acme', {
      vertical: 'outage',
      connection_config: { dsn: relayed.toString(), connect_timeout_seconds: 2 },
      settings: { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 } },
    });
    worker();
    await enqueue(id, 'incremental', 'manual', { attempts: 10, backoff: { type: 'exponential', delay: 300 } });
    const retrying = await waitFor(
      'a visible retry',
      async () => (await runs(id)).find((r) => r.status === 'retrying' && r.attempts >= 2),
      30_000,
    );
    expect(retrying.error_kind).toBe('unreachable');
    expect(retrying.error).not.toContain(SOURCE_PASSWORD);
    relay = createServer(relayHandler);
    await new Promise<void>((r) => relay.listen(port, '127.0.0.1', r));
    try {
      await waitFor('success once the source is back', async () => (await runs(id))[0]!.status === 'succeeded', 60_000, 200);
      expect(await entityCount('outage')).toEqual({ n: 20000, d: 20000 });
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });

  test('a bad table fails at once without retries, with the reason in the run', async () => {
    const id = await connector({ vertical: 'bad' }, { table: 'no_such_table' });
    worker();
    await enqueue(id, 'incremental', 'manual', { attempts: 5, backoff: { type: 'fixed', delay: 200 } });
    const run = await waitFor('the failure', async () => (await runs(id)).find((r) => r.status === 'failed'), 20_000);
    expect(run).toMatchObject({ attempts: 1, error_kind: 'not_found' });
    expect(run.error).toMatch(/no_such_table/);
  });
});

describe('the reconciler', () => {
  test('a schedule Redis refuses ("") fails only its own connector: the others are reconciled, and the failure is logged with its id', async () => {
    const bad = await connector({ vertical: 'rec', schedule: '*/5 * * * *' });
    await platform.pool.query("update connectors set schedule = '' where id = $1", [bad]); // as a row written before the API refused it
    const good = [
      await connector({ vertical: 'rec', schedule: '*/5 * * * *' }),
      await connector({ vertical: 'rec', schedule: '0 * * * *' }),
    ];
    try {
      const r = await reconcileSchedules(platform.pool, queue);
      expect(r.failed.map((f) => f.connectorId)).toEqual([bad]);
      expect(r.added).toEqual(expect.arrayContaining(good));
      for (const id of good) expect(await queue.getJobScheduler(schedulerId(id))).toBeDefined();

      const stop = startReconciler(platform.pool, queue, log, '* * * * * *');
      running.push({ close: async () => stop() });
      await waitFor(
        'the failure logged with the connector id',
        () => logs.some((l) => l.includes(bad) && l.includes('could not reconcile')),
        10_000,
      );
    } finally {
      await platform.pool.query('delete from connectors where id = any($1)', [[bad, ...good]]);
    }
  });
});

describe('runs left without a live job', () => {
  beforeAll(async () => {
    // Only this block's jobs in the queue: earlier tests' schedules would hand the test's BullMQ worker their jobs.
    await platform.pool.query('update connectors set enabled = false');
    await reconcileSchedules(platform.pool, queue);
    await queue.drain(true);
  });

  /** A run whose job was removed from Redis (as a restart without persistence does), queued long enough ago. */
  async function strandedRun(vertical: string, status: 'queued' | 'running') {
    const id = await connector({ vertical });
    const runId = await enqueue(id, 'incremental');
    await queue.remove(`run-${runId}`);
    await platform.pool.query(`update connector_runs set status = $2, queued_at = now() - interval '1 minute' where id = $1`, [
      runId,
      status,
    ]);
    return { id, runId };
  }

  test('a run whose job was lost from Redis is queued again by the reconciler, says why, and then finishes', async () => {
    const { id, runId } = await strandedRun('lost', 'queued');
    const stop = startReconciler(platform.pool, queue, log, '* * * * * *');
    running.push({ close: async () => stop() });
    const requeued = await waitFor(
      'the run re-queued',
      async () => (await runs(id)).find((r) => r.id === runId && r.error_kind === 'requeued'),
      10_000,
    );
    expect(requeued).toMatchObject({ status: 'retrying' });
    expect(requeued.error).toMatch(/job was lost from Redis .* resume from the committed cursor/);
    worker();
    await waitFor('the run to finish', async () => (await runs(id))[0]!.status === 'succeeded', 30_000);
    expect(await entityCount('lost')).toEqual({ n: 20000, d: 20000 });
  });

  test('a run whose job is gone while a worker still holds its connector lock is left to that worker', async () => {
    const { id, runId } = await strandedRun('held', 'running');
    const holder = new pg.Client({ connectionString: platform.url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1::bigint)', [connectorLockKey(id)]);
      const outcome = async () =>
        (await recoverRuns(platform.pool, queue, { graceMs: 0, connectorId: id })).find((r) => r.run.id === runId)?.outcome;
      expect(await outcome()).toBe('in_progress');
      expect((await runs(id))[0]!.status).toBe('running');
      await holder.query('select pg_advisory_unlock($1::bigint)', [connectorLockKey(id)]);
      expect(await outcome()).toBe('requeued'); // the holder is gone without finishing: the run goes back to the queue
    } finally {
      await holder.end();
      await queue.remove(`run-${runId}`);
    }
  });

  test('a run whose job BullMQ failed without running it (past its stall limit) is closed with the reason', async () => {
    const id = await connector({ vertical: 'given-up' });
    const runId = await enqueue(id, 'incremental', 'manual', { attempts: 1 });
    await platform.pool.query("update connector_runs set status = 'running', attempts = 1 where id = $1", [runId]);
    // BullMQ's own failure path, with no processor of ours involved: take the job and fail it as the stall check does.
    const bare = new Worker<PullJobData>(PULL_QUEUE, null, { connection: createRedisConnection(redis.url), prefix: QUEUE_PREFIX });
    try {
      const job = (await bare.getNextJob('test-token'))!;
      expect(job.id).toBe(`run-${runId}`);
      await job.moveToFailed(new UnrecoverableError('job stalled more than allowable limit'), 'test-token');
    } finally {
      await bare.close();
    }
    const settled = await recoverRuns(platform.pool, queue, { graceMs: 0, connectorId: id });
    expect(settled.map((r) => r.outcome)).toEqual(['closed']);
    const [run] = await runs(id);
    expect(run).toMatchObject({ status: 'failed', error_kind: 'stalled' });
    expect(run!.error).toMatch(/stopped without finishing too many times/);
  });
});

describe('secrets', () => {
  test("no credential appears in Redis, in API answers, or in the API and worker processes' output while connectors fail every way", async () => {
    const WRONG = 'Wr0ng-Secr3t-pw';
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = { DATABASE_URL: platform.url, REDIS_URL: redis.url, PORT: String(port), LOG_LEVEL: 'debug', WORKER_LOCK_MS: '4000' };
    const apiProcess = spawnRole('api', env);
    const workerProcess = spawnRole('worker', env);
    children.push(apiProcess, workerProcess);
    const tenantId = await ensureTenant(platform.pool, 'acme');
    const { key } = await createApiKey(platform.pool, loadConfig({ QANATIX_DEV: '1' }).apiKeySalt, tenantId, 'secrets', ['admin']);
    await waitFor('the API', async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, 30_000, 100);
    const answers: string[] = [];
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      answers.push(text);
      return { status: res.status, body: JSON.parse(text) };
    };

    const dsn = (change: (u: URL) => void) => {
      const u = new URL(sourceDsn);
      change(u);
      return u.toString();
    };
    const mysqlUrl = new URL(serviceUrl('mysql'));
    const table = { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 } };
    const failing: Array<[string, Record<string, unknown>, RegExp]> = [
      ['bad password', { connection_config: { dsn: dsn((u) => (u.password = WRONG)) }, ...table }, /rejected the login/],
      [
        'bad host',
        { connection_config: { dsn: dsn((u) => (u.hostname = 'qanatix-no-such-host.invalid')), connect_timeout_seconds: 2 }, ...table },
        /cannot reach/,
      ],
      ['TLS to a server without it', { connection_config: { dsn: sourceDsn, ssl: true }, ...table }, /TLS|SSL/],
      [
        'bad SQL',
        { connection_config: { dsn: sourceDsn }, query: 'SELECT id, name FRM products WHERE updated_at > :last_pull' },
        /not valid|syntax/,
      ],
      [
        'MySQL bad password',
        {
          connector_type: 'mysql',
          connection_config: {
            host: mysqlUrl.hostname,
            port: Number(mysqlUrl.port),
            user: decodeURIComponent(mysqlUrl.username),
            password: WRONG,
            database: 'qanatix_source',
          },
          table: 'products',
        },
        /rejected the login|Access denied/,
      ],
    ];
    const ids: string[] = [];
    for (const [name, body] of [['works', { connection_config: { dsn: sourceDsn }, ...table }] as const, ...failing]) {
      const created = await call('POST', '/connectors', {
        name,
        connector_type: 'postgresql',
        vertical: 'secrets',
        entity_type: `product-${ids.length}`,
        ...body,
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids.push(created.body.id);
      await call('POST', `/connectors/${created.body.id}/test`);
      expect((await call('POST', `/connectors/${created.body.id}/pull`, { mode: 'full' })).status).toBe(202);
    }
    // Every failing pull has met its failure (recorded on the run), and the working one succeeded.
    await waitFor(
      'every run to meet its outcome',
      async () => {
        const outcomes = await Promise.all(ids.map(async (id) => (await runs(id))[0]));
        return outcomes[0]?.status === 'succeeded' && outcomes.slice(1).every((r) => r?.error);
      },
      60_000,
      250,
    );
    for (const [i, [name, , reason]] of failing.entries()) {
      const [run] = await runs(ids[i + 1]!);
      expect(run!.error, name).toMatch(reason);
      expect(workerProcess.output(), name).toContain(ids[i + 1]); // the worker logged this failure: the log half checks real lines
    }
    for (const id of ids) await call('GET', `/connectors/${id}/runs`);

    const everything = [await redisDump(), ...answers, apiProcess.output(), workerProcess.output(), ...logs].join('\n');
    expect(everything).toContain(ids[0]!); // the job payloads are there, by id
    for (const secret of [SOURCE_PASSWORD, WRONG]) expect(everything).not.toContain(secret);
  });
});

/** Every key and value in the private Redis, as text. */
async function redisDump(): Promise<string> {
  const dump: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await conn.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      const type = await conn.type(key);
      dump.push(key);
      if (type === 'string') dump.push((await conn.get(key)) ?? '');
      else if (type === 'hash') dump.push(JSON.stringify(await conn.hgetall(key)));
      else if (type === 'list') dump.push(JSON.stringify(await conn.lrange(key, 0, -1)));
      else if (type === 'zset') dump.push(JSON.stringify(await conn.zrange(key, 0, -1)));
      else if (type === 'set') dump.push(JSON.stringify(await conn.smembers(key)));
      else if (type === 'stream') dump.push(JSON.stringify(await conn.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return dump.join('\n');
}
