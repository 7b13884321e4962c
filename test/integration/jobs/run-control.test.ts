import type { Queue } from 'bullmq';
import { MongoClient } from 'mongodb';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, PULL_JOB, schedulerId, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { recoverRuns } from '../../../jobs/run-recovery';
import { runPull } from '../../../jobs/run-pull';
import { createRun, getRun } from '../../../src/store/connector-runs';
import { loadConnectorForRun } from '../../../src/store/connectors';
import { startWorker, type RunningWorker } from '../../../jobs/worker';
import { bearer, testApi, type TestApi } from '../../helpers/api';
import { testBox } from '../../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { serviceUrl } from '../../helpers/service-url';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

/**
 * Operators' control of runs, on the real servers: a worker in this process, the API through inject, a private Redis.
 */
let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let key: string;
const workers: RunningWorker[] = [];
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

const BIG = 60_000;

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  key = await t.key('acme', ['connectors', 'read']);
  await source.pool.query(`create table products (id bigint primary key, name text not null, updated_at timestamptz not null)`);
  await source.pool.query(
    `insert into products select g, 'P' || g, '2026-01-01'::timestamptz + g * interval '1 millisecond' from generate_series(1, ${BIG}) g`,
  );
  await source.pool.query(`create table unnamed (id bigint primary key, title text, updated_at timestamptz not null)`);
  await source.pool.query(
    `insert into unnamed select g, 'T' || g, '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, 300) g`,
  );
  await source.pool.query(`create table fresh (id bigint primary key, name text not null, updated_at timestamptz not null default now())`);
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
});
afterAll(async () => {
  await queue.close();
  conn.disconnect();
  await t.close();
  await Promise.all([redis.stop(), source.drop()]);
});

const call = async (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload !== undefined ? { payload: payload as object } : {}) });

function worker(): RunningWorker {
  const w = startWorker({
    pool: t.db.pool,
    box: testBox,
    connection: createRedis(redis.url),
    log: quiet,
    concurrency: 2,
    lockDurationMs: 4_000,
  });
  workers.push(w);
  return w;
}

let n = 0;
async function connector(settings: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call('POST', '/connectors', {
    name: `c${++n}`,
    connector_type: 'postgresql',
    connection_config: { dsn: source.url },
    vertical: `v${n}`,
    entity_type: 'product',
    ...settings,
    ...extra,
  });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().id;
}

const run = async (id: string, runId: string) => (await call('GET', `/connectors/${id}/runs/${runId}`)).json();
const finished = (id: string, runId: string, ms = 60_000) =>
  waitFor(
    `run ${runId} finished`,
    async () => {
      const r = await run(id, runId);
      return ['succeeded', 'failed', 'cancelled', 'skipped'].includes(r.status) ? r : null;
    },
    ms,
  );
async function pull(id: string, body: object = {}) {
  const res = await call('POST', `/connectors/${id}/pull`, body);
  expect(res.statusCode, res.body).toBe(202);
  return res.json().run_id as string;
}
const entities = async (vertical: string) =>
  (await t.db.pool.query('select count(*)::int as n from entities where vertical = $1', [vertical])).rows[0].n as number;
const verticalOf = async (id: string) => (await call('GET', `/connectors/${id}`)).json().vertical as string;
const state = async (id: string) => (await call('GET', `/connectors/${id}/state`)).json();

describe('why a run read nothing', () => {
  test('rows inside the lag window are counted as held back, with when they will be read, and the run says so in words', async () => {
    await source.pool.query(`insert into fresh (id, name) select g, 'F' || g from generate_series(1, 25) g`);
    const id = await connector({ table: 'fresh', cursor: { column: 'updated_at' } });
    worker();
    const done = await finished(id, await pull(id));
    expect(done).toMatchObject({ status: 'succeeded', rows_read: 0, rows_held_back: 25 });
    const { rows } = await source.pool.query(
      `select to_char(min(updated_at) at time zone 'UTC' + interval '60 seconds', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at from fresh`,
    );
    expect(done.held_back_until).toBe(rows[0].at);
    expect(done.note).toMatch(/^nothing was read: 25 rows changed within the lag window .* the first run starting after \d{4}-/);
    const events = (await call('GET', `/connectors/${id}/runs/${done.id}/events`)).json();
    expect(events.map((e: { kind: string }) => e.kind)).toEqual(['started', 'held_back', 'succeeded']);
    expect(events[1].detail).toMatchObject({ rows: 25, capped: false });

    // With no lag nothing is held back, and a run that finds nothing new says that instead.
    await call('PATCH', `/connectors/${id}`, { cursor: { column: 'updated_at', lag_seconds: 0 } });
    expect(await finished(id, await pull(id))).toMatchObject({ rows_read: 25, rows_held_back: 0, note: null });
    expect(await finished(id, await pull(id))).toMatchObject({
      rows_read: 0,
      note: 'nothing was read: no row changed after the committed cursor',
    });
  });
});

