import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
// @ts-expect-error -- the package ships no types; it returns [{name, type, metrics: [{labels, value}]}]
import parsePrometheus from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, PULL_JOB, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { startWorker } from '../../../jobs/worker';
import { createOperator, revokeOperator } from '../../../src/auth/operator-credentials';
import { bearer, TEST_SALT, testApi, type TestApi } from '../../helpers/api';
import { saveConnector, testBox } from '../../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

interface Family {
  name: string;
  type: string;
  metrics: Array<{ labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }>;
}

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let admin: string;
let operator: string;
const METRICS_TOKEN = 'metrics-' + 'x'.repeat(32);
beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({ metricsToken: METRICS_TOKEN }, queue);
  admin = await t.key('ops', ['admin']);
  operator = (await createOperator(t.db.pool, TEST_SALT, 'ops-oncall')).token;
  await source.pool.query(`create table items (id int primary key, name text, updated_at timestamptz not null)`);
  await source.pool.query(`insert into items select g, 'I' || g, now() - interval '1 hour' from generate_series(1, 120) g`);
});
afterAll(async () => {
  await t.close();
  await queue.close();
  conn.disconnect();
  await redis.stop();
  await source.drop();
});

const tenantOf = async (connectorId: string): Promise<string> =>
  (await t.db.pool.query('select tenant_id from connectors where id = $1', [connectorId])).rows[0].tenant_id;

const get = (url: string, key = admin) => t.app.inject({ method: 'GET', url, headers: bearer(key) });

async function metrics(): Promise<Family[]> {
  const res = await t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(METRICS_TOKEN) });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/text\/plain/);
  return parsePrometheus(res.body) as Family[];
}
const value = (families: Family[], name: string, labels: Record<string, string>) =>
  Number(
    families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN,
  );

