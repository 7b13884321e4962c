import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ReadPlan } from '../../../connectors/contract';
import { createConnector } from '../../../connectors/registry';
import { LockLostError, tryLockConnector } from '../../../jobs/connector-lock';
import { runPull } from '../../../jobs/run-pull';
import { getRun, type ConnectorRun } from '../../../src/store/connector-runs';
import { getConnectorState } from '../../../src/store/connector-state';
import { newRun, saveConnector } from '../../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let platform: TestDatabase;
let source: TestDatabase;
beforeAll(async () => {
  [platform, source] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false)]);
});
afterAll(() => Promise.all([platform.drop(), source.drop()]));

const entities = async (vertical = 'src') =>
  (
    await platform.pool.query<{ source_id: string; name: string; price: string }>(
      `select source_id, name, vertical_data->>'price' as price from entities where vertical = $1 order by source_id::bigint`,
      [vertical],
    )
  ).rows;

async function pull(connectorId: string, mode: 'incremental' | 'full' = 'incremental') {
  const { connector, runId } = await newRun(platform.pool, connectorId, mode);
  const outcome = await runPull({ pool: platform.pool, connector, runId, mode, signal: new AbortController().signal });
  return { outcome, run: (await getRun(platform.pool, runId))! };
}

/** The part of a run row that runPull hands back when the source is exhausted. */
const totals = ({
  rows_held_back,
  held_back_until,
  rows_read,
  inserted,
  updated,
  unchanged,
  rejected,
  deleted,
  undeleted,
  verify,
  cursor_after,
  source_started_at,
}: ConnectorRun) => ({
  rows_held_back,
  held_back_until,
  rows_read,
  inserted,
  updated,
  unchanged,
  rejected,
  deleted,
  undeleted,
  verify,
  cursor_after,
  source_started_at,
});

/** A products table of 2,500 rows that only the calling test reads and changes. */
async function productsTable(name: string): Promise<string> {
  await source.pool.query(`create table ${name} (id bigint primary key, name text, price numeric(12,2), updated_at timestamptz not null)`);
  await source.pool.query(
    `insert into ${name} select g, 'P' || g, g * 1.5, '2026-01-01T00:00:00Z'::timestamptz + (g / 10) * interval '1 second' from generate_series(1, 2500) g`,
  );
  return name;
}

describe('runPull', () => {
  test('commits every row once, the cursor with it, and an incremental re-run reads only what changed', async () => {
    const id = await saveConnector(platform.pool, 'acme', {
      connection_config: { dsn: source.url },
      settings: { table: await productsTable('products'), cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 300 },
    });
    const first = await pull(id);
    expect(first.outcome).toEqual({ interrupted: false, rowsRead: 2500, run: totals(first.run) });
    expect(first.run).toMatchObject({ rows_read: 2500, inserted: 2500, updated: 0, rejected: 0 });
    expect(await entities()).toHaveLength(2500);
    const state = await getConnectorState(platform.pool, id);
    expect(state.cursor).toEqual(first.run.cursor_after);
    expect(state.last_pull).toBe(first.run.source_started_at);

    await source.pool.query(`update products set price = price + 1, updated_at = '2026-06-01T00:00:00.000001Z' where id in (7, 8)`);
    await source.pool.query(`insert into products values (2501, 'new', 1, '2026-06-01T00:00:00.000001Z')`);
    const second = await pull(id);
    expect(second.run).toMatchObject({ rows_read: 3, inserted: 1, updated: 2 });
    const rows = await entities();
    expect(rows).toHaveLength(2501);
    expect(rows.find((r) => r.source_id === '7')?.price).toBe('11.50');

    const third = await pull(id);
    expect(third.run).toMatchObject({ rows_read: 0 });
  });

  test('a full resync reads everything again and duplicates nothing', async () => {
    const id = await saveConnector(platform.pool, 'acme', {
      vertical: 'full',
      connection_config: { dsn: source.url },
      settings: { table: await productsTable('products_full'), cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000 },
    });
    await pull(id);
    const resync = await pull(id, 'full');
    expect(resync.run).toMatchObject({ rows_read: 2500, inserted: 0, updated: 0, unchanged: 2500 });
    expect(await entities('full')).toHaveLength(2500);
  });

  test('an attempt stopped by its signal hands back what it read; the next attempt of the run resumes and returns the totals of both', async () => {
    const id = await saveConnector(platform.pool, 'acme', {
      vertical: 'resumed',
      connection_config: { dsn: source.url },
      settings: { table: await productsTable('products_resumed'), cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000 },
    });
    const { connector, runId } = await newRun(platform.pool, id);
    const stop = new AbortController();
    const first = await runPull({
      pool: platform.pool,
      connector,
      runId,
      mode: 'incremental',
      signal: stop.signal,
      onProgress: () => stop.abort(),
    });
    // Stopped once its first batch committed: the batch being written beside it (when the read had got that far) commits too.
    expect(first.interrupted).toBe(true);
    const committed = first.rowsRead;
    expect([1000, 2000]).toContain(committed);
    expect(await getRun(platform.pool, runId)).toMatchObject({ rows_read: committed, inserted: committed });
    // An attempt whose signal is aborted before it reads anything is interrupted too, never a run read to its end.
    const stopped = await runPull({ pool: platform.pool, connector, runId, mode: 'incremental', signal: AbortSignal.abort() });
    expect(stopped).toEqual({ interrupted: true, rowsRead: 0 });
    expect(await getRun(platform.pool, runId)).toMatchObject({ rows_read: committed, inserted: committed });

    const second = await runPull({ pool: platform.pool, connector, runId, mode: 'incremental', signal: new AbortController().signal });
    const run = (await getRun(platform.pool, runId))!;
    expect(second).toEqual({ interrupted: false, rowsRead: 2500 - committed, run: totals(run) });
    expect(run).toMatchObject({ rows_read: 2500, inserted: 2500, updated: 0, unchanged: 0, rejected: 0 });
    expect(await entities('resumed')).toHaveLength(2500);
    // One ingestion for the run, taken up again by its second attempt and closed with both attempts' counts.
    const { rows } = await platform.pool.query('select status, record_count::int, inserted::int from ingestions where id = $1', [
      run.ingestion_id,
    ]);
    expect(rows).toEqual([{ status: 'complete', record_count: 2500, inserted: 2500 }]);
  });
});

