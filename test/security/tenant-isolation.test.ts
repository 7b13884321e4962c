import { randomBytes, randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { InjectOptions } from 'fastify';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, PULL_JOB, schedulerId, type PullJobData } from '../../jobs/pull-queue';
import { createRedis, QUEUE_PREFIX } from '../../jobs/redis-connection';
import { reconcileSchedules } from '../../jobs/schedule-reconciler';
import { startWorker, type RunningWorker } from '../../jobs/worker';
import { BULL_BOARD_PATH } from '../../src/api/bull-board';
import { RATE_LIMIT_KEY_PREFIX } from '../../src/api/rate-limit';
import { createOperator } from '../../src/auth/operator-credentials';
import { createRun } from '../../src/store/connector-runs';
import { bearer, TEST_SALT, testApi, type TestApi } from '../helpers/api';
import { testBox } from '../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { waitFor } from '../helpers/worker-process';

/**
 * Tenant B's admin key against every route of the API, with tenant A's ids: nothing of A is shown, and nothing of A
 * changes, in any table or in Redis. The route list comes from the app itself, so a new route without a row here
 * fails this file. Then every queue and board action, tenant key against operator credential, and jobs injected into
 * Redis that name A's connector for another tenant.
 */

const ROLE = `qanatix_iso_${randomBytes(4).toString('hex')}`;
const PASSWORD = `alpha-pw-${randomBytes(8).toString('hex')}`;
const SCHEMA_MARKER = `alpha-schema-${randomBytes(6).toString('hex')}`;
const V = 'shop';
const E = 'product';

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let operator: string;
let dsn: string;

interface TenantIds {
  tenant: string;
  key: string;
  keyId: string;
  keyPrefix: string;
  connector: string;
  failingConnector: string;
  run: string;
  job: string;
  failedJob: string;
  completedJob: string;
  scheduledJob: string;
  ingestion: string;
  entity: string;
}
let A: TenantIds;
let B: { tenant: string; key: string; connector: string; run: string };

type Log = { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
const quiet: Log = { info() {}, warn() {}, error() {} };
const api = (key: string, method: InjectOptions['method'], url: string, payload?: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url, headers: { ...bearer(key), ...headers }, ...(payload !== undefined ? { payload: payload as string } : {}) });
const ok = async (key: string, method: InjectOptions['method'], url: string, payload?: unknown) => {
  const res = await api(key, method, url, payload);
  expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
  return res.json();
};
const tenantOf = async (name: string) => (await t.db.pool.query('select id from tenants where name = $1', [name])).rows[0].id as string;

