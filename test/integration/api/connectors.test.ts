import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, schedulerId, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { startWorker } from '../../../jobs/worker';
import { validateStoredDefinition } from '../../../connectors/registry';
import { getConnectorInput } from '../../../src/store/connectors';
import { bearer, testApi, type TestApi } from '../../helpers/api';
import { testBox } from '../../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { serviceUrl } from '../../helpers/service-url';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let key: string;
let dsn: string;
const PASSWORD = 'api-s3cret-pw';

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  key = await t.key('acme', ['connectors']);
  await source.pool.query(
    `do $$ begin if not exists (select from pg_roles where rolname = 'qanatix_api_reader') then create role qanatix_api_reader login password '${PASSWORD}'; end if; end $$`,
  );
  await source.pool.query(
    'create table products (id bigint primary key, name text, sku text, price numeric(10,2), updated_at timestamptz not null default now())',
  );
  await source.pool.query(
    `insert into products select g, 'P' || g, 'SKU-' || g, g, '2026-01-01'::timestamptz + g * interval '1 ms' from generate_series(1, 300) g`,
  );
  await source.pool.query('grant select on products to qanatix_api_reader');
  const u = new URL(source.url);
  u.username = 'qanatix_api_reader';
  u.password = PASSWORD;
  dsn = u.toString();
});
afterAll(async () => {
  await t.close();
  await queue.close();
  conn.disconnect();
  await redis.stop();
  await source.drop();
});

const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, payload?: unknown, k = key) =>
  t.app.inject({ method, url: `/api/v1${path}`, headers: bearer(k), ...(payload !== undefined ? { payload: payload as object } : {}) });

/**
 * The QANATIX example body. Connectors of one tenant writing one entity type need source_ids that cannot collide,
 * so every body but the first carries a template with its own literal prefix.
 */
const qanatixBody = (name: string) => ({
  name,
  connector_type: 'postgresql',
  vertical: 'manufacturing',
  entity_type: 'product',
  connection_config: { dsn },
  query: 'SELECT id, name, sku, price FROM products WHERE updated_at > :last_pull',
  name_column: 'name',
  batch_size: 5000,
  ...(name === 'Production Postgres' ? {} : { source_id: `${name}:{id}` }),
});

