import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fireJobId, schedulerId } from '../../../jobs/pull-queue';
import { openPull, succeedEmptyPull } from '../../../src/store/pull-progress';
import { connectorAndRunOfFire } from '../../../src/store/schedule-fires';
import { saveConnector, testBox } from '../../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

/**
 * The statements every scheduled run sends are prepared once per connection. A prepared statement must keep working
 * when the tables under it change (a migration run while workers hold their connections): PostgreSQL plans it again,
 * and none of these returns a row type that a new column would change.
 */

let db: TestDatabase;
let client: pg.Client;
let connectorId: string;
let tenantId: string;

beforeAll(async () => {
  db = await freshDatabase();
  connectorId = await saveConnector(db.pool, 'prepared', {
    connection_config: { dsn: 'postgres://u:p@127.0.0.1:1/x' },
    settings: { table: 'items' },
  });
  tenantId = (await db.pool.query('select tenant_id from connectors where id = $1', [connectorId])).rows[0].tenant_id as string;
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await db?.drop();
});

/** One empty scheduled run's statements, as a worker sends them, all on `client`. */
async function emptyRun(minute: number): Promise<string> {
  const fireAt = Date.UTC(2026, 0, 2, 0, minute);
  const fire = { connectorId, tenantId, jobId: fireJobId(schedulerId(connectorId), fireAt), fireAt, mode: 'incremental' as const };
  const { connector, run } = await connectorAndRunOfFire(client, testBox, fire);
  expect(connector?.id).toBe(connectorId);
  const start = await openPull(client, run!.id, connectorId, 'incremental');
  expect(start.cursor).toBeNull();
  const now = new Date(fireAt).toISOString();
  const mark = { mode: 'incremental' as const, cursor: null, sourceNow: now, columns: null, drift: null };
  const totals = await succeedEmptyPull(client, run!.id, connectorId, mark, null);
  expect(totals.rows_read).toBe(0);
  return run!.id;
}

const prepared = async () =>
  (await client.query<{ name: string }>('select name from pg_prepared_statements order by name')).rows.map((r) => r.name);

describe('the statements of a scheduled run', () => {
  test('are prepared once on a connection and reused by the next runs', async () => {
    await emptyRun(0);
    const names = await prepared();
    expect(names).toEqual(['connector-and-run-of-fire', 'open-pull', 'succeed-empty-pull']);
    const { rows } = await client.query<{ name: string; generic_plans: string; custom_plans: string }>(
      'select name, generic_plans, custom_plans from pg_prepared_statements',
    );
    for (let minute = 1; minute <= 8; minute++) await emptyRun(minute);
    const after = await client.query<{ name: string; generic_plans: string; custom_plans: string }>(
      'select name, generic_plans, custom_plans from pg_prepared_statements',
    );
    // Still the same three statements, each run 9 times on this connection.
    expect(after.rows.map((r) => r.name).sort()).toEqual(names);
    for (const r of after.rows) expect(Number(r.generic_plans) + Number(r.custom_plans)).toBe(9);
    expect(rows).toHaveLength(3);
    const runs = await db.pool.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from connector_runs where connector_id = $1 group by status',
      [connectorId],
    );
    expect(runs.rows).toEqual([{ status: 'succeeded', n: 9 }]);
  });

  test('keep working on the same connection after the tables under them gained columns', async () => {
    await emptyRun(20);
    for (const table of ['connectors', 'connector_runs', 'connector_state', 'connector_run_events'])
      await db.pool.query(`alter table ${table} add column extra_${table} text default 'x'`);
    const runId = await emptyRun(21);
    const { rows } = await db.pool.query('select status, attempts from connector_runs where id = $1', [runId]);
    expect(rows).toEqual([{ status: 'succeeded', attempts: 1 }]);
    // The connector a run loads is the row as it is now (its new column included).
    const fireAt = Date.UTC(2026, 0, 2, 0, 22);
    const { connector } = await connectorAndRunOfFire(client, testBox, {
      connectorId,
      tenantId,
      jobId: fireJobId(schedulerId(connectorId), fireAt),
      fireAt,
      mode: 'incremental',
    });
    expect(connector?.connection_config).toEqual({ dsn: 'postgres://u:p@127.0.0.1:1/x' });
  });
});