function withWorker<T>(fn: (w: RunningWorker) => Promise<T>, log: Log = quiet, redisUrl = redis.url): Promise<T> {
  const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redisUrl), log });
  return fn(w).finally(() => w.close());
}

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({ metricsToken: 'metrics-token-' + randomBytes(16).toString('hex') }, queue);
  await source.pool.query(`create role ${ROLE} login password '${PASSWORD}'`);
  await source.pool.query('create table orders (id int primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(`insert into orders select g, 'alpha-order-' || g, now() - interval '1 hour' from generate_series(1, 40) g`);
  await source.pool.query(`grant select on orders to ${ROLE}`);
  const u = new URL(source.url);
  u.username = ROLE;
  u.password = PASSWORD;
  dsn = u.toString();
  operator = (await createOperator(t.db.pool, TEST_SALT, 'oncall')).token;

  // Tenant A, made through the API as a user would: a schema, an ingestion with a DLQ entry, a key, two connectors
  // (one on a schedule), a succeeded run, a failed job, a completed job, and one pull waiting in the queue.
  const a = await t.key('alpha', ['admin']);
  await ok(a, 'POST', '/api/v1/schemas', {
    vertical: V,
    entity_type: E,
    schema: { description: SCHEMA_MARKER, type: 'object', required: ['price'], properties: { price: { type: 'number' } } },
  });
  const ingestion = await ok(a, 'POST', `/api/v1/ingest/${V}/${E}/batch`, {
    records: [
      { name: 'alpha-widget', source_id: 'w-1', price: 10 },
      { name: 'alpha-bad', source_id: 'w-2', price: 'ten' },
    ],
  });
  const entity = (await ok(a, 'GET', `/api/v1/entities?vertical=${V}&entity_type=${E}`)).items[0];
  const key = await ok(a, 'POST', '/api/v1/auth/keys', { name: 'alpha-reader', scopes: ['read'] });
  const base = {
    connector_type: 'postgresql',
    vertical: 'orders',
    entity_type: 'order',
    connection_config: { dsn },
    cursor: { column: 'updated_at', lag_seconds: 0 },
  };
  const connector = await ok(a, 'POST', '/api/v1/connectors', { ...base, name: 'alpha-orders', table: 'orders', schedule: '0 0 1 1 *' });
  const failing = await ok(a, 'POST', '/api/v1/connectors', {
    ...base,
    name: 'alpha-broken',
    entity_type: 'broken-order',
    table: 'no_such_table',
  });
  const { completedJob, failedJob } = await withWorker(async () => {
    const done = await ok(a, 'POST', `/api/v1/connectors/${connector.id}/pull`, { mode: 'full' });
    const bad = await ok(a, 'POST', `/api/v1/connectors/${failing.id}/pull`, {});
    await waitFor('the completed job', async () => (await queue.getJobState(done.job_id)) === 'completed');
    await waitFor('the failed job', async () => (await queue.getJobState(bad.job_id)) === 'failed');
    return { completedJob: done.job_id as string, failedJob: bad.job_id as string };
  });
  const waiting = await ok(a, 'POST', `/api/v1/connectors/${connector.id}/pull`, { mode: 'incremental' });
  const scheduledJob = (await queue.getJobs(['delayed'])).find((j) => j.id?.startsWith(`repeat:${schedulerId(connector.id)}:`))!.id!;
  A = {
    tenant: await tenantOf('alpha'),
    key: a,
    keyId: key.id,
    keyPrefix: key.key_prefix,
    connector: connector.id,
    failingConnector: failing.id,
    run: waiting.run_id,
    job: waiting.job_id,
    failedJob,
    completedJob,
    scheduledJob,
    ingestion: ingestion.ingestion_id,
    entity: entity.id,
  };
  expect(A.ingestion).toMatch(/^[0-9a-f-]{36}$/);
  expect((await t.db.pool.query('select count(*)::int as n from entities where vertical = $1', ['orders'])).rows[0].n).toBe(40);
  expect((await t.db.pool.query('select count(*)::int as n from ingestion_errors where ingestion_id = $1', [A.ingestion])).rows[0].n).toBe(
    1,
  );

  const b = await t.key('bravo', ['admin']);
  const bConnector = await ok(b, 'POST', '/api/v1/connectors', {
    ...base,
    connection_config: { dsn: source.url },
    name: 'bravo-orders',
    table: 'orders',
  });
  const bTenant = await tenantOf('bravo');
  B = {
    tenant: bTenant,
    key: b,
    connector: bConnector.id,
    run: await createRun(t.db.pool, { connectorId: bConnector.id, tenantId: bTenant, trigger: 'manual', mode: 'full', status: 'failed' }),
  };
});

afterAll(async () => {
  await t?.close();
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
  await source?.pool.query(`drop owned by ${ROLE}`).catch(() => {});
  await source?.drop();
  await source?.pool.end().catch(() => {});
});

/** Rows of every table of the platform's database that belong to `tenant` (every row, when null), as JSON text. */
async function rowsOf(tenant: string | null): Promise<Record<string, string[]>> {
  const { rows: tables } = await t.db.pool.query<{ table_name: string; columns: string[] }>(
    `select table_name, array_agg(column_name::text) as columns from information_schema.columns
      where table_schema = 'public' and table_name in (select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE')
      group by table_name order by table_name`,
  );
  const out: Record<string, string[]> = {};
  for (const { table_name: table, columns } of tables) {
    let where = 'true';
    if (tenant !== null) {
      if (columns.includes('tenant_id')) where = 'tenant_id = $1';
      else if (table === 'tenants') where = 'id = $1';
      else if (columns.includes('connector_id')) where = 'connector_id in (select id from connectors where tenant_id = $1)';
      else if (columns.includes('ingestion_id')) where = 'ingestion_id in (select id from ingestions where tenant_id = $1)';
    }
    // A key's last use is bookkeeping of whoever holds it, not a change anyone made to it.
    const { rows } = await t.db.pool.query<{ row: string }>(
      `select (to_jsonb(x) - 'last_used_at')::text as row from "${table}" x where ${where} order by 1`,
      where.includes('$1') ? [tenant] : [],
    );
    out[table] = rows.map((r) => r.row);
  }
  expect(Object.keys(out)).toEqual(
    expect.arrayContaining([
      'api_keys',
      'connector_runs',
      'connector_state',
      'connectors',
      'entities',
      'ingestion_errors',
      'ingestions',
      'schemas',
      'tenants',
    ]),
  );
  return out;
}

/**
 * Everything the queue holds in Redis: every key under the queue's prefix with its whole content. Rate-limit buckets
 * are left out: each counts the requests of the key it is named for (B's requests take B's tokens, as they touch its
 * keys' last use) and expires by itself once full again.
 */