describe('a mapping that cannot work', () => {
  test('a name_column the table does not have fails the pull before any row is read, and the cursor stays', async () => {
    const id = await connector({ table: 'unnamed', cursor: { column: 'updated_at', lag_seconds: 0 } });
    const tested = (await call('POST', `/connectors/${id}/test`)).json();
    expect(tested).toMatchObject({ ok: false, kind: 'config', error: expect.stringMatching(/the mapping reads "name", which unnamed/) });
    worker();
    const failed = await finished(id, await pull(id));
    expect(failed).toMatchObject({ status: 'failed', error_kind: 'config', rows_read: 0, rejected: 0 });
    expect(failed.error).toMatch(/the mapping reads "name", which unnamed does not have \(columns: id, title, updated_at\)/);
    expect((await state(id)).cursor).toBeNull();
    expect((await t.db.pool.query('select count(*)::int as n from ingestion_errors')).rows[0].n).toBe(0);
    // Fixed, the next incremental pull reads every row: nothing was skipped.
    expect((await call('PATCH', `/connectors/${id}`, { name_column: 'title' })).statusCode).toBe(200);
    expect(await finished(id, await pull(id))).toMatchObject({ status: 'succeeded', rows_read: 300, inserted: 300 });
  });

  test('a source_id template naming a missing column is the same config error', async () => {
    const id = await connector({
      table: 'unnamed',
      name_column: 'title',
      source_id: 'u-{uid}',
      cursor: { column: 'updated_at', lag_seconds: 0 },
    });
    worker();
    const failed = await finished(id, await pull(id));
    expect(failed).toMatchObject({ status: 'failed', error_kind: 'config', rows_read: 0 });
    expect(failed.error).toMatch(/"uid"/);
  });
});

describe('a mapping that cannot work, on a source whose columns are only sampled', () => {
  test('a batch whose rows all lack the mapped column fails the run with that reason and does not move the cursor', async () => {
    const database = `qctl_${Date.now().toString(36)}`;
    const mongo = new MongoClient(serviceUrl('mongo'));
    try {
      const items = mongo.db(database).collection('items');
      await items.insertMany(Array.from({ length: 120 }, (_, i) => ({ _id: i + 1, title: `T${i + 1}`, seq: i + 1 })) as never[]);
      const id = await connector({
        connector_type: 'mongodb',
        connection_config: { uri: serviceUrl('mongo'), database },
        table: 'items',
        cursor: { column: 'seq' },
        batch_size: 50,
      });
      worker();
      const failed = await finished(id, await pull(id));
      expect(failed).toMatchObject({ status: 'failed', error_kind: 'config', rows_read: 0, rejected: 0 });
      expect(failed.error).toMatch(/no row of a batch of 50 has the column "name" the mapping reads/);
      expect((await state(id)).cursor).toBeNull();
      // One row missing a name among good ones is that row's problem: it goes to the DLQ and the run goes on.
      await items.deleteMany({});
      await items.insertMany(
        Array.from({ length: 120 }, (_, i) => ({ _id: i + 1, seq: i + 1, ...(i === 6 ? {} : { name: `N${i + 1}` }) })) as never[],
      );
      const done = await finished(id, await pull(id));
      expect(done).toMatchObject({ status: 'succeeded', rows_read: 120, inserted: 119, rejected: 1 });
    } finally {
      await mongo.db(database).dropDatabase();
      await mongo.close();
    }
  });
});

