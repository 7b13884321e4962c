import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Cursor, ReadPlan, Row, SourceConnector } from '../../../connectors/contract';
import { withPostgresqlConnector } from '../../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

/**
 * The PostgreSQL source pipelines its transactions: BEGIN leaves with the first statement, COMMIT with the last. Counted
 * as the socket writes the kept connections make, and checked for what must not change: a statement that fails inside
 * (first or last) ends its transaction, the connection goes back idle and read-only, and the next run reads.
 */

let source: TestDatabase;
const never = new AbortController().signal;

beforeAll(async () => {
  source = await freshDatabase('qsrc', false);
  await source.pool.query('CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL)');
  await source.pool.query("INSERT INTO items SELECT g, 'i' || g, now() - interval '1 hour' FROM generate_series(1, 3) g");
  await source.pool.query('CREATE SEQUENCE counter');
});
afterAll(async () => {
  await source?.drop();
});

/** The writes of the sockets of pg clients (the kept source connections here) while `work` runs. */
async function writesDuring<T>(work: () => Promise<T>): Promise<{ result: T; writes: number }> {
  const proto = Socket.prototype as unknown as { _writeGeneric: (...args: unknown[]) => unknown };
  const original = proto._writeGeneric;
  let writes = 0;
  proto._writeGeneric = function (this: Socket, ...args: unknown[]) {
    if (this.remotePort === Number(new URL(source.url).port)) writes++;
    return original.apply(this, args);
  };
  try {
    return { result: await work(), writes };
  } finally {
    proto._writeGeneric = original;
  }
}

const withConnector = <T>(definition: Record<string, unknown>, work: (c: SourceConnector) => Promise<T>) =>
  withPostgresqlConnector(source.url, definition, work);

async function readAll(connector: SourceConnector, plan: ReadPlan): Promise<Row[] & { cursor?: Cursor | null }> {
  const rows: Row[] & { cursor?: Cursor | null } = [];
  for await (const batch of connector.read(plan, never)) {
    rows.push(...batch.rows);
    rows.cursor = batch.cursor;
  }
  return rows;
}

/** The states of the kept connections as the server sees them (`idle`, not `idle in transaction`). */
async function keptStates(): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 50));
  const { rows } = await source.pool.query<{ state: string }>(
    "SELECT state FROM pg_stat_activity WHERE application_name = 'qanatix-connector' AND datname = current_database()",
  );
  return rows.map((r) => r.state);
}

const tableMode = { table: 'items', cursor: { column: 'updated_at' } };
const full = (now: string): ReadPlan => ({ mode: 'full', cursor: null, now, lastPull: null, batchSize: 100 });

describe('pipelined source transactions', () => {
  test('a describe is two writes with the clock in them, a page without a tail one, an empty incremental read with its held-back count two', async () => {
    await withConnector(tableMode, async (c) => {
      const now = await c.clock(); // connects (the startup messages are not counted below)
      const described = await writesDuring(() => c.describe(full(now)));
      expect(described.writes).toBe(2);
      expect(described.result.primaryKey).toEqual(['id']);
      // The source clock, read in the describe's transaction: after the one read before it, before the one read after.
      expect(described.result.clock).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(described.result.clock! > now).toBe(true);
      expect(described.result.clock! < (await c.clock())).toBe(true);
      const page = await writesDuring(() => readAll(c, full(now)));
      expect(page.result.map((r) => r.id)).toEqual([1, 2, 3]);
      expect(page.writes).toBe(1);
      const plan: ReadPlan = { ...full(now), mode: 'incremental', cursor: page.result.cursor!, heldBackCap: 10 };
      const empty = await writesDuring(() => readAll(c, plan));
      expect(empty.result).toEqual([]);
      expect(empty.writes).toBe(2);
      // The count was read beside the page: asking for it reads nothing again.
      const held = await writesDuring(() => c.heldBack!(plan, 10));
      expect(held.writes).toBe(0);
    });
    expect(await keptStates()).toContain('idle');
    expect((await keptStates()).every((s) => s === 'idle')).toBe(true);
  });

  test("a describe's catalog statement is prepared once on a kept connection and planned once", async () => {
    const runs = 4;
    await withConnector(tableMode, async (c) => {
      for (let i = 0; i < runs; i++) expect((await c.describe()).primaryKey).toEqual(['id']);
    });
    // Read on the same kept connection (the same settings share a pool, and nothing else holds one of its connections).
    const query =
      "SELECT name, generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = 'qanatix_catalog'";
    const rows = await withConnector({ query }, (c) => readAll(c, full('2026-01-01T00:00:00.000000Z')));
    // Every run of it (these, and the reading connector's own describe) on the generic plan; none planned for its values.
    expect([...rows]).toEqual([{ name: 'qanatix_catalog', generic: expect.any(Number), custom: 0 }]);
    expect(rows[0]!.generic).toBeGreaterThanOrEqual(runs);
  });

  test('a statement that fails with the BEGIN before it, or with the COMMIT after it, leaves the connection idle and the next run reads', async () => {
    // Fails in the LIMIT 0 describe (sent with the BEGIN): a column that is not there.
    const missing = withConnector({ query: 'SELECT id, nope FROM items' }, async (c) => c.describe(full(await c.clock())));
    await expect(missing).rejects.toThrow(/nope/);
    // Fails in the page (sent with BEGIN and COMMIT): the LIMIT 0 describe never evaluates the condition, the read does.
    const failing = withConnector({ ...tableMode, where: '1 / (id - 2) > -100' }, async (c) => readAll(c, full(await c.clock())));
    await expect(failing).rejects.toThrow(/division by zero/);
    // A write pipelined behind the BEGIN still meets a read-only transaction.
    const writing = withConnector({ query: "SELECT nextval('counter') AS id" }, async (c) => readAll(c, full(await c.clock())));
    await expect(writing).rejects.toThrow(/read-only/);
    expect((await source.pool.query<{ is_called: boolean }>('SELECT is_called FROM counter')).rows[0]!.is_called).toBe(false);
    expect((await keptStates()).every((s) => s === 'idle')).toBe(true);
    const rows = await withConnector(
      {
        query:
          "SELECT id, current_setting('default_transaction_read_only') || ' ' || current_setting('transaction_read_only') AS name FROM items",
      },
      async (c) => readAll(c, full(await c.clock())),
    );
    expect(rows.map((r) => [r.id, r.name])).toEqual([
      [1, 'on on'],
      [2, 'on on'],
      [3, 'on on'],
    ]);
  });
});