async function redisState(): Promise<Record<string, unknown>> {
  const keys = (await conn.keys(`${QUEUE_PREFIX}:*`)).filter((k) => !k.startsWith(RATE_LIMIT_KEY_PREFIX)).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const type = await conn.type(key);
    if (type === 'string') out[key] = await conn.get(key);
    else if (type === 'hash') out[key] = await conn.hgetall(key);
    else if (type === 'list') out[key] = await conn.lrange(key, 0, -1);
    else if (type === 'set') out[key] = (await conn.smembers(key)).sort();
    else if (type === 'zset') out[key] = await conn.zrange(key, 0, -1, 'WITHSCORES');
    else if (type === 'stream') out[key] = await conn.xrange(key, '-', '+');
    else out[key] = type;
  }
  return out;
}

type Call = { url: string; payload?: unknown; headers?: Record<string, string> };
/** 404: A's object is not found for B, exactly as if it did not exist. own: B works on its own data and sees none of A's. */
type Rule = { expect: 404 | 403 | 401 | 'own' | 'public'; calls: (a: TenantIds) => Call[] };
const ndjson = { 'content-type': 'application/x-ndjson' };

const API_ROUTES: Record<string, Rule> = {
  'GET /healthz': { expect: 'public', calls: () => [{ url: '/healthz' }] },
  'GET /readyz': { expect: 'public', calls: () => [{ url: '/readyz' }] },
  'GET /metrics': { expect: 401, calls: () => [{ url: '/metrics' }] },
  'GET /api/v1/openapi.json': { expect: 'public', calls: () => [{ url: '/api/v1/openapi.json' }] },
  'POST /api/v1/ingest/:vertical/:entity_type/batch': {
    expect: 'own',
    calls: () => [{ url: `/api/v1/ingest/${V}/${E}/batch`, payload: { records: [{ name: 'bravo-widget', source_id: 'w-1', price: 1 }] } }],
  },
  'POST /api/v1/ingest/:vertical/:entity_type/stream': {
    expect: 'own',
    calls: () => [
      { url: `/api/v1/ingest/${V}/${E}/stream`, payload: '{"name":"bravo-streamed","source_id":"w-1","price":2}\n', headers: ndjson },
    ],
  },
  'POST /api/v1/webhooks/ingest/:vertical/:entity_type': {
    expect: 'own',
    calls: () => [
      { url: `/api/v1/webhooks/ingest/${V}/${E}`, payload: { records: [{ name: 'bravo-hooked', source_id: 'w-1', price: 3 }] } },
    ],
  },
  'GET /api/v1/ingestions/:id': { expect: 404, calls: (a) => [{ url: `/api/v1/ingestions/${a.ingestion}` }] },
  'GET /api/v1/ingestions/:id/errors': {
    expect: 404,
    calls: (a) => [{ url: `/api/v1/ingestions/${a.ingestion}/errors` }, { url: `/api/v1/ingestions/${a.ingestion}/errors?cursor=0` }],
  },
  'POST /api/v1/schemas': {
    expect: 'own',
    calls: () => [{ url: '/api/v1/schemas', payload: { vertical: V, entity_type: E, schema: { type: 'object' } } }],
  },
  'GET /api/v1/schemas': { expect: 'own', calls: () => [{ url: '/api/v1/schemas' }, { url: `/api/v1/schemas?vertical=${V}` }] },
  'GET /api/v1/schemas/:vertical/:entity_type': { expect: 'own', calls: () => [{ url: `/api/v1/schemas/${V}/${E}` }] },
  'GET /api/v1/entities': {
    expect: 'own',
    calls: (a) => [
      { url: '/api/v1/entities' },
      { url: `/api/v1/entities?vertical=${V}&entity_type=${E}&source_id=w-1` },
      { url: `/api/v1/entities?cursor=${a.entity}` },
    ],
  },
  'GET /api/v1/entities/:id': { expect: 404, calls: (a) => [{ url: `/api/v1/entities/${a.entity}` }] },
  'POST /api/v1/auth/keys': {
    expect: 'own',
    calls: () => [{ url: '/api/v1/auth/keys', payload: { name: 'bravo-extra', scopes: ['read'] } }],
  },
  'GET /api/v1/auth/keys': { expect: 'own', calls: () => [{ url: '/api/v1/auth/keys' }] },
  'DELETE /api/v1/auth/keys/:id': { expect: 404, calls: (a) => [{ url: `/api/v1/auth/keys/${a.keyId}` }] },
  'POST /api/v1/auth/keys/:id/rotate': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/auth/keys/${a.keyId}/rotate` },
      { url: `/api/v1/auth/keys/${a.keyId}/rotate`, payload: { grace_seconds: 600 } },
    ],
  },
  'GET /api/v1/verticals': { expect: 'own', calls: () => [{ url: '/api/v1/verticals' }] },
  'POST /api/v1/connectors': {
    expect: 'own',
    calls: () => [
      {
        url: '/api/v1/connectors',
        payload: {
          name: 'bravo-new',
          connector_type: 'postgresql',
          vertical: 'orders',
          entity_type: 'new-order',
          connection_config: { dsn: 'postgresql://u:p@127.0.0.1:1/x' },
          table: 'orders',
        },
      },
    ],
  },
  'POST /api/v1/connectors/preview': {
    expect: 'own',
    calls: () => [
      {
        url: '/api/v1/connectors/preview',
        payload: {
          name: 'bravo-preview',
          connector_type: 'postgresql',
          vertical: V,
          entity_type: E,
          connection_config: { dsn: 'postgresql://u:p@127.0.0.1:1/x' },
          table: 'orders',
        },
      },
    ],
  },
  'POST /api/v1/connectors/:id/preview': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/preview` },
      { url: `/api/v1/connectors/${a.failingConnector}/preview?limit=5` },
    ],
  },
  'GET /api/v1/connectors/:id/doctor': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/doctor` },
      { url: `/api/v1/connectors/${a.failingConnector}/doctor?check_seconds=1` },
    ],
  },
  'GET /api/v1/connectors': { expect: 'own', calls: () => [{ url: '/api/v1/connectors' }] },
  'GET /api/v1/connectors/:id': { expect: 404, calls: (a) => [{ url: `/api/v1/connectors/${a.connector}` }] },
  'PATCH /api/v1/connectors/:id': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}`, payload: { connection_config: { dsn: 'postgresql://bravo:pw@127.0.0.1:1/stolen' } } },
      { url: `/api/v1/connectors/${a.connector}`, payload: { schedule: '* * * * *', enabled: true } },
      { url: `/api/v1/connectors/${a.connector}?dry_run=true`, payload: { table: 'orders' } },
      { url: `/api/v1/connectors/${a.connector}`, payload: {} },
    ],
  },
  'DELETE /api/v1/connectors/:id': {
    expect: 404,
    calls: (a) => [{ url: `/api/v1/connectors/${a.connector}` }, { url: `/api/v1/connectors/${a.failingConnector}` }],
  },
  'POST /api/v1/connectors/:id/test': { expect: 404, calls: (a) => [{ url: `/api/v1/connectors/${a.connector}/test`, payload: {} }] },
  'POST /api/v1/connectors/:id/pull': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/pull`, payload: { mode: 'full' } },
      { url: `/api/v1/connectors/${a.failingConnector}/pull`, payload: {} },
    ],
  },
  'GET /api/v1/connectors/:id/runs': { expect: 404, calls: (a) => [{ url: `/api/v1/connectors/${a.connector}/runs` }] },
  'GET /api/v1/connectors/:id/runs/:run_id': {
    expect: 404,
    // Also B's own connector with A's run: a run is found only under its own connector.
    calls: (a) => [{ url: `/api/v1/connectors/${a.connector}/runs/${a.run}` }, { url: `/api/v1/connectors/${B.connector}/runs/${a.run}` }],
  },
  'POST /api/v1/connectors/:id/runs/:run_id/cancel': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/runs/${a.run}/cancel` },
      { url: `/api/v1/connectors/${B.connector}/runs/${a.run}/cancel` },
    ],
  },
  'POST /api/v1/connectors/:id/runs/:run_id/confirm': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/runs/${a.run}/confirm` },
      { url: `/api/v1/connectors/${B.connector}/runs/${a.run}/confirm` },
    ],
  },
  'GET /api/v1/connectors/:id/runs/:run_id/events': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/runs/${a.run}/events` },
      { url: `/api/v1/connectors/${B.connector}/runs/${a.run}/events` },
    ],
  },
  'POST /api/v1/connectors/:id/pause': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/pause`, payload: { reason: 'stolen' } },
      { url: `/api/v1/connectors/${a.failingConnector}/pause` },
    ],
  },
  'POST /api/v1/connectors/:id/resume': {
    expect: 404,
    calls: (a) => [{ url: `/api/v1/connectors/${a.connector}/resume` }, { url: `/api/v1/connectors/${a.failingConnector}/resume` }],
  },
  'POST /api/v1/connectors/:id/notify/rotate-secret': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/notify/rotate-secret` },
      { url: `/api/v1/connectors/${a.failingConnector}/notify/rotate-secret` },
    ],
  },
  'PUT /api/v1/connectors/:id/state': {
    expect: 404,
    calls: (a) => [
      { url: `/api/v1/connectors/${a.connector}/state`, payload: { cursor: { value: '2030-01-01T00:00:00Z', key: [1] } } },
      { url: `/api/v1/connectors/${a.failingConnector}/state`, payload: { cursor: { value: 1, key: [] } } },
    ],
  },
  'GET /api/v1/connectors/:id/state': { expect: 404, calls: (a) => [{ url: `/api/v1/connectors/${a.connector}/state` }] },
  'DELETE /api/v1/connectors/:id/state': {
    expect: 404,
    calls: (a) => [{ url: `/api/v1/connectors/${a.connector}/state` }, { url: `/api/v1/connectors/${a.failingConnector}/state` }],
  },
  'GET /api/v1/queues': { expect: 'own', calls: () => [{ url: '/api/v1/queues' }] },
  'GET /api/v1/queues/:name/jobs': {
    expect: 'own',
    calls: () =>
      ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'].map((s) => ({
        url: `/api/v1/queues/pulls/jobs?state=${s}&limit=500`,
      })),
  },
  'GET /api/v1/queues/:name/jobs/:id': {
    expect: 404,
    calls: (a) =>
      [a.job, a.failedJob, a.completedJob, a.scheduledJob].map((id) => ({ url: `/api/v1/queues/pulls/jobs/${encodeURIComponent(id)}` })),
  },
  'POST /api/v1/queues/:name/jobs/:id/retry': {
    expect: 404,
    calls: (a) => [a.failedJob, a.job, a.completedJob].map((id) => ({ url: `/api/v1/queues/pulls/jobs/${encodeURIComponent(id)}/retry` })),
  },
  'POST /api/v1/queues/:name/pause': { expect: 403, calls: () => [{ url: '/api/v1/queues/pulls/pause' }] },
  'POST /api/v1/queues/:name/resume': { expect: 403, calls: () => [{ url: '/api/v1/queues/pulls/resume' }] },
  'POST /api/v1/queues/:name/clean': {
    expect: 403,
    calls: () => [
      { url: '/api/v1/queues/pulls/clean', payload: { state: 'failed', grace_seconds: 0 } },
      { url: '/api/v1/queues/pulls/clean', payload: { state: 'completed', grace_seconds: 0 } },
    ],
  },
};

