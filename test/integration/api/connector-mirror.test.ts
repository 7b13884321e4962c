import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { startWorker } from '../../../jobs/worker';
import { bearer, testApi, type TestApi } from '../../helpers/api';
import { testBox } from '../../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let key: string;

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qmirror', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  key = await t.key('acme', ['connectors', 'read', 'ingest']);
  await source.pool.query('create table items (id bigint primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(
    "insert into items select g, 'item ' || g, '2026-01-01'::timestamptz + g * interval '1 ms' from generate_series(1, 100) g",
  );
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

const body = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  connector_type: 'postgresql',
  vertical: 'mirror',
  entity_type: 'item',
  connection_config: { dsn: source.url },
  table: 'items',
  cursor: { column: 'updated_at', lag_seconds: 0 },
  ...extra,
});

async function runToEnd(connectorId: string, mode: string, status = 'succeeded') {
  const res = await call('POST', `/connectors/${connectorId}/pull`, { mode });
  expect(res.statusCode, res.body).toBe(202);
  return waitFor(`the ${mode} run`, async () => {
    const r = (await call('GET', `/connectors/${connectorId}/runs/${res.json().run_id}`)).json();
    return r.status === status && r;
  });
}

describe('mirroring through the API', () => {
  test('two connectors whose source_ids can collide are refused (409 naming the other), disjoint templates are not', async () => {
    const first = await call('POST', '/connectors', body('first'));
    expect(first.statusCode).toBe(201);
    for (const clash of [
      body('second'),
      body('second', { connector_type: 'mysql', connection_config: { dsn: 'mysql://r@127.0.0.1/x' } }),
    ]) {
      const refused = await call('POST', '/connectors', clash);
      expect(refused.statusCode).toBe(409);
      expect(refused.json().detail).toContain('"first"');
    }
    const pg = await call('POST', '/connectors', body('pg', { entity_type: 'pair', source_id: 'pg-{id}' }));
    const my = await call('POST', '/connectors', body('my', { entity_type: 'pair', source_id: 'my-{id}' }));
    expect([pg.statusCode, my.statusCode]).toEqual([201, 201]);
    // An update that makes them collide is refused too, and changes nothing.
    const patched = await call('PATCH', `/connectors/${my.json().id}`, { source_id: 'pg-{id}' });
    expect(patched.statusCode).toBe(409);
    expect(patched.json().detail).toContain('"pg"');
    expect((await call('GET', `/connectors/${my.json().id}`)).json().source_id).toBe('my-{id}');
    for (const c of [first, pg, my]) await call('DELETE', `/connectors/${c.json().id}?delete_entities=true`);
  });

  test('sweep, guard and confirm, soft-deleted entities hidden from listings, delete_entities', async () => {
    let stagedAtDelete = '';
    const c = (await call('POST', '/connectors', body('mirrored', { deletes: { mode: 'soft' } }))).json();
    expect((await call('POST', `/connectors/${c.id}/pull`, { mode: 'bogus' })).statusCode).toBe(422);
    const pushed = await call('POST', '/ingest/mirror/item/batch', { records: [{ name: 'pushed', source_id: 'push-1' }] });
    expect(pushed.statusCode).toBe(200);

    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    try {
      await runToEnd(c.id, 'incremental');
      await source.pool.query('delete from items where id > 30');
      const held = await runToEnd(c.id, 'sweep', 'needs_confirmation');
      expect(held).toMatchObject({ mode: 'sweep', deleted: 0, pending_deletes: 70, error_kind: 'guard' });
      expect(held.error).toContain(`/runs/${held.id}/confirm`);
      // A held sweep keeps its staged keys (confirming it deletes without reading again); they go when it ends.
      const staging = async (runId: string) =>
        (await t.db.pool.query('select to_regclass($1) as t', [`sweep_staging."${runId}"`])).rows[0].t;
      expect(await staging(held.id)).not.toBeNull();
      const listed = async (q = '') => (await call('GET', `/entities?vertical=mirror&entity_type=item&limit=1000${q}`)).json().items;
      expect(await listed()).toHaveLength(101);

      const confirmed = await call('POST', `/connectors/${c.id}/runs/${held.id}/confirm`);
      expect(confirmed.statusCode).toBe(202);
      expect((await call('POST', `/connectors/${c.id}/runs/${held.id}/confirm`)).statusCode).toBe(409);
      const done = await waitFor('the confirmed sweep', async () => {
        const r = (await call('GET', `/connectors/${c.id}/runs/${held.id}`)).json();
        return r.status === 'succeeded' && r;
      });
      expect(done).toMatchObject({ deleted: 70, pending_deletes: null });
      expect(await staging(held.id)).toBeNull();
      // The pushed entity was never swept; soft-deleted ones come back only when asked for.
      expect((await listed()).map((e: { source_id: string }) => e.source_id).sort()).toEqual(
        [...Array.from({ length: 30 }, (_, i) => String(i + 1)), 'push-1'].sort(),
      );
      const all = await listed('&include_deleted=true');
      expect(all).toHaveLength(101);
      expect(all.filter((e: { deleted_at: string | null }) => e.deleted_at !== null)).toHaveLength(70);
      expect(all.find((e: { source_id: string }) => e.source_id === '1').connector_id).toBe(c.id);
      expect(all.find((e: { source_id: string }) => e.source_id === 'push-1').connector_id).toBeNull();

      const verify = await runToEnd(c.id, 'verify');
      expect(verify.verify).toMatchObject({ checked: 30, missing: 0, extra: 0, stale: 0 });
      expect(await staging(verify.id)).toBeNull();

      // A sweep still held when its connector is deleted: its staged keys go with the connector.
      await source.pool.query('delete from items where id > 5');
      const heldAgain = await runToEnd(c.id, 'sweep', 'needs_confirmation');
      expect(await staging(heldAgain.id)).not.toBeNull();
      await source.pool.query(
        `insert into items select g, 'item ' || g, '2026-01-01'::timestamptz + g * interval '1 ms' from generate_series(6, 30) g`,
      );
      stagedAtDelete = heldAgain.id;
    } finally {
      await w.close();
    }

    // Deleting the connector keeps its entities, without an owner; a sweep mode needs deletes on.
    const kept = (await call('POST', '/connectors', body('kept', { entity_type: 'kept' }))).json();
    expect((await call('POST', `/connectors/${kept.id}/pull`, { mode: 'sweep' })).statusCode).toBe(422);
    expect((await call('DELETE', `/connectors/${c.id}`)).statusCode).toBe(204);
    expect((await t.db.pool.query('select to_regclass($1) as t', [`sweep_staging."${stagedAtDelete}"`])).rows[0].t).toBeNull();
    const owned = await t.db.pool.query(
      "select count(*)::int as n, count(connector_id)::int as owned from entities where vertical = 'mirror' and entity_type = 'item'",
    );
    expect(owned.rows[0]).toEqual({ n: 101, owned: 0 });
  });

  test('delete_entities=true deletes the entities its pulls wrote, and only those', async () => {
    const c = (await call('POST', '/connectors', body('doomed', { entity_type: 'doomed' }))).json();
    await call('POST', '/ingest/mirror/doomed/batch', { records: [{ name: 'pushed', source_id: 'push-1' }] });
    const w = startWorker({ pool: t.db.pool, box: testBox, connection: createRedis(redis.url), log: { info() {}, warn() {}, error() {} } });
    try {
      await runToEnd(c.id, 'incremental');
    } finally {
      await w.close();
    }
    expect((await call('DELETE', `/connectors/${c.id}?delete_entities=true`)).statusCode).toBe(204);
    const left = await t.db.pool.query("select source_id from entities where vertical = 'mirror' and entity_type = 'doomed'");
    expect(left.rows).toEqual([{ source_id: 'push-1' }]);
  });
});
