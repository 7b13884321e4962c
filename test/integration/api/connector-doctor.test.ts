import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bearer, testApi, type TestApi } from '../../helpers/api';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

/** GET /connectors/{id}/doctor: the checks of a tenant's own connector, nothing of another tenant's, and its errors. */

let t: TestApi;
let source: TestDatabase;
let key: string;
let otherKey: string;
const ids: Record<string, string> = {};

const call = (path: string, k = key) => t.app.inject({ method: 'GET', url: `/api/v1${path}`, headers: bearer(k) });

async function create(name: string, extra: Record<string, unknown>, k = key): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/api/v1/connectors',
    headers: bearer(k),
    payload: { name, connector_type: 'postgresql', vertical: 'shop', entity_type: name, connection_config: { dsn: source.url }, ...extra },
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

beforeAll(async () => {
  [t, source] = await Promise.all([testApi(), freshDatabase('qsrc', false)]);
  key = await t.key('acme', ['connectors']);
  otherKey = await t.key('rival', ['connectors', 'admin']);
  await source.pool.query('create table products (id int primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(
    "insert into products select g, 'P' || g, now() - interval '1 day' + g * interval '1 second' from generate_series(1, 2000) g",
  );
  await source.pool.query('create index products_order on products (updated_at, id)');
  await source.pool.query('analyze products');
  await source.pool.query('create table keyless (id int, name text not null, updated_at timestamptz not null)');
  ids.products = await create('products', { table: 'products', cursor: { column: 'updated_at' } });
  ids.keyless = await create('keyless', { table: 'keyless', cursor: { column: 'updated_at' } });
  ids.gone = await create('gone', {
    table: 'products',
    cursor: { column: 'updated_at' },
    connection_config: { dsn: 'postgresql://u:p@127.0.0.1:1/x' },
  });
  ids.rival = await create('rival', { table: 'products', cursor: { column: 'updated_at' } }, otherKey);
});
afterAll(async () => {
  await t?.close();
  await source?.drop();
});

describe('GET /connectors/{id}/doctor', () => {
  test('every check, in order, with a verdict, what it found and a fix; a full resync timed by the past runs', async () => {
    // Two past runs read 3,000 rows in 30 s: 100 rows/s.
    await t.db.pool.query(
      `insert into connector_runs (connector_id, tenant_id, trigger, mode, status, rows_read, started_at, finished_at)
       select id, tenant_id, 'manual', 'incremental', 'succeeded', 1500, now() - interval '15 s', now() from connectors where id = $1
       union all
       select id, tenant_id, 'manual', 'full', 'succeeded', 1500, now() - interval '15 s', now() from connectors where id = $1`,
      [ids.products],
    );
    const res = await call(`/connectors/${ids.products}/doctor`);
    expect(res.statusCode, res.body).toBe(200);
    const report = res.json();
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual([
      'cursor_index',
      'equal_cursor_run',
      'null_cursors',
      'future_cursors',
      'held_back',
      'privileges',
      'resync_estimate',
    ]);
    expect(report.source_now).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    // The test server's role is a superuser: the only thing to look at.
    expect(report.verdict).toBe('warn');
    expect(report.checks.filter((c: { verdict: string }) => c.verdict !== 'ok').map((c: { name: string }) => c.name)).toEqual([
      'privileges',
    ]);
    const estimate = report.checks.find((c: { name: string }) => c.name === 'resync_estimate');
    expect(estimate.detail).toMatch(/about 2000 rows .*: about 20 s at this connector's past 100 rows\/s/);
  });

  test('a failing check makes the report fail', async () => {
    const res = await call(`/connectors/${ids.keyless}/doctor`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().verdict).toBe('fail');
  });

  test("another tenant's connector is not found; a key without the connectors scope is refused", async () => {
    expect((await call(`/connectors/${ids.rival}/doctor`)).statusCode).toBe(404);
    expect((await call(`/connectors/${ids.products}/doctor`, otherKey)).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: `/api/v1/connectors/${ids.products}/doctor` })).statusCode).toBe(401);
    const reader = await t.key('acme', ['read', 'ingest']);
    expect((await call(`/connectors/${ids.products}/doctor`, reader)).statusCode).toBe(403);
  });

  test('a source that cannot be reached answers 409 with the reason and no secret; a budget out of range 422', async () => {
    const res = await call(`/connectors/${ids.gone}/doctor?check_seconds=2`);
    expect(res.statusCode, res.body).toBe(409);
    expect(res.json().detail).toMatch(/^The source could not be read \(unreachable\)/);
    expect(res.body).not.toContain('u:p@');
    const bad = await call(`/connectors/${ids.products}/doctor?check_seconds=0`);
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail[0].loc).toEqual(['querystring', 'check_seconds']);
  });
});