/** What tenant A's ids would be if none of them existed: B must not be able to tell the two apart. */
const nowhere = (): TenantIds => ({
  ...A,
  connector: randomUUID(),
  failingConnector: randomUUID(),
  run: randomUUID(),
  job: `run-${randomUUID()}`,
  failedJob: `run-${randomUUID()}`,
  completedJob: `run-${randomUUID()}`,
  scheduledJob: `repeat:connector:${randomUUID()}:${Date.now()}`,
  ingestion: randomUUID(),
  entity: randomUUID(),
  keyId: randomUUID(),
});

/** Things of A that must never appear in anything B is shown. */
const markers = () => [
  A.tenant,
  A.connector,
  A.failingConnector,
  A.run,
  A.job,
  A.failedJob,
  A.completedJob,
  A.scheduledJob,
  A.ingestion,
  A.entity,
  A.keyId,
  A.keyPrefix,
  SCHEMA_MARKER,
  PASSWORD,
  ROLE,
  'alpha-widget',
  'alpha-bad',
  'alpha-orders',
  'alpha-broken',
  'alpha-reader',
  'alpha-order-',
  'no_such_table',
];

const served = () => t.app.routeTable.filter((r) => r.method !== 'HEAD');
const boardRoutes = () => served().filter((r) => r.url.startsWith(BULL_BOARD_PATH));