describe('connectors API', () => {
  test('the QANATIX create body works verbatim; credentials come back redacted and are sealed at rest', async () => {
    const res = await call('POST', '/connectors', qanatixBody('Production Postgres'));
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      name: 'Production Postgres',
      connector_type: 'postgresql',
      vertical: 'manufacturing',
      entity_type: 'product',
      connection_config: '***REDACTED***',
      batch_size: 5000,
      enabled: true,
    });
    expect(JSON.stringify(body)).not.toContain(PASSWORD);
    const { rows } = await t.db.pool.query('select * from connectors where id = $1', [body.id]);
    expect(JSON.stringify(rows)).not.toContain(PASSWORD);
    expect(JSON.stringify((await call('GET', '/connectors')).json())).not.toContain(PASSWORD);
    expect((await call('GET', `/connectors/${body.id}`)).json().connection_config).toBe('***REDACTED***');
    expect((await call('POST', '/connectors', qanatixBody('Production Postgres'))).statusCode).toBe(409);
    // Its source_ids could collide with any other connector of the entity type: the next tests need it gone.
    expect((await call('DELETE', `/connectors/${body.id}`)).statusCode).toBe(204);
  });

  test('every problem of a body is reported at once, each at its field', async () => {
    const res = await call('POST', '/connectors', {
      name: '',
      connector_type: 'postgresql',
      vertical: 'Bad Vertical',
      entity_type: 'product',
      connection_config: {},
      query: 'select 1',
      table: 'products',
      schedule: 'every tuesday',
    });
    expect(res.statusCode).toBe(422);
    const locs = res.json().detail.map((d: { loc: string[] }) => d.loc.join('.'));
    expect(locs).toEqual(expect.arrayContaining(['body.name', 'body.vertical', 'body.schedule', 'body.connection_config.dsn']));
    expect(JSON.stringify(res.json().detail)).toMatch(/query.*table|table.*query/);
    const tz = await call('POST', '/connectors', { ...qanatixBody('tz'), schedule: '0 * * * *', timezone: 'Mars/Olympus' });
    expect(tz.json().detail).toEqual([expect.objectContaining({ loc: ['body', 'timezone'] })]);
    const type = await call('POST', '/connectors', { ...qanatixBody('type'), connector_type: 'oracle' });
    expect(JSON.stringify(type.json().detail)).toMatch(/connector_type/);
  });

  test('a schedule becomes a job scheduler at once; PATCH updates it, disabling and deleting remove it', async () => {
    const created = (
      await call('POST', '/connectors', { ...qanatixBody('scheduled'), schedule: '*/5 * * * *', timezone: 'Europe/Berlin' })
    ).json();
    expect(await queue.getJobScheduler(schedulerId(created.id))).toMatchObject({ pattern: '*/5 * * * *', tz: 'Europe/Berlin' });
    const patched = await call('PATCH', `/connectors/${created.id}`, { schedule: '0 3 * * *' });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ schedule: '0 3 * * *', connection_config: '***REDACTED***', query: qanatixBody('x').query });
    expect(await queue.getJobScheduler(schedulerId(created.id))).toMatchObject({ pattern: '0 3 * * *' });
    await call('PATCH', `/connectors/${created.id}`, { enabled: false });
    expect(await queue.getJobScheduler(schedulerId(created.id))).toBeUndefined();
    await call('PATCH', `/connectors/${created.id}`, { enabled: true });
    expect(await queue.getJobScheduler(schedulerId(created.id))).toBeDefined();
    expect((await call('PATCH', `/connectors/${created.id}`, { batch_size: -1 })).statusCode).toBe(422);
    expect((await call('DELETE', `/connectors/${created.id}`)).statusCode).toBe(204);
    expect(await queue.getJobScheduler(schedulerId(created.id))).toBeUndefined();
    expect((await call('GET', `/connectors/${created.id}`)).statusCode).toBe(404);
  });

  test('test: ok for a good source; a wrong password is an auth error that does not echo the password', async () => {
    const good = (await call('POST', '/connectors', qanatixBody('good'))).json();
    expect((await call('POST', `/connectors/${good.id}/test`)).json()).toMatchObject({ ok: true });
    const wrong = new URL(dsn);
    wrong.password = 'wrong-' + PASSWORD;
    const bad = (await call('POST', '/connectors', { ...qanatixBody('bad'), connection_config: { dsn: wrong.toString() } })).json();
    const res = (await call('POST', `/connectors/${bad.id}/test`)).json();
    expect(res).toMatchObject({ ok: false, kind: 'auth' });
    expect(JSON.stringify(res)).not.toContain(PASSWORD);
  });

  test('pull: 202 with run and job ids, 409 while it is queued, then runs, state and reset', async () => {
    const c = (
      await call('POST', '/connectors', {
        ...qanatixBody('pulled'),
        query: undefined,
        table: 'products',
        cursor: { column: 'updated_at', lag_seconds: 0 },
      })
    ).json();
    const first = await call('POST', `/connectors/${c.id}/pull`, { mode: 'full' });
    expect(first.statusCode).toBe(202);
    const { run_id, job_id } = first.json();
    expect(job_id).toBe(`run-${run_id}`);
    const again = await call('POST', `/connectors/${c.id}/pull`, {});
    expect(again.statusCode).toBe(409);
    expect(again.json().run_id).toBe(run_id);
    expect((await call('DELETE', `/connectors/${c.id}/state`)).statusCode).toBe(409);
    const job = await queue.getJob(job_id);
    expect(JSON.stringify(job?.data)).not.toContain(PASSWORD);

    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    try {
      const run = await waitFor('the run', async () => {
        const r = (await call('GET', `/connectors/${c.id}/runs/${run_id}`)).json();
        return r.status === 'succeeded' && r;
      });
      expect(run).toMatchObject({ mode: 'full', trigger: 'manual', rows_read: 300, inserted: 300, cursor_before: null });
      expect(run.cursor_after).toEqual({ value: expect.stringMatching(/^2026-01-01T00:00:00\.300/), key: [300] });
      expect(run.duration_ms).toBeGreaterThanOrEqual(0);
    } finally {
      await w.close();
    }
    expect((await call('GET', `/connectors/${c.id}/runs`)).json().map((r: { id: string }) => r.id)).toEqual([run_id]);
    const state = (await call('GET', `/connectors/${c.id}/state`)).json();
    expect(state.cursor.key).toEqual([300]);
    expect(state.last_pull).toMatch(/^20\d\d-/);
    expect((await call('DELETE', `/connectors/${c.id}/state`)).statusCode).toBe(204);
    expect((await call('GET', `/connectors/${c.id}/state`)).json()).toMatchObject({ cursor: null, last_pull: null });
  });

  test('another tenant sees none of it; keys without the connectors scope are refused', async () => {
    const c = (await call('POST', '/connectors', qanatixBody('private'))).json();
    const other = await t.key('other', ['connectors']);
    expect((await call('GET', `/connectors/${c.id}`, undefined, other)).statusCode).toBe(404);
    expect((await call('POST', `/connectors/${c.id}/pull`, {}, other)).statusCode).toBe(404);
    expect((await call('GET', '/connectors', undefined, other)).json()).toEqual([]);
    const ingestOnly = await t.key('acme', ['ingest']);
    expect((await call('GET', '/connectors', undefined, ingestOnly)).statusCode).toBe(403);
  });
});