describe('cancel', () => {
  test('a running pull stops within 5 s after its current batch; entities equal what it committed; the next run resumes there', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 50 });
    const vertical = await verticalOf(id);
    worker();
    const runId = await pull(id);
    await waitFor('rows committed', async () => (await run(id, runId)).rows_read >= 500, 30_000, 50);
    const asked = Date.now();
    const res = await call('POST', `/connectors/${id}/runs/${runId}/cancel`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ run_id: runId, status: 'cancel_requested' });
    const cancelled = await finished(id, runId, 10_000);
    expect(Date.now() - asked).toBeLessThan(5_000);
    expect(cancelled).toMatchObject({ status: 'cancelled', error_kind: 'cancelled' });
    expect(cancelled.rows_read).toBeLessThan(BIG);
    expect(await entities(vertical)).toBe(cancelled.rows_read);
    expect((await state(id)).cursor).toEqual(cancelled.cursor_after);
    const kinds = (await call('GET', `/connectors/${id}/runs/${runId}/events?limit=1000`)).json().map((e: { kind: string }) => e.kind);
    expect(kinds[0]).toBe('started');
    expect(kinds).toContain('cancel_requested');
    expect(kinds.at(-1)).toBe('cancelled');
    // Cancelled is final: cancelling again is a conflict, and recovery leaves it alone.
    expect((await call('POST', `/connectors/${id}/runs/${runId}/cancel`)).statusCode).toBe(409);
    expect(await recoverRuns(t.db.pool, queue, { connectorId: id, graceMs: 0 })).toEqual([]);

    await call('PATCH', `/connectors/${id}`, { batch_size: 5000 });
    const next = await finished(id, await pull(id));
    expect(next).toMatchObject({ status: 'succeeded', rows_read: BIG - cancelled.rows_read, inserted: BIG - cancelled.rows_read });
    expect(next.cursor_before).toEqual(cancelled.cursor_after);
    expect(await entities(vertical)).toBe(BIG);
  });

  test('a queued run is removed from the queue and never runs', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 5000 });
    const runId = await pull(id);
    expect(await queue.getJob(`run-${runId}`)).toBeDefined();
    const res = await call('POST', `/connectors/${id}/runs/${runId}/cancel`);
    expect(res.json()).toEqual({ run_id: runId, status: 'cancelled' });
    expect(await queue.getJob(`run-${runId}`)).toBeUndefined();
    worker();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await run(id, runId)).toMatchObject({ status: 'cancelled', rows_read: 0, started_at: null });
    expect(await entities(await verticalOf(id))).toBe(0);
    // The connector is free again.
    expect(await finished(id, await pull(id))).toMatchObject({ status: 'succeeded', rows_read: BIG });
  });
});

describe('pause and resume', () => {
  test('no scheduled runs while paused, manual pulls answered 409 with the reason, the position kept; resume brings both back', async () => {
    const id = await connector(
      { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 5000 },
      { schedule: '0 3 * * *' },
    );
    worker();
    await finished(id, await pull(id));
    const before = await state(id);
    expect(await queue.getJobScheduler(schedulerId(id))).toBeDefined();

    const paused = await call('POST', `/connectors/${id}/pause`, { reason: 'source migration until Monday' });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json()).toMatchObject({ paused: true, enabled: false, pause_reason: 'source migration until Monday' });
    expect(await queue.getJobScheduler(schedulerId(id))).toBeUndefined();
    const refused = await call('POST', `/connectors/${id}/pull`, {});
    expect(refused.statusCode).toBe(409);
    expect(refused.json().detail).toMatch(/paused since .*\(source migration until Monday\); resume it/);

    // A scheduler's job that fires anyway (queued before the pause reached Redis) creates no run.
    const tenantId = (await t.db.pool.query('select tenant_id from connectors where id = $1', [id])).rows[0].tenant_id;
    const runsBefore = (await call('GET', `/connectors/${id}/runs`)).json().length;
    const job = await queue.add(PULL_JOB, { connectorId: id, tenantId, mode: 'incremental', trigger: 'schedule' }, { jobId: `late-${id}` });
    await waitFor('late job done', async () => (await job.getState()) === 'completed', 10_000);
    expect((await call('GET', `/connectors/${id}/runs`)).json()).toHaveLength(runsBefore);
    expect(await state(id)).toEqual(before);

    const resumed = await call('POST', `/connectors/${id}/resume`);
    expect(resumed.json()).toMatchObject({ paused: false, enabled: true, paused_at: null, pause_reason: null });
    expect(await queue.getJobScheduler(schedulerId(id))).toMatchObject({ pattern: '0 3 * * *' });
    expect(await finished(id, await pull(id))).toMatchObject({ status: 'succeeded', rows_read: 0, cursor_before: before.cursor });

    // `enabled` is the same switch.
    expect((await call('PATCH', `/connectors/${id}`, { enabled: false })).json()).toMatchObject({ paused: true });
    expect((await call('POST', `/connectors/${id}/pull`, {})).statusCode).toBe(409);
  });
});