/** A concrete URL for a board route: A's queue, job and scheduler fill its parameters. */
const boardUrl = (route: string) =>
  route
    .replace(':queueName', 'pulls')
    .replace(':jobId', encodeURIComponent(A.failedJob))
    .replace(':queueStatus', 'failed')
    .replace(':schedulerId', encodeURIComponent(schedulerId(A.connector)))
    .replace(/:\w+/g, 'x')
    .replace(/\*$/, 'x');

const boardBody = {
  name: PULL_JOB,
  data: { connectorId: '', tenantId: '', mode: 'full', trigger: 'manual' },
  options: {},
  concurrency: 1,
  delay: 1,
  priority: 1,
};

describe('tenant B against everything of tenant A', () => {
  test('every route of the app has a rule here (a new route without one fails this test)', () => {
    const missing = served()
      .filter((r) => !r.url.startsWith(BULL_BOARD_PATH))
      .map((r) => `${r.method} ${r.url}`)
      .filter((k) => !(k in API_ROUTES));
    expect(missing).toEqual([]);
    const stale = Object.keys(API_ROUTES).filter((k) => !served().some((r) => `${r.method} ${r.url}` === k));
    expect(stale).toEqual([]);
    // The board's routes are all swept below, whatever they are; there are dozens, the page, the JSON API and assets.
    expect(boardRoutes().length).toBeGreaterThan(30);
  });

  test("every API route with B's admin key: A's objects are 404 as if absent, B's lists hold nothing of A, and nothing of A changes in PostgreSQL or Redis", async () => {
    const before = { rows: await rowsOf(A.tenant), redis: await redisState() };
    const absent = nowhere();
    let calls = 0;
    for (const { method, url } of served().filter((r) => !r.url.startsWith(BULL_BOARD_PATH))) {
      const rule = API_ROUTES[`${method} ${url}`]!;
      const real = rule.calls(A);
      const fake = rule.calls(absent);
      for (const [i, c] of real.entries()) {
        const what = `${method} ${c.url}`;
        const res = await api(B.key, method as InjectOptions['method'], c.url, c.payload, c.headers);
        calls++;
        for (const m of markers()) expect(res.body.includes(m), `${what} shows ${m}: ${res.body.slice(0, 300)}`).toBe(false);
        if (rule.expect === 'own' || rule.expect === 'public') {
          expect(res.statusCode, `${what}: ${res.body}`).toBeLessThan(rule.expect === 'own' ? 500 : 300);
          expect([401, 403], what).not.toContain(res.statusCode);
          continue;
        }
        expect(res.statusCode, `${what}: ${res.body}`).toBe(rule.expect);
        if (rule.expect === 404) {
          // The same answer as for ids that exist nowhere: no oracle for what A has.
          const other = await api(B.key, method as InjectOptions['method'], fake[i]!.url, fake[i]!.payload, fake[i]!.headers);
          expect({ what, status: other.statusCode, body: other.json() }).toEqual({ what, status: res.statusCode, body: res.json() });
        }
      }
    }
    expect(calls).toBeGreaterThan(50);
    expect(await rowsOf(A.tenant)).toEqual(before.rows);
    expect(await redisState()).toEqual(before.redis);
    // B did get work done on its own side (the "own" routes are not all failing).
    expect(
      (await t.db.pool.query("select count(*)::int as n from entities where tenant_id = $1 and source_id = 'w-1'", [B.tenant])).rows[0].n,
    ).toBe(1);
    expect(
      (await t.db.pool.query("select count(*)::int as n from connectors where tenant_id = $1 and name = 'bravo-new'", [B.tenant])).rows[0]
        .n,
    ).toBe(1);
  });

  test("every Bull Board route, with B's admin key as Bearer or as Basic password under any user name: 403, and Redis unchanged", async () => {
    const before = { rows: await rowsOf(null), redis: await redisState() };
    const headerSets = [
      bearer(B.key),
      ...['oncall', 'admin', 'bravo', ''].map((user) => ({ authorization: 'Basic ' + Buffer.from(`${user}:${B.key}`).toString('base64') })),
    ];
    for (const { method, url } of boardRoutes()) {
      for (const headers of headerSets) {
        const res = await t.app.inject({
          method: method as InjectOptions['method'],
          url: boardUrl(url),
          headers,
          ...(method === 'GET' ? {} : { payload: boardBody }),
        });
        expect({ route: `${method} ${url}`, status: res.statusCode }).toEqual({ route: `${method} ${url}`, status: 403 });
        for (const m of markers()) expect(res.body.includes(m), `${method} ${url} shows ${m}`).toBe(false);
      }
    }
    expect(await redisState()).toEqual(before.redis);
    expect(await rowsOf(null)).toEqual(before.rows);
  });
});

