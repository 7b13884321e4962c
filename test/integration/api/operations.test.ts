import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
// @ts-expect-error -- the package ships no types; it returns [{name, type, metrics: [{labels, value}]}]
import parsePrometheus from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, PULL_JOB, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { startWorker } from '../../../jobs/worker';
import { bearer, testApi, type TestApi } from '../../helpers/api';
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
beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  admin = await t.key('ops', ['admin']);
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

const get = (url: string, key = admin) => t.app.inject({ method: 'GET', url, headers: bearer(key) });

async function metrics(): Promise<Family[]> {
  const res = await t.app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/text\/plain/);
  return parsePrometheus(res.body) as Family[];
}
const value = (families: Family[], name: string, labels: Record<string, string>) =>
  Number(families.find((f) => f.name === name)?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))?.value ?? NaN);

describe('operations', () => {
  test('/metrics parses as Prometheus text and its counters match a run', async () => {
    const id = await saveConnector(t.db.pool, 'ops', {
      vertical: 'metrics',
      connection_config: { dsn: source.url },
      settings: { table: 'items', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 50 },
    });
    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    try {
      await queue.add(PULL_JOB, { connectorId: id, mode: 'incremental', trigger: 'manual' });
      await waitFor('the run', async () => (await t.db.pool.query("select 1 from connector_runs where connector_id = $1 and status = 'succeeded'", [id])).rowCount);
    } finally {
      await w.close();
    }
    const families = await metrics();
    const names = families.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['qanatix_pulls_total', 'qanatix_pull_rows_total', 'qanatix_pull_duration_seconds', 'qanatix_queue_jobs', 'qanatix_http_request_duration_seconds', 'qanatix_ingest_records_total', 'qanatix_connector_cursor_lag_seconds']));
    expect(value(families, 'qanatix_pulls_total', { connector_id: id, outcome: 'succeeded' })).toBe(1);
    expect(value(families, 'qanatix_pull_rows_total', { connector_id: id, kind: 'read' })).toBe(120);
    expect(value(families, 'qanatix_pull_rows_total', { connector_id: id, kind: 'inserted' })).toBe(120);
    expect(value(families, 'qanatix_pull_rows_total', { connector_id: id, kind: 'unchanged' })).toBe(0);
    expect(value(families, 'qanatix_connector_cursor_lag_seconds', { connector_id: id })).toBeGreaterThan(3500);
    expect(value(families, 'qanatix_queue_jobs', { queue: 'pulls', state: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(value(families, 'qanatix_ingest_records_total', { source: 'connector', outcome: 'inserted' })).toBeGreaterThanOrEqual(120);
  });

  test('queues: counts, schedulers with their next run, failed jobs with their reason, and retry', async () => {
    const failing = await saveConnector(t.db.pool, 'ops', { vertical: 'q', connection_config: { dsn: source.url }, settings: { table: 'missing_table' } });
    await t.app.inject({ method: 'PATCH', url: `/api/v1/connectors/${failing}`, headers: bearer(await t.key('ops', ['connectors'])), payload: { schedule: '0 0 1 1 *' } });
    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    let jobId: string;
    try {
      jobId = (await queue.add(PULL_JOB, { connectorId: failing, mode: 'incremental', trigger: 'manual' })).id!;
      await waitFor('the failure', async () => (await queue.getJob(jobId))?.failedReason);
    } finally {
      await w.close();
    }
    const [pulls] = (await get('/api/v1/queues')).json();
    expect(pulls.name).toBe('pulls');
    expect(pulls.counts).toMatchObject({ failed: 1, waiting: expect.any(Number), active: 0, delayed: expect.any(Number), completed: expect.any(Number), prioritized: 0 });
    expect(pulls.schedulers).toEqual([expect.objectContaining({ connector_id: failing, pattern: '0 0 1 1 *', next_run_at: expect.stringMatching(/-01-01T00:00:00/) })]);
    const failed = (await get('/api/v1/queues/pulls/jobs?state=failed')).json();
    expect(failed).toEqual([expect.objectContaining({ id: jobId, failed_reason: expect.stringMatching(/missing_table/) })]);
    const retried = await t.app.inject({ method: 'POST', url: `/api/v1/queues/pulls/jobs/${jobId}/retry`, headers: bearer(admin) });
    expect(retried.statusCode).toBe(200);
    expect(retried.json().state).toMatch(/waiting|prioritized/);
    expect((await t.app.inject({ method: 'POST', url: `/api/v1/queues/pulls/jobs/${jobId}/retry`, headers: bearer(admin) })).statusCode).toBe(409);
    expect((await get('/api/v1/queues/nope/jobs')).statusCode).toBe(404);
    expect((await get('/api/v1/queues', await t.key('ops', ['connectors']))).statusCode).toBe(403);
  });

  test('/healthz is up; /readyz says 503 and names Redis when Redis is stopped', async () => {
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await t.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
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