describe('set the position', () => {
  test('a position set by hand is checked against the cursor, recorded as an operator run, and the next pull starts exactly there', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 5000 });
    const vertical = await verticalOf(id);
    const { rows } = await source.pool.query(
      `select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as value from products where id = 59000`,
    );
    const cursor = { value: rows[0].value, key: [59000] };
    const res = await call('PUT', `/connectors/${id}/state`, { cursor });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ cursor });
    const history = (await call('GET', `/connectors/${id}/runs`)).json();
    expect(history[0].note).toBeNull();
    expect(history[0]).toMatchObject({
      id: res.json().run_id,
      trigger: 'operator',
      mode: 'set_state',
      status: 'succeeded',
      cursor_before: null,
      cursor_after: cursor,
    });
    expect((await call('GET', `/connectors/${id}/runs/${res.json().run_id}/events`)).json()).toEqual([
      expect.objectContaining({ kind: 'state_set', detail: { before: null, cursor } }),
    ]);

    worker();
    const next = await finished(id, await pull(id));
    expect(next).toMatchObject({ status: 'succeeded', rows_read: BIG - 59000, cursor_before: cursor });
    const ids = (
      await t.db.pool.query('select min(source_id::bigint)::int as lo, count(*)::int as n from entities where vertical = $1', [vertical])
    ).rows[0];
    expect(ids).toEqual({ lo: 59001, n: BIG - 59000 });
  });

  test('a value or key that does not fit the cursor is a 422 at body.cursor, and nothing changes', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 } });
    const cases: Array<[unknown, RegExp]> = [
      [
        { value: 'yesterday', key: [1] },
        /^the cursor given "yesterday" does not fit the timestamp with time zone column "updated_at" - give a value/,
      ],
      [{ value: 42, key: [1] }, /^the cursor given 42 does not fit the timestamp with time zone column "updated_at"/],
      [
        { value: '2026-01-01T00:00:00Z', key: [] },
        /^the cursor given has 0 key value\(s\) but the key is now \(id\) - give one key value per key column/,
      ],
      [{ value: '2026-01-01T00:00:00Z', key: [1, 2] }, /^the cursor given has 2 key value\(s\)/],
      [{ value: '2026-01-01T00:00:00Z', key: ['x'] }, /^the cursor given "x" does not fit the bigint column "id"/],
    ];
    for (const [cursor, msg] of cases) {
      const res = await call('PUT', `/connectors/${id}/state`, { cursor });
      expect(res.statusCode, JSON.stringify(cursor)).toBe(422);
      expect(res.json().detail[0]).toMatchObject({ loc: ['body', 'cursor'], msg: expect.stringMatching(msg) });
    }
    for (const body of [{}, { cursor: { value: 1 } }, { cursor: { value: {}, key: [] } }, { cursor: { value: 1, key: [[1]] } }]) {
      expect((await call('PUT', `/connectors/${id}/state`, body)).statusCode, JSON.stringify(body)).toBe(422);
    }
    expect((await state(id)).cursor).toBeNull();
    expect((await call('GET', `/connectors/${id}/runs`)).json()).toEqual([]);

    const whole = await connector({ query: 'SELECT id, name FROM products' });
    const res = await call('PUT', `/connectors/${whole}/state`, { cursor: { value: 1, key: [] } });
    expect(res.json().detail[0].msg).toMatch(/no cursor column/);
  });

  test('while a run is queued the position cannot be set (409 naming the run)', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 } });
    const runId = await pull(id);
    const res = await call('PUT', `/connectors/${id}/state`, { cursor: { value: '2026-01-01T00:00:00Z', key: [1] } });
    expect(res.statusCode).toBe(409);
    expect(res.json().run_id).toBe(runId);
    await call('POST', `/connectors/${id}/runs/${runId}/cancel`);
  });
});