/** Runs the queued pulls with a worker until `check` holds. */
async function withWorker<T>(what: string, check: () => Promise<T>): Promise<NonNullable<T>> {
  const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
  try {
    return await waitFor(what, check);
  } finally {
    await w.close();
  }
}

const entityCount = async (tenantKey: string, vertical: string, entityType: string) =>
  (await call('GET', `/entities?vertical=${vertical}&entity_type=${entityType}&limit=1000`, undefined, tenantKey)).json().items.length;

describe("QANATIX SDK's connector body (Gen B names, status)", () => {
  // What the Python SDK's create() sends (shared reference, section 1): collection and record_type for the target,
  // name_column and batch_size with its own defaults, and the connector's status.
  const sdkBody = (name: string) => ({
    name,
    connector_type: 'postgresql',
    collection: 'manufacturing',
    record_type: 'product',
    connection_config: { dsn },
    query: 'SELECT id, name, sku, price FROM products WHERE updated_at > :last_pull',
    name_column: 'name',
    batch_size: 1000,
    schedule: '*/5 * * * *',
    status: 'active',
  });

  test('the SDK body is accepted as sent: collection is the vertical, record_type the entity type, active is enabled; a pull lands there', async () => {
    const readKey = await t.key('sdk-tenant', ['connectors', 'read']);
    const res = await call('POST', '/connectors', sdkBody('sdk postgres'), readKey);
    expect(res.statusCode).toBe(201);
    const c = res.json();
    expect(c).toMatchObject({ vertical: 'manufacturing', entity_type: 'product', enabled: true, status: 'active', batch_size: 1000 });
    expect(c).not.toHaveProperty('collection');
    expect(c).not.toHaveProperty('record_type');
    expect(await queue.getJobScheduler(schedulerId(c.id))).toMatchObject({ pattern: '*/5 * * * *' });
    const { run_id } = (await call('POST', `/connectors/${c.id}/pull`, {}, readKey)).json();
    await withWorker('the SDK connector run', async () => {
      const r = (await call('GET', `/connectors/${c.id}/runs/${run_id}`, undefined, readKey)).json();
      if (r.status === 'failed') throw new Error(`the run failed: ${r.error}`);
      return r.status === 'succeeded' && r;
    });
    expect(await entityCount(readKey, 'manufacturing', 'product')).toBe(300);
    const { rows } = await t.db.pool.query<{ name: string }>(
      `select e.name from entities e join tenants t on t.id = e.tenant_id where t.name = 'sdk-tenant' and e.source_id = '7'`,
    );
    expect(rows).toEqual([{ name: 'P7' }]);
  });

  test('status "paused" is enabled false (no job scheduler); PATCH with status switches it back and forth; GET shows both names', async () => {
    // An entity type of its own: two connectors of a tenant writing one target with colliding source_ids are refused.
    const c = (await call('POST', '/connectors', { ...sdkBody('sdk paused'), record_type: 'paused-product', status: 'paused' })).json();
    expect(c).toMatchObject({ enabled: false, status: 'paused' });
    expect(await queue.getJobScheduler(schedulerId(c.id))).toBeUndefined();
    const active = await call('PATCH', `/connectors/${c.id}`, { status: 'active' });
    expect(active.json()).toMatchObject({ enabled: true, status: 'active', changed_fields: ['enabled'] });
    expect(await queue.getJobScheduler(schedulerId(c.id))).toBeDefined();
    expect((await call('PATCH', `/connectors/${c.id}`, { status: 'paused' })).json()).toMatchObject({ enabled: false, status: 'paused' });
    expect(await queue.getJobScheduler(schedulerId(c.id))).toBeUndefined();
    expect((await call('GET', `/connectors/${c.id}`)).json()).toMatchObject({ enabled: false, status: 'paused' });
    expect((await call('PATCH', `/connectors/${c.id}`, { enabled: true })).json()).toMatchObject({ status: 'active' });
    // Gen B names on update too: the target moves, and nothing else changes.
    const moved = await call('PATCH', `/connectors/${c.id}`, { collection: 'retail', record_type: 'item' });
    expect(moved.json()).toMatchObject({ vertical: 'retail', entity_type: 'item', changed_fields: ['entity_type', 'vertical'] });
  });

  test('the reference defaults: without name_column and batch_size the definition reads name and 5,000 rows a batch', async () => {
    const { name_column: _n, batch_size: _b, ...body } = sdkBody('sdk defaults');
    const c = (await call('POST', '/connectors', { ...body, record_type: 'default-product' })).json();
    const { rows } = await t.db.pool.query<{ tenant_id: string }>('select tenant_id from connectors where id = $1', [c.id]);
    const definition = validateStoredDefinition((await getConnectorInput(t.db.pool, testBox, rows[0]!.tenant_id, c.id))!);
    expect(definition).toMatchObject({ name_column: 'name', batch_size: 5000 });
  });

  test('contradictions and unknown statuses are 422s at the SDK field, each with a stable type, and nothing is created', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ entity_type: 'product' }, 'record_type', 'conflict'],
      [{ vertical: 'manufacturing' }, 'collection', 'conflict'],
      [{ enabled: false }, 'status', 'conflict'],
      [{ status: 'stopped' }, 'status', 'value_error'],
      [{ status: 'ACTIVE' }, 'status', 'value_error'],
      [{ status: true }, 'status', 'value_error'],
      [{ status: null }, 'status', 'value_error'],
    ];
    for (const [extra, field, type] of cases) {
      const res = await call('POST', '/connectors', { ...sdkBody('sdk refused'), ...extra });
      expect(res.statusCode, JSON.stringify(extra)).toBe(422);
      expect(res.json().detail, JSON.stringify(extra)).toContainEqual(expect.objectContaining({ loc: ['body', field], type }));
    }
    // Without record_type, collection is not a vertical: a PostgreSQL connector has no such setting.
    const { record_type: _r, ...noRecordType } = sdkBody('sdk half');
    const half = await call('POST', '/connectors', noRecordType);
    expect(half.statusCode).toBe(422);
    expect(half.json().detail).toContainEqual(expect.objectContaining({ loc: ['body', 'collection'] }));
    expect((await call('GET', '/connectors')).json().map((c: { name: string }) => c.name)).not.toContain('sdk refused');
  });

  test('MongoDB as the reference shows it: config {uri, database, collection} and query a filter document given as a JSON string', async () => {
    const mongoUrl = serviceUrl('mongo');
    const database = `qsdk_${Date.now()}`;
    const client = await MongoClient.connect(mongoUrl);
    try {
      await client
        .db(database)
        .collection('catalog')
        .insertMany(Array.from({ length: 20 }, (_, i) => ({ name: `Item ${i}`, status: i % 4 === 0 ? 'retired' : 'active' })));
      const readKey = await t.key('sdk-mongo', ['connectors', 'read']);
      const res = await call(
        'POST',
        '/connectors',
        {
          name: 'sdk mongo',
          connector_type: 'mongodb',
          collection: 'products',
          record_type: 'catalog_item',
          connection_config: { uri: mongoUrl, database, collection: 'catalog' },
          query: '{"status": "active"}',
          name_column: 'name',
          batch_size: 1000,
          status: 'active',
        },
        readKey,
      );
      expect(res.statusCode, res.body).toBe(201);
      expect(res.json()).toMatchObject({ vertical: 'products', entity_type: 'catalog_item', query: '{"status": "active"}' });
      const { run_id } = (await call('POST', `/connectors/${res.json().id}/pull`, {}, readKey)).json();
      const run = await withWorker('the MongoDB run', async () => {
        const r = (await call('GET', `/connectors/${res.json().id}/runs/${run_id}`, undefined, readKey)).json();
        if (r.status === 'failed') throw new Error(`the run failed: ${r.error}`);
        return r.status === 'succeeded' && r;
      });
      expect(run.rows_read).toBe(15);
      expect(await entityCount(readKey, 'products', 'catalog_item')).toBe(15);
    } finally {
      await client.db(database).dropDatabase();
      await client.close();
    }
  });
});