describe('queue and board actions: a tenant key is refused, the operator credential acts', () => {
  const board = (method: InjectOptions['method'], path: string, key: string, payload?: object) =>
    t.app.inject({ method, url: BULL_BOARD_PATH + path, headers: bearer(key), ...(payload ? { payload } : {}) });
  const apiCall = (method: InjectOptions['method'], path: string, key: string, payload?: object) =>
    api(key, method, `/api/v1${path}`, payload);
  const state = (id: string) => queue.getJobState(id);

  // Each action: B's attempt (refused, changes nothing), then the operator's (allowed, and the change is seen).
  const actions: Array<{
    name: string;
    as: (key: string) => Promise<{ statusCode: number }>;
    changed: () => Promise<boolean>;
    tenantStatus?: number;
  }> = [
    { name: 'board: list queues', as: (k) => board('GET', '/api/queues?activeQueue=pulls&status=failed', k), changed: async () => true },
    {
      name: 'board: get a job',
      as: (k) => board('GET', `/api/queues/pulls/${encodeURIComponent(A.failedJob)}`, k),
      changed: async () => true,
    },
    {
      name: 'board: retry a job',
      as: (k) => board('PUT', `/api/queues/pulls/${encodeURIComponent(A.failedJob)}/retry`, k),
      changed: async () => (await state(A.failedJob)) !== 'failed',
    },
    {
      name: 'board: promote a delayed job',
      as: (k) => board('PUT', `/api/queues/pulls/${encodeURIComponent(A.scheduledJob)}/promote`, k),
      changed: async () => (await state(A.scheduledJob)) !== 'delayed',
    },
    {
      name: 'board: remove a job',
      as: (k) => board('PUT', `/api/queues/pulls/${encodeURIComponent(A.completedJob)}/clean`, k),
      changed: async () => (await state(A.completedJob)) === 'unknown',
    },
    { name: 'board: pause the queue', as: (k) => board('PUT', '/api/queues/pulls/pause', k), changed: () => queue.isPaused() },
    {
      name: 'board: resume the queue',
      as: (k) => board('PUT', '/api/queues/pulls/resume', k),
      changed: async () => !(await queue.isPaused()),
    },
    {
      name: "board: add a job (a full resync of A's connector)",
      as: (k) =>
        board('POST', '/api/queues/pulls/add', k, {
          name: PULL_JOB,
          data: { connectorId: A.connector, tenantId: B.tenant, mode: 'full', trigger: 'manual' },
          options: { jobId: 'board-added' },
        }),
      changed: async () => (await queue.getJob('board-added')) !== undefined,
    },
    {
      name: 'board: remove a job scheduler',
      as: (k) => board('PUT', `/api/queues/pulls/job-schedulers/${encodeURIComponent(schedulerId(A.connector))}/remove`, k),
      changed: async () => (await queue.getJobScheduler(schedulerId(A.connector))) === undefined,
    },
    { name: 'board: clean failed jobs', as: (k) => board('PUT', '/api/queues/pulls/clean/failed', k), changed: async () => true },
    { name: 'API: pause', as: (k) => apiCall('POST', '/queues/pulls/pause', k), changed: () => queue.isPaused() },
    { name: 'API: resume', as: (k) => apiCall('POST', '/queues/pulls/resume', k), changed: async () => !(await queue.isPaused()) },
    {
      name: 'API: list every job',
      as: (k) => apiCall('GET', '/queues/pulls/jobs?state=waiting', k),
      changed: async () => true,
      tenantStatus: 200,
    },
    {
      name: "API: get A's job",
      as: (k) => apiCall('GET', `/queues/pulls/jobs/${encodeURIComponent(A.job)}`, k),
      changed: async () => true,
      tenantStatus: 404,
    },
    {
      name: 'API: clean completed jobs',
      as: (k) => apiCall('POST', '/queues/pulls/clean', k, { state: 'completed', grace_seconds: 0 }),
      changed: async () => true,
    },
  ];

  test('each action, B first then the operator', async () => {
    for (const action of actions) {
      const before = { rows: await rowsOf(null), redis: await redisState() };
      const refused = await action.as(B.key);
      expect({ action: action.name, status: refused.statusCode }).toEqual({ action: action.name, status: action.tenantStatus ?? 403 });
      expect(await redisState(), action.name).toEqual(before.redis);
      expect(await rowsOf(null), action.name).toEqual(before.rows);

      const done = await action.as(operator);
      expect({ action: action.name, status: done.statusCode < 300 }).toEqual({ action: action.name, status: true });
      expect(await action.changed(), action.name).toBe(true);
    }
    // What B's list showed is B's; the operator's shows A's waiting pull.
    expect(JSON.stringify((await apiCall('GET', '/queues/pulls/jobs?state=waiting', B.key)).json())).not.toContain(A.job);
    expect(JSON.stringify((await apiCall('GET', '/queues/pulls/jobs?state=waiting', operator)).json())).toContain(A.job);
  });
});