describe('run events', () => {
  test('started, one event per committed batch whose rows add up to the run, and the outcome; a failure carries its reason', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 7000 });
    worker();
    const done = await finished(id, await pull(id));
    const events = (await call('GET', `/connectors/${id}/runs/${done.id}/events`)).json();
    expect(events[0]).toMatchObject({ kind: 'started', detail: { mode: 'incremental', cursor: null } });
    const batches = events.filter((e: { kind: string }) => e.kind === 'batch');
    expect(batches).toHaveLength(Math.ceil(BIG / 7000));
    expect(batches.reduce((s: number, e: { detail: { rows: number } }) => s + e.detail.rows, 0)).toBe(BIG);
    expect(batches.at(-1).detail.cursor).toEqual(done.cursor_after);
    expect(events.at(-1)).toMatchObject({ kind: 'succeeded' });
    // Following a run: only the events after a given one.
    const after = (await call('GET', `/connectors/${id}/runs/${done.id}/events?after=${events[1].id}`)).json();
    expect(after[0].id).toBe(events[2].id);

    const bad = await connector({ table: 'missing_table' });
    const failed = await finished(bad, await pull(bad));
    const last = (await call('GET', `/connectors/${bad}/runs/${failed.id}/events`)).json().at(-1);
    expect(last).toMatchObject({ kind: 'failed', detail: { error_kind: 'not_found', error: failed.error } });
  });
});