describe('runPull: two batches written at once, committed in read order', () => {
  beforeAll(async () => {
    await source.pool.query(`create table parts (id bigint primary key, name text, updated_at timestamptz not null)`);
    await source.pool.query(
      `insert into parts select g, 'part ' || g, '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 second' from generate_series(1, 2000) g`,
    );
    // Every upsert statement is counted (a sequence: rolled back statements count too) and logged with its backend and its span.
    await platform.pool.query(`create sequence upserts_started;
      create table upsert_spans (pid int, started timestamptz, ended timestamptz);
      create table fail_on (source_id text primary key);
      create function upsert_started() returns trigger language plpgsql as $$
        begin perform nextval('upserts_started'); perform pg_sleep(0.05); return null; end $$;
      create function upsert_ended() returns trigger language plpgsql as $$
        begin insert into upsert_spans values (pg_backend_pid(), statement_timestamp(), clock_timestamp()); return null; end $$;
      create function fail_on_row() returns trigger language plpgsql as $$
        begin
          if exists (select from fail_on where source_id = new.source_id) then
            perform pg_sleep(0.3);
            raise exception 'entity % refused by the test', new.source_id;
          end if;
          return new;
        end $$;`);
  });
  /** Upsert statements started so far, committed or not. */
  const started = async () =>
    (await platform.pool.query<{ n: number }>('select (case when is_called then last_value else 0 end)::int as n from upserts_started'))
      .rows[0]!.n;
  const connectorOn = (vertical: string) =>
    saveConnector(platform.pool, 'acme', {
      vertical,
      connection_config: { dsn: source.url },
      settings: { table: 'parts', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 100 },
    });
  const withTriggers = async <T>(fn: () => Promise<T>): Promise<T> => {
    await platform.pool.query(`create trigger t_started before insert on entities for each statement execute function upsert_started();
      create trigger t_ended after insert on entities for each statement execute function upsert_ended();
      create trigger t_fail before insert on entities for each row execute function fail_on_row();`);
    try {
      return await fn();
    } finally {
      await platform.pool.query('drop trigger t_started on entities; drop trigger t_ended on entities; drop trigger t_fail on entities');
    }
  };

  test('the upserts of two batches run at the same time on two connections, and every row is committed once with its cursor', async () => {
    const id = await connectorOn('overlap');
    await platform.pool.query('truncate upsert_spans');
    const before = await started();
    const { outcome, run } = await withTriggers(() => pull(id));
    // One upsert per batch: no batch was run again (the two never deadlocked on the run's own rows).
    expect((await started()) - before).toBe(20);
    expect(outcome).toEqual({ interrupted: false, rowsRead: 2000, run: totals(run) });
    expect(run).toMatchObject({ rows_read: 2000, inserted: 2000, updated: 0, unchanged: 0, rejected: 0 });
    expect(run.cursor_after).toEqual({ value: '2026-01-01T00:33:20.000000Z', key: [2000] });
    expect((await getConnectorState(platform.pool, id)).cursor).toEqual(run.cursor_after);
    const { rows } = await platform.pool.query<{ n: number; distinct: number }>(
      `select count(*)::int as n, count(distinct source_id)::int as distinct from entities where vertical = 'overlap'`,
    );
    expect(rows[0]).toEqual({ n: 2000, distinct: 2000 });
    const { rows: overlaps } = await platform.pool.query<{ n: number }>(
      `select count(*)::int as n from upsert_spans a join upsert_spans b on a.pid < b.pid and a.started < b.ended and b.started < a.ended`,
    );
    expect(overlaps[0]!.n).toBeGreaterThan(0);
  });

  test('when a batch fails for good, the batch written beside it rolls back: the committed rows and cursor are a prefix, and the next attempt completes it once', async () => {
    const id = await connectorOn('failing');
    await platform.pool.query(`insert into fail_on values ('1450')`);
    const { connector, runId } = await newRun(platform.pool, id);
    const before = await started();
    await expect(
      withTriggers(() => runPull({ pool: platform.pool, connector, runId, mode: 'incremental', signal: new AbortController().signal })),
    ).rejects.toThrow(/entity 1450 refused by the test/);
    const upserts = (await started()) - before;

    // Batches 1–14 (rows 1–1400) committed; batch 15 (rows 1401–1500) failed; batch 16 was being written beside it.
    expect(upserts).toBeGreaterThanOrEqual(16);
    const committed = await platform.pool.query<{ n: number; max: number }>(
      `select count(*)::int as n, max(source_id::int)::int as max from entities where vertical = 'failing'`,
    );
    expect(committed.rows[0]).toEqual({ n: 1400, max: 1400 });
    expect((await getConnectorState(platform.pool, id)).cursor).toEqual({ value: '2026-01-01T00:23:20.000000Z', key: [1400] });
    expect(await getRun(platform.pool, runId)).toMatchObject({ rows_read: 1400, inserted: 1400 });

    await platform.pool.query('delete from fail_on');
    const second = await runPull({ pool: platform.pool, connector, runId, mode: 'incremental', signal: new AbortController().signal });
    expect(second).toMatchObject({ interrupted: false, rowsRead: 600 });
    expect(await getRun(platform.pool, runId)).toMatchObject({ rows_read: 2000, inserted: 2000, updated: 0, unchanged: 0 });
    const all = await platform.pool.query<{ n: number; distinct: number }>(
      `select count(*)::int as n, count(distinct source_id)::int as distinct from entities where vertical = 'failing'`,
    );
    expect(all.rows[0]).toEqual({ n: 2000, distinct: 2000 });
  });
});