describe('operations', () => {
  test('/metrics parses as Prometheus text and its counters match a run', async () => {
    const id = await saveConnector(t.db.pool, 'ops', {
      vertical: 'metrics',
      connection_config: { dsn: source.url },
      settings: { table: 'items', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 50 },
    });
    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    try {
      await queue.add(PULL_JOB, { connectorId: id, tenantId: await tenantOf(id), mode: 'incremental', trigger: 'manual' });
      await waitFor(
        'the run',
        async () => (await t.db.pool.query("select 1 from connector_runs where connector_id = $1 and status = 'succeeded'", [id])).rowCount,
      );
    } finally {
      await w.close();
    }
    const families = await metrics();
    const names = families.map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'qanatix_pulls_total',
        'qanatix_pull_rows_total',
        'qanatix_pull_duration_seconds',
        'qanatix_queue_jobs',
        'qanatix_http_request_duration_seconds',
        'qanatix_ingest_records_total',
        'qanatix_connector_cursor_lag_seconds',
        'qanatix_process_cpu_user_seconds_total',
        'qanatix_process_resident_memory_bytes',
        'qanatix_nodejs_eventloop_lag_seconds',
      ]),
    );
    expect(names.filter((n) => n.startsWith('qanatix_process_process_'))).toEqual([]);
    expect(value(families, 'qanatix_pulls_total', { connector_id: id, outcome: 'succeeded' })).toBe(1);
    expect(value(families, 'qanatix_pull_rows_total', { connector_id: id, kind: 'read' })).toBe(120);
    expect(value(families, 'qanatix_pull_rows_total', { connector_id: id, kind: 'inserted' })).toBe(120);
    expect(value(families, 'qanatix_pull_rows_total', { connector_id: id, kind: 'unchanged' })).toBe(0);
    expect(value(families, 'qanatix_connector_cursor_lag_seconds', { connector_id: id })).toBeGreaterThan(3500);
    expect(value(families, 'qanatix_queue_jobs', { queue: 'pulls', state: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(value(families, 'qanatix_ingest_records_total', { source: 'connector', outcome: 'inserted' })).toBeGreaterThanOrEqual(120);
  });

  test("queues: a tenant admin sees its own counts, schedulers, failed jobs with the run's error, and retries them; another tenant sees none", async () => {
    const failing = await saveConnector(t.db.pool, 'ops', {
      vertical: 'q',
      connection_config: { dsn: source.url },
      settings: { table: 'missing_table' },
    });
    await t.app.inject({
      method: 'PATCH',
      url: `/api/v1/connectors/${failing}`,
      headers: bearer(await t.key('ops', ['connectors'])),
      payload: { schedule: '0 0 1 1 *' },
    });
    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    let jobId: string;
    try {
      jobId = (
        await queue.add(PULL_JOB, { connectorId: failing, tenantId: await tenantOf(failing), mode: 'incremental', trigger: 'manual' })
      ).id!;
      await waitFor('the failure', async () => (await queue.getJob(jobId))?.failedReason);
    } finally {
      await w.close();
    }
    const [pulls] = (await get('/api/v1/queues')).json();
    expect(pulls.name).toBe('pulls');
    expect(pulls.paused).toBe(false);
    expect(pulls.counts).toMatchObject({
      failed: 1,
      waiting: 0,
      active: 0,
      delayed: expect.any(Number),
      completed: expect.any(Number),
      prioritized: 0,
    });
    expect(pulls.schedulers).toEqual([
      expect.objectContaining({ connector_id: failing, pattern: '0 0 1 1 *', next_run_at: expect.stringMatching(/-01-01T00:00:00/) }),
    ]);
    const failed = (await get('/api/v1/queues/pulls/jobs?state=failed')).json();
    const run = (await t.db.pool.query('select id, error from connector_runs where job_id = $1', [jobId])).rows[0];
    // The reason is the run's own error from PostgreSQL, tied to the run; never a stack trace.
    expect(failed).toEqual([
      expect.objectContaining({ id: jobId, state: 'failed', connector_id: failing, run_id: run.id, failed_reason: run.error }),
    ]);
    expect(failed[0].failed_reason).toMatch(/missing_table/);
    expect(JSON.stringify(failed)).not.toMatch(/stack| {4}at /);
    expect((await get(`/api/v1/queues/pulls/jobs/${encodeURIComponent(jobId)}`)).json()).toMatchObject({ id: jobId, state: 'failed' });

    // Another tenant's admin: zero counts, no schedulers, no jobs, and the job is "not found" for it.
    const other = await t.key('other', ['admin']);
    const [theirs] = (await get('/api/v1/queues', other)).json();
    expect(theirs.counts).toEqual({ waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0, prioritized: 0 });
    expect(theirs.schedulers).toEqual([]);
    expect((await get('/api/v1/queues/pulls/jobs?state=failed', other)).json()).toEqual([]);
    expect((await get(`/api/v1/queues/pulls/jobs/${encodeURIComponent(jobId)}`, other)).statusCode).toBe(404);
    expect(
      (await t.app.inject({ method: 'POST', url: `/api/v1/queues/pulls/jobs/${jobId}/retry`, headers: bearer(other) })).statusCode,
    ).toBe(404);
    expect(await queue.getJobState(jobId)).toBe('failed');

    // The operator sees every tenant's job as the job holds it.
    const all = (await get('/api/v1/queues/pulls/jobs?state=failed', operator)).json();
    expect(all).toEqual([
      expect.objectContaining({
        id: jobId,
        connector_id: failing,
        tenant_id: await tenantOf(failing),
        failed_reason: expect.stringMatching(/missing_table/),
      }),
    ]);

    const retried = await t.app.inject({ method: 'POST', url: `/api/v1/queues/pulls/jobs/${jobId}/retry`, headers: bearer(admin) });
    expect(retried.statusCode).toBe(200);
    expect(retried.json().state).toMatch(/waiting|prioritized/);
    expect(
      (await t.app.inject({ method: 'POST', url: `/api/v1/queues/pulls/jobs/${jobId}/retry`, headers: bearer(admin) })).statusCode,
    ).toBe(409);
    expect((await get('/api/v1/queues/nope/jobs')).statusCode).toBe(404);
    expect((await get('/api/v1/queues', await t.key('ops', ['connectors']))).statusCode).toBe(403);
    await queue.obliterate({ force: true });
  });

  test('pause, resume and clean are for operators only: tenant admins get 403, nobody else gets in', async () => {
    const post = (url: string, headers: Record<string, string>, payload?: object) =>
      t.app.inject({ method: 'POST', url, headers, payload });
    const revoked = await createOperator(t.db.pool, TEST_SALT, 'gone');
    await revokeOperator(t.db.pool, 'gone');
    for (const action of ['pause', 'resume', 'clean']) {
      const url = `/api/v1/queues/pulls/${action}`;
      expect((await post(url, {})).statusCode, action).toBe(401);
      expect((await post(url, bearer(revoked.token))).statusCode, action).toBe(401);
      expect((await post(url, bearer('op_live_' + '0'.repeat(64)))).statusCode, action).toBe(401);
      const tenantAdmin = await post(url, bearer(admin));
      expect(tenantAdmin.statusCode, action).toBe(403);
      expect(tenantAdmin.json().detail).toMatch(/operator credential/);
      expect(await queue.isPaused()).toBe(false);
    }
    const paused = await post('/api/v1/queues/pulls/pause', bearer(operator));
    expect(paused.json()).toEqual({ name: 'pulls', paused: true });
    expect(await queue.isPaused()).toBe(true);
    expect((await get('/api/v1/queues')).json()[0].paused).toBe(true);
    expect((await post('/api/v1/queues/pulls/resume', bearer(operator))).json()).toEqual({ name: 'pulls', paused: false });
    expect(await queue.isPaused()).toBe(false);

    // Clean removes finished jobs only, past their grace period; an operator credential reaches no tenant data.
    // A job naming no real connector: the worker refuses it, and it lands in the failed set.
    const done = await queue.add(PULL_JOB, {
      connectorId: '00000000-0000-0000-0000-000000000000',
      tenantId: '00000000-0000-0000-0000-000000000000',
      mode: 'full',
      trigger: 'manual',
    });
    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    try {
      await waitFor('the refused job', async () => (await queue.getJobState(done.id!)) === 'failed');
    } finally {
      await w.close();
    }
    expect((await post('/api/v1/queues/pulls/clean', bearer(operator), { state: 'waiting' })).statusCode).toBe(422);
    expect((await post('/api/v1/queues/pulls/clean', bearer(operator), { state: 'failed', grace_seconds: 0 })).json()).toEqual({
      name: 'pulls',
      state: 'failed',
      removed: 1,
    });
    expect(await queue.getJob(done.id!)).toBeUndefined();
    expect((await get('/api/v1/connectors', operator)).statusCode).toBe(403);
    expect((await get('/api/v1/entities', operator)).statusCode).toBe(403);
  });

  test('/metrics answers METRICS_TOKEN or an operator credential, nothing else; /healthz and /readyz stay open', async () => {
    const metricsWith = (headers: Record<string, string>) => t.app.inject({ method: 'GET', url: '/metrics', headers });
    const refused: Array<Record<string, string>> = [
      {},
      bearer(''),
      bearer(METRICS_TOKEN.slice(0, -1)),
      bearer(METRICS_TOKEN + 'x'),
      bearer(METRICS_TOKEN.toUpperCase()),
      { authorization: METRICS_TOKEN },
      { authorization: 'Basic ' + Buffer.from(`metrics:${METRICS_TOKEN}`).toString('base64') },
      bearer(admin),
      bearer(await t.key('ops', ['read'])),
      bearer('op_live_' + 'f'.repeat(64)),
    ];
    for (const headers of refused) {
      const res = await metricsWith(headers);
      expect({ headers, status: res.statusCode }).toEqual({ headers, status: 401 });
      expect(res.body).not.toContain('qanatix_');
    }
    expect((await metricsWith(bearer(METRICS_TOKEN))).statusCode).toBe(200);
    expect((await metricsWith(bearer(operator))).statusCode).toBe(200);
    expect((await metricsWith({ authorization: `bearer   ${METRICS_TOKEN}  ` })).statusCode).toBe(200);

    // Without METRICS_TOKEN, only operators.
    const closed = await testApi({ metricsToken: null });
    try {
      expect((await closed.app.inject({ method: 'GET', url: '/metrics', headers: bearer(METRICS_TOKEN) })).statusCode).toBe(401);
      const op = (await createOperator(closed.db.pool, TEST_SALT, 'scraper')).token;
      expect((await closed.app.inject({ method: 'GET', url: '/metrics', headers: bearer(op) })).statusCode).toBe(200);
      expect((await closed.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect((await closed.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    } finally {
      await closed.close();
    }
  });

  test('/healthz is up; /readyz says 503 and names Redis when Redis is stopped', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({
      status: 'ready',
      checks: { postgres: 'ok', redis: 'ok' },
    });
    await redis.stop();
    try {
      const res = await t.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ detail: 'redis unreachable', checks: { postgres: 'ok', redis: expect.stringMatching(/^down/) } });
    } finally {
      await redis.start();
    }
    await waitFor('ready again', async () => (await t.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 15_000, 200);
  });
});