describe('schema drift', () => {
  test('a column type change is recorded on the run and said in words; with schema_drift "fail" the run stops before reading', async () => {
    await source.pool.query(
      'create table drifting (id bigint primary key, name text not null, price numeric(10,2), updated_at timestamptz not null)',
    );
    await source.pool.query(
      `insert into drifting select g, 'D' || g, g, '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, 50) g`,
    );
    const id = await connector({ table: 'drifting', cursor: { column: 'updated_at', lag_seconds: 0 } });
    worker();
    expect(await finished(id, await pull(id))).toMatchObject({ status: 'succeeded', rows_read: 50, schema_changes: null });

    await source.pool.query('alter table drifting alter column price type text');
    await source.pool.query(`insert into drifting values (51, 'D51', 'n/a', '2026-02-01T00:00:00Z')`);
    const warned = await finished(id, await pull(id));
    expect(warned).toMatchObject({ status: 'succeeded', rows_read: 1 });
    expect(warned.schema_changes).toEqual([{ column: 'price', change: 'type', from: expect.stringMatching(/^numeric/), to: 'text' }]);
    expect(warned.note).toMatch(/^the source's columns changed since the last successful run: "price" numeric.* → text/);
    const drift = (await call('GET', `/connectors/${id}/runs/${warned.id}/events`))
      .json()
      .find((e: { kind: string }) => e.kind === 'schema_drift');
    expect(drift.detail).toMatchObject({ policy: 'warn', changes: warned.schema_changes });
    // Compared with the last successful run: the same columns again are no change.
    expect(await finished(id, await pull(id))).toMatchObject({ status: 'succeeded', schema_changes: null });

    expect((await call('PATCH', `/connectors/${id}`, { schema_drift: 'fail' })).statusCode).toBe(200);
    await source.pool.query('alter table drifting add column sku text, drop column price');
    await source.pool.query(`insert into drifting values (52, 'D52', '2026-03-01T00:00:00Z', 'S-52')`);
    const before = (await state(id)).cursor;
    const failed = await finished(id, await pull(id));
    expect(failed).toMatchObject({ status: 'failed', error_kind: 'config', rows_read: 0 });
    expect(failed.error).toMatch(
      /columns changed since the last successful run: added "sku" \(text\), removed "price" \(text\) - .*schema_drift/,
    );
    expect((await state(id)).cursor).toEqual(before);
    // Still failing until the policy is relaxed; then the run reads on and the change is on record.
    expect(await finished(id, await pull(id))).toMatchObject({ status: 'failed' });
    expect((await call('PATCH', `/connectors/${id}`, { schema_drift: 'allow' })).statusCode).toBe(200);
    expect(await finished(id, await pull(id))).toMatchObject({ status: 'succeeded', rows_read: 1, schema_changes: null, note: null });
    expect((await call('PATCH', `/connectors/${id}`, { schema_drift: 'sometimes' })).json().detail[0]).toMatchObject({
      loc: ['body', 'schema_drift'],
      msg: expect.stringMatching(/must be one of allow, warn, fail/),
    });
  });
});

describe('preview', () => {
  test("an unsaved body and a saved connector's next pull: the first rows as records, and predictions equal to what the pull does", async () => {
    await source.pool.query('create table previewed (id bigint primary key, name text, price int, updated_at timestamptz not null)');
    await source.pool.query(
      `insert into previewed select g, 'N' || g, g, '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, 10) g`,
    );
    const body = {
      name: 'previewed',
      connector_type: 'postgresql',
      connection_config: { dsn: source.url },
      vertical: 'previewed',
      entity_type: 'product',
      table: 'previewed',
      cursor: { column: 'updated_at', lag_seconds: 0 },
      // A row whose only change is its cursor is then unchanged.
      fields: { exclude: ['updated_at'] },
    };
    const unsaved = await call('POST', '/connectors/preview?limit=4', body);
    expect(unsaved.statusCode, unsaved.body).toBe(200);
    expect(unsaved.json().rows).toHaveLength(4);
    expect(unsaved.json().rows[0]).toEqual({
      position: 0,
      action: 'insert',
      record: { name: 'N1', source_id: '1', vertical_data: { id: 1, price: 1 } },
      row: { id: 1, name: 'N1', price: 1, updated_at: '2026-01-01T00:00:01.000000Z' },
    });
    expect((await call('GET', '/connectors')).json().map((c: { name: string }) => c.name)).not.toContain('previewed');

    const created = await call('POST', '/connectors', body);
    const id = created.json().id;
    worker();
    expect(await finished(id, await pull(id))).toMatchObject({ inserted: 10 });

    await source.pool.query(`update previewed set name = 'Renamed', updated_at = '2026-02-01T00:00:00Z' where id = 3`);
    await source.pool.query(`update previewed set updated_at = '2026-02-01T00:00:01Z' where id = 4`);
    await source.pool.query(`insert into previewed values (11, 'N11', 11, '2026-02-01T00:00:02Z'), (12, null, 12, '2026-02-01T00:00:03Z')`);
    const snapshot = async () => ({
      state: await state(id),
      runs: (await call('GET', `/connectors/${id}/runs`)).json().length,
      entities: await entities('previewed'),
      ingestions: (await t.db.pool.query('select count(*)::int as n from ingestions')).rows[0].n,
    });
    const before = await snapshot();
    const res = await call('POST', `/connectors/${id}/preview?limit=20`);
    expect(res.statusCode, res.body).toBe(200);
    const preview = res.json();
    expect(preview.cursor).toEqual(before.state.cursor);
    expect(preview.rows.map((r: { row: { id: number }; action: string }) => [r.row.id, r.action])).toEqual([
      [3, 'update'],
      [4, 'unchanged'],
      [11, 'insert'],
      [12, 'rejected'],
    ]);
    expect(preview.rows[3]).toMatchObject({
      record: null,
      problems: [expect.objectContaining({ msg: expect.stringMatching(/no usable name/) })],
    });
    expect(await snapshot()).toEqual(before); // reads only

    const next = await finished(id, await pull(id));
    expect(next).toMatchObject({ rows_read: 4 });
    expect({ inserted: next.inserted, updated: next.updated, unchanged: next.unchanged, rejected: next.rejected }).toEqual({
      inserted: preview.counts.insert,
      updated: preview.counts.update,
      unchanged: preview.counts.unchanged + preview.counts.duplicate,
      rejected: preview.counts.rejected,
    });

    const bad = await call('POST', '/connectors/preview', { ...body, name_column: 'title' });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail[0].msg).toMatch(/the mapping reads "title", which previewed does not have/);
    const typo = await call('POST', '/connectors/preview', { ...body, tabel: 'x' });
    expect(
      typo
        .json()
        .detail.map((p: { msg: string }) => p.msg)
        .join(),
    ).toMatch(/did you mean "table"/);
    const denied = await call('POST', '/connectors/preview', { ...body, connection_config: { dsn: t.db.url }, table: 'entities' });
    expect(denied.statusCode).toBe(422);
    expect(denied.json().detail[0]).toMatchObject({ loc: ['body', 'connection_config', 'dsn'], type: 'value_error.source_denied' });
  });
});

