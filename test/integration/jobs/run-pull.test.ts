import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runPull } from '../../../jobs/run-pull';
import { getRun, type ConnectorRun } from '../../../src/store/connector-runs';
import { getConnectorState } from '../../../src/store/connector-state';
import { newRun, saveConnector } from '../../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let platform: TestDatabase;
let source: TestDatabase;
beforeAll(async () => {
  [platform, source] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false)]);
  await source.pool.query(`create table products (id bigint primary key, name text, price numeric(12,2), updated_at timestamptz not null)`);
  await source.pool.query(
    `insert into products select g, 'P' || g, g * 1.5, '2026-01-01T00:00:00Z'::timestamptz + (g / 10) * interval '1 second' from generate_series(1, 2500) g`,
  );
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

describe('runPull', () => {
  test('commits every row once, the cursor with it, and an incremental re-run reads only what changed', async () => {
    const id = await saveConnector(platform.pool, 'acme', {
      connection_config: { dsn: source.url },
      settings: { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 300 },
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
      settings: { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000 },
    });
    await pull(id);
    const resync = await pull(id, 'full');
    expect(resync.run).toMatchObject({ rows_read: 2501, inserted: 0, updated: 0, unchanged: 2501 });
    expect(await entities('full')).toHaveLength(2501);
  });

  test('an attempt stopped by its signal hands back what it read; the next attempt of the run resumes and returns the totals of both', async () => {
    const id = await saveConnector(platform.pool, 'acme', {
      vertical: 'resumed',
      connection_config: { dsn: source.url },
      settings: { table: 'products', cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000 },
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
    expect(first).toEqual({ interrupted: true, rowsRead: 1000 });
    expect(await getRun(platform.pool, runId)).toMatchObject({ rows_read: 1000, inserted: 1000 });

    const second = await runPull({ pool: platform.pool, connector, runId, mode: 'incremental', signal: new AbortController().signal });
    const run = (await getRun(platform.pool, runId))!;
    expect(second).toEqual({ interrupted: false, rowsRead: 1501, run: totals(run) });
    expect(run).toMatchObject({ rows_read: 2501, inserted: 2501, updated: 0, unchanged: 0, rejected: 0 });
    expect(await entities('resumed')).toHaveLength(2501);
    // One ingestion for the run, taken up again by its second attempt and closed with both attempts' counts.
    const { rows } = await platform.pool.query('select status, record_count::int, inserted::int from ingestions where id = $1', [
      run.ingestion_id,
    ]);
    expect(rows).toEqual([{ status: 'complete', record_count: 2501, inserted: 2501 }]);
  });
});