describe('runPull: a run that finds nothing new', () => {
  const events = async (runId: string) =>
    (await platform.pool.query<{ kind: string }>('select kind from connector_run_events where run_id = $1 order by id', [runId])).rows.map(
      (e) => e.kind,
    );

  test('ends succeeded in its last statement: the next :last_pull, the held-back rows and the outcome, with no ingestion', async () => {
    const table = await productsTable('products_quiet');
    const id = await saveConnector(platform.pool, 'acme', {
      vertical: 'quiet',
      connection_config: { dsn: source.url },
      settings: { table, cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000 },
    });
    const first = await pull(id);
    expect(first.outcome).not.toHaveProperty('succeeded');
    expect(first.run.status).toBe('running'); // a run that wrote rows leaves its outcome to its job

    const quiet = await pull(id);
    expect(quiet.outcome).toEqual({
      interrupted: false,
      rowsRead: 0,
      run: totals(quiet.run),
      succeeded: { durationMs: quiet.run.duration_ms },
    });
    expect(quiet.run).toMatchObject({ status: 'succeeded', error: null, rows_read: 0, ingestion_id: null, rows_held_back: 0 });
    expect(quiet.run.finished_at).not.toBeNull();
    expect(quiet.run.cursor_after).toEqual(first.run.cursor_after);
    expect((await getConnectorState(platform.pool, id)).last_pull).toBe(quiet.run.source_started_at);
    expect(await events(quiet.run.id)).toEqual(['started', 'succeeded']);

    // A row the lag window holds back (its cursor is past the source clock) is counted, with its event, in the same statement.
    await source.pool.query(`insert into ${table} values (9001, 'later', 1, now() + interval '1 hour')`);
    const held = await pull(id);
    expect(held.run).toMatchObject({ status: 'succeeded', rows_read: 0, ingestion_id: null, rows_held_back: 1 });
    expect(held.run.held_back_until).not.toBeNull();
    expect(await events(held.run.id)).toEqual(['started', 'held_back', 'succeeded']);
  });

  test('whose lock was lost fails with LockLostError and records nothing of its end: its next attempt ends it', async () => {
    const id = await saveConnector(platform.pool, 'acme', {
      vertical: 'lost',
      connection_config: { dsn: source.url },
      settings: { table: await productsTable('products_lost'), cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000 },
    });
    await pull(id);
    const before = await getConnectorState(platform.pool, id);
    const { connector, runId } = await newRun(platform.pool, id);
    const attempt = async () => {
      const lock = (await tryLockConnector(platform.pool, id))!;
      return {
        lock,
        pull: () => runPull({ pool: platform.pool, connector, runId, mode: 'incremental', signal: new AbortController().signal, lock }),
      };
    };

    // The session holding the lock ends (a platform restart, an operator): the run must not end as if it held it.
    const lost = await attempt();
    try {
      // Waits until the backend has exited, so its locks are gone.
      await platform.pool.query('select pg_terminate_backend($1, 10000)', [lost.lock.held.pid]);
      await expect(lost.pull()).rejects.toBeInstanceOf(LockLostError);
    } finally {
      await lost.lock.release();
    }
    const run = (await getRun(platform.pool, runId))!;
    expect(run).toMatchObject({ status: 'running', finished_at: null, rows_held_back: null });
    expect(await getConnectorState(platform.pool, id)).toMatchObject({ last_pull: before.last_pull, cursor: before.cursor });
    expect(await events(runId)).toEqual(['started']);

    const next = await attempt();
    try {
      expect(await next.pull()).toMatchObject({ interrupted: false, rowsRead: 0, succeeded: {} });
    } finally {
      await next.lock.release();
    }
    const ended = (await getRun(platform.pool, runId))!;
    expect(ended).toMatchObject({ status: 'succeeded', attempts: 2, source_started_at: run.source_started_at });
    expect((await getConnectorState(platform.pool, id)).last_pull).toBe(run.source_started_at);
    expect(await events(runId)).toEqual(['started', 'started', 'succeeded']);
  });
});