describe('backfill', () => {
  const at = async (id: number) =>
    (
      await source.pool.query(
        `select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as v from products where id = $1`,
        [id],
      )
    ).rows[0].v as string;

  test('reads from <= cursor < to alongside the position, which it leaves untouched, and resumes from its own checkpoint', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 300 });
    const vertical = await verticalOf(id);
    await call('PUT', `/connectors/${id}/state`, { cursor: { value: await at(59000), key: [59000] } });
    worker();
    await finished(id, await pull(id));
    const before = await state(id);
    expect(before.cursor).toMatchObject({ key: [BIG] });

    const runId = await pull(id, { mode: 'backfill', from: await at(1000), to: await at(2000) });
    const done = await finished(id, runId);
    expect(done).toMatchObject({ status: 'succeeded', mode: 'backfill', rows_read: 1000, inserted: 1000, backfill_from: await at(1000) });
    expect(done.cursor_after).toMatchObject({ key: [1999] });
    expect(await state(id)).toEqual(before);
    const range = (
      await t.db.pool.query(
        'select min(source_id::int) as lo, max(source_id::int) as hi, count(*)::int as n from entities where vertical = $1 and source_id::int < 59000',
        [vertical],
      )
    ).rows[0];
    expect(range).toEqual({ lo: 1000, hi: 1999, n: 1000 });
    // The schedule's next run goes on from the position as if nothing happened.
    expect(await finished(id, await pull(id))).toMatchObject({ rows_read: 0, cursor_before: before.cursor });
    const settled = await state(id);

    // Stopped after its first batch, the run's next attempt goes on from its own checkpoint: nothing read twice.
    const connectorRow = (await loadConnectorForRun(t.db.pool, testBox, id))!;
    const resumed = await createRun(t.db.pool, {
      connectorId: id,
      tenantId: connectorRow.tenantId,
      trigger: 'manual',
      mode: 'backfill',
      status: 'running',
      range: { from: await at(5000), to: await at(6000) },
    });
    const stop = new AbortController();
    const first = await runPull({
      pool: t.db.pool,
      connector: connectorRow,
      runId: resumed,
      mode: 'backfill',
      signal: stop.signal,
      onProgress: () => stop.abort(),
    });
    expect(first).toEqual({ interrupted: true, rowsRead: 300 });
    const second = await runPull({
      pool: t.db.pool,
      connector: connectorRow,
      runId: resumed,
      mode: 'backfill',
      signal: new AbortController().signal,
    });
    expect(second).toMatchObject({ interrupted: false, rowsRead: 700 });
    expect(await getRun(t.db.pool, resumed)).toMatchObject({ rows_read: 1000, inserted: 1000, cursor_after: { key: [5999] } });
    expect(await state(id)).toEqual(settled);
  });

  test('a range is required for a backfill only; a value that does not fit the cursor fails the run and says so', async () => {
    const id = await connector({ table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 } });
    const missing = await call('POST', `/connectors/${id}/pull`, { mode: 'backfill', from: '2026-01-01T00:00:00Z' });
    expect(missing.statusCode).toBe(422);
    expect(missing.json().detail).toEqual([expect.objectContaining({ loc: ['body', 'to'], type: 'value_error.missing' })]);
    const stray = await call('POST', `/connectors/${id}/pull`, { mode: 'full', to: '2026-01-01T00:00:00Z' });
    expect(stray.json().detail[0]).toMatchObject({ loc: ['body', 'to'], msg: expect.stringMatching(/add "mode": "backfill"/) });
    worker();
    const failed = await finished(id, await pull(id, { mode: 'backfill', from: 'last week', to: '2026-01-01T00:00:00Z' }));
    expect(failed).toMatchObject({ status: 'failed', error_kind: 'config', rows_read: 0 });
    expect(failed.error).toMatch(
      /^backfill from "last week" does not fit the timestamp with time zone column "updated_at" - give an ISO 8601 timestamp/,
    );
    expect((await state(id)).cursor).toBeNull();
  });
});
