import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ReadPlan, Row, SourceConnector } from '../../../connectors/contract';
import { createConnector } from '../../../connectors/registry';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

/** Runs of connectors that connect the same way read over a few kept connections; other credentials never share them. */

const ROLE = `qkept_${randomBytes(4).toString('hex')}`;
let source: TestDatabase;
let dsn: string;
let otherDsn: string;
const never = new AbortController().signal;

beforeAll(async () => {
  source = await freshDatabase('qsrc', false);
  await source.pool.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD 'kept-Pw-1'`);
  await source.pool.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)');
  await source.pool.query("INSERT INTO items SELECT g, 'i' || g FROM generate_series(1, 3) g");
  await source.pool.query(`GRANT SELECT ON items TO ${ROLE}`);
  dsn = source.url;
  const url = new URL(source.url);
  url.username = ROLE;
  url.password = 'kept-Pw-1';
  otherDsn = url.toString();
});
afterAll(async () => {
  await source?.drop();
  await source?.pool.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {});
});

/** One run of a connector: its own instance, read to the end, closed. Returns the rows. */
async function run(definition: Record<string, unknown>): Promise<Row[]> {
  const connector: SourceConnector = await createConnector({ connector_type: 'postgresql', ...definition });
  try {
    const plan: ReadPlan = { mode: 'full', cursor: null, now: await connector.clock(), lastPull: null, batchSize: 100 };
    const rows: Row[] = [];
    for await (const batch of connector.read(plan, never)) rows.push(...batch.rows);
    return rows;
  } finally {
    await connector.close();
  }
}

const backends = (dsnOf: string) => ({
  connection_config: { dsn: dsnOf },
  query:
    "SELECT pg_backend_pid() AS id, current_user || ' ' || current_setting('default_transaction_read_only') AS name FROM items LIMIT 1",
});

describe('source pools kept across runs', () => {
  test('40 runs of 20 connectors on one DSN use at most 4 connections, each still read-only; another role gets its own', async () => {
    const pids = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const [row] = await run({ ...backends(dsn), batch_size: 100 + (i % 20) });
      pids.add(Number(row!.id));
      expect(row!.name).toMatch(/ on$/);
    }
    expect(pids.size).toBeLessThanOrEqual(4);
    const [other] = await run(backends(otherDsn));
    expect(other!.name).toBe(`${ROLE} on`);
    expect(pids.has(Number(other!.id))).toBe(false);
    // Table mode on the same kept connections reads what it always read.
    expect((await run({ connection_config: { dsn }, table: 'items' })).map((r) => r.id)).toEqual([1, 2, 3]);
  });

  test('a kept connection the server ended (a restart, a terminated backend) is replaced: the next run reads', async () => {
    await run(backends(dsn));
    await source.pool.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'qanatix-connector' AND datname = current_database()",
    );
    await new Promise((r) => setTimeout(r, 200));
    const [row] = await run(backends(dsn));
    expect(row!.name).toMatch(/ on$/);
  });
});