describe('the lag window counted beside the read', () => {
  test("a read asked for it counts the held-back rows in its last page's transaction; heldBack of that plan answers from it", async () => {
    const table = await productsTable('products_held');
    await source.pool.query(
      `insert into ${table} select g, 'later', 1, now() + interval '1 hour' + g * interval '1 second' from generate_series(3001, 3007) g`,
    );
    // 2,500 rows in pages of 500: the last page is empty, and still counts.
    for (const batch_size of [1000, 500]) {
      const connector = await createConnector({
        connector_type: 'postgresql',
        connection_config: { dsn: source.url },
        table,
        cursor: { column: 'updated_at', lag_seconds: 0 },
        batch_size,
      });
      try {
        const plan: ReadPlan = {
          mode: 'incremental',
          cursor: null,
          now: await connector.clock(),
          lastPull: null,
          batchSize: batch_size,
          heldBackCap: 5,
        };
        let rows = 0;
        for await (const batch of connector.read(plan, new AbortController().signal)) rows += batch.rows.length;
        expect(rows).toBe(2500);
        // A row that arrives after the read is not in the read's count; a count of its own (another plan) sees it.
        await source.pool.query(`insert into ${table} values (${3100 + batch_size}, 'later still', 1, now() + interval '2 hours')`);
        const first = (await source.pool.query<{ at: string }>(`select min(updated_at) as at from ${table} where id > 3000`)).rows[0]!.at;
        const counted = await connector.heldBack!(plan, 5);
        expect(counted).toEqual({ rows: 5, first: expect.any(String) });
        expect(new Date(counted!.first as string).getTime()).toBe(new Date(first).getTime());
        const separate = await connector.heldBack!({ ...plan, heldBackCap: undefined }, 20);
        expect(separate?.rows).toBe(7 + (batch_size === 1000 ? 1 : 2));
      } finally {
        await connector.close();
      }
    }
  });
});