describe("jobs injected into Redis that name A's connector for another tenant", () => {
  // A Redis of their own: a worker here takes only the injected jobs, and A's queued jobs that the other tests act on
  // stay as they are, whichever order the tests run in.
  let injected: PrivateRedis;
  let injectedConn: Redis;
  let injectedQueue: Queue<PullJobData>;
  beforeAll(async () => {
    injected = await privateRedis();
    injectedConn = createRedis(injected.url);
    injectedQueue = createPullQueue(injectedConn);
  });
  afterAll(async () => {
    await injectedQueue?.close();
    injectedConn?.disconnect();
    await injected?.stop();
  });
  const state = (id: string) => injectedQueue.getJobState(id);

  test("run nothing, write nothing, fail at once as refused, and are logged; the same job for A's own tenant runs", async () => {
    const queue = injectedQueue;
    const entitiesBefore = (await t.db.pool.query('select count(*)::int as n from entities')).rows[0].n;
    await source.pool.query(`insert into orders select g, 'alpha-order-' || g, now() - interval '1 hour' from generate_series(41, 60) g`);
    const bRun = B.run;
    const forged: Array<[string, Record<string, unknown>]> = [
      ["B's tenant, A's connector", { connectorId: A.connector, tenantId: B.tenant, mode: 'full', trigger: 'manual' }],
      [
        "B's tenant, A's connector, A's run",
        { connectorId: A.connector, tenantId: B.tenant, mode: 'full', trigger: 'manual', runId: A.run },
      ],
      [
        "B's tenant, A's connector, as a scheduled job",
        { connectorId: A.connector, tenantId: B.tenant, mode: 'incremental', trigger: 'schedule' },
      ],
      [
        "B's tenant and connector, A's run",
        { connectorId: B.connector, tenantId: B.tenant, mode: 'full', trigger: 'manual', runId: A.run },
      ],
      ["A's tenant and connector, B's run", { connectorId: A.connector, tenantId: A.tenant, mode: 'full', trigger: 'manual', runId: bRun }],
      [
        "A's tenant and connector, a run of A's other connector",
        {
          connectorId: A.connector,
          tenantId: A.tenant,
          mode: 'full',
          trigger: 'manual',
          runId: (await t.db.pool.query('select id from connector_runs where connector_id = $1 limit 1', [A.failingConnector])).rows[0].id,
        },
      ],
      [
        "A's tenant and connector, a run id that is not a UUID",
        { connectorId: A.connector, tenantId: A.tenant, mode: 'full', trigger: 'manual', runId: "' or 1=1 --" },
      ],
      ['no tenant', { connectorId: A.connector, mode: 'full', trigger: 'manual' }],
      ['a null tenant', { connectorId: A.connector, tenantId: null, mode: 'full', trigger: 'manual' }],
      ['a tenant that is not a UUID', { connectorId: A.connector, tenantId: "x' or '1'='1", mode: 'full', trigger: 'manual' }],
      ['a tenant as an array', { connectorId: A.connector, tenantId: [A.tenant], mode: 'full', trigger: 'manual' }],
      ['a tenant that does not exist', { connectorId: A.connector, tenantId: randomUUID(), mode: 'full', trigger: 'manual' }],
      ["A's tenant, an unknown mode", { connectorId: A.connector, tenantId: A.tenant, mode: 'drop', trigger: 'manual' }],
      ["A's tenant id as the connector", { connectorId: A.tenant, tenantId: A.tenant, mode: 'full', trigger: 'manual' }],
    ];
    const ids: string[] = [];
    for (const [, data] of forged) ids.push((await queue.add(PULL_JOB, data as unknown as PullJobData, { attempts: 3 })).id!);
    expect(new Set(ids).size).toBe(forged.length);
    const before = { rows: await rowsOf(null), source: (await source.pool.query('select count(*)::int as n from orders')).rows[0].n };
    const logged: Array<{ o: Record<string, unknown>; m: string }> = [];
    await withWorker(
      async () => {
        for (const [i, id] of ids.entries()) {
          await waitFor(forged[i]![0], async () => (await state(id)) === 'failed', 20_000);
          const job = (await queue.getJob(id))!;
          expect({ name: forged[i]![0], reason: job.failedReason, attempts: job.attemptsMade }).toEqual({
            name: forged[i]![0],
            reason: expect.stringMatching(/^job refused: /),
            attempts: 1,
          });
        }
      },
      { ...quiet, error: (o: object, m: string) => void logged.push({ o: o as Record<string, unknown>, m }) },
      injected.url,
    );
    expect(await rowsOf(null)).toEqual(before.rows);
    expect((await t.db.pool.query('select count(*)::int as n from entities')).rows[0].n).toBe(entitiesBefore);
    for (const id of ids)
      expect(
        logged.some((l) => l.o.jobId === id && /^pull job refused: /.test(l.m)),
        id,
      ).toBe(true);

    // The control: the very same job for A's own tenant and a run of A's connector does run, so the refusals above
    // were the check at work.
    const runId = await createRun(t.db.pool, {
      connectorId: A.connector,
      tenantId: A.tenant,
      trigger: 'manual',
      mode: 'incremental',
      status: 'queued',
    });
    const real = await queue.add(PULL_JOB, { connectorId: A.connector, tenantId: A.tenant, mode: 'incremental', trigger: 'manual', runId });
    await withWorker(async () => waitFor('the legitimate pull', async () => (await state(real.id!)) === 'completed'), quiet, injected.url);
    const run = (await t.db.pool.query('select status, rows_read::int from connector_runs where id = $1', [runId])).rows[0];
    expect(run).toEqual({ status: 'succeeded', rows_read: 20 });
  });

  test("a job scheduler armed without a tenant (by an older version) is re-armed with its connector's tenant by the reconciler", async () => {
    const queue = injectedQueue;
    await queue.upsertJobScheduler(
      schedulerId(A.connector),
      { pattern: '0 0 1 1 *', tz: 'UTC' },
      { name: PULL_JOB, data: { connectorId: A.connector, mode: 'incremental', trigger: 'schedule' } as PullJobData },
    );
    const result = await reconcileSchedules(t.db.pool, queue);
    expect(result.updated).toContain(A.connector);
    expect((await queue.getJobScheduler(schedulerId(A.connector)))?.template?.data).toEqual({
      connectorId: A.connector,
      tenantId: A.tenant,
      mode: 'incremental',
      trigger: 'schedule',
    });
    expect((await reconcileSchedules(t.db.pool, queue)).updated).toEqual([]);
  });
});
