import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Cursor, ReadPlan, Row, SourceConnector } from '../../../connectors/contract';
import { pgTimestamp } from '../../../connectors/postgresql/postgresql-dialect';
import { ReadyRecord } from '../../../src/core/ready-record';
import { withPostgresqlConnector } from '../../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

/**
 * Timestamps whose year is outside 0001–9999 (BC, 1 BC, five digits): their JSON form is ISO 8601's expanded year, and a
 * cursor holding one is given back to PostgreSQL on the next read, which must take it and resume after it exactly.
 */

let source: TestDatabase;
const never = new AbortController().signal;

// In cursor order; the last two are in the past, so no lag window holds them back.
const VALUES = [
  '4713-01-01 00:00:00+00 BC',
  '0044-03-15 12:00:00.5+00 BC',
  '0044-03-15 12:00:00.5+00 BC',
  '0001-12-31 23:59:59.999999+00 BC',
  '0001-01-01 00:00:00+00',
  '1999-12-31 23:59:59.000001+00',
];
const FUTURE = ['10000-01-01 00:00:00+00', '294276-12-31 23:59:59.999999+00'];

beforeAll(async () => {
  source = await freshDatabase('qsrc', false);
  await source.pool.query(
    'CREATE TABLE events (id int PRIMARY KEY, name text NOT NULL, at timestamptz NOT NULL, local_at timestamp NOT NULL)',
  );
  for (const [i, v] of [...VALUES, ...FUTURE].entries())
    await source.pool.query("INSERT INTO events VALUES ($1, 'event ' || $1::int, $2::timestamptz, ($2::timestamptz AT TIME ZONE 'UTC'))", [
      i + 1,
      v,
    ]);
});
afterAll(async () => {
  await source?.drop();
});

const withConnector = <T>(definition: Record<string, unknown>, work: (c: SourceConnector) => Promise<T>) =>
  withPostgresqlConnector(source.url, definition, work);

/** One read per batch of one row, each resuming from the cursor the previous one committed, as separate runs would. */
async function readRowByRow(c: SourceConnector, first: ReadPlan): Promise<Row[]> {
  const rows: Row[] = [];
  let cursor: Cursor | null = first.cursor;
  for (let read = 0; read < 20; read++) {
    const batches = [];
    for await (const batch of c.read({ ...first, cursor, batchSize: 1 }, never)) {
      batches.push(batch);
      break;
    }
    if (batches.length === 0) return rows;
    rows.push(...batches[0]!.rows);
    cursor = batches[0]!.cursor;
  }
  throw new Error('more reads than rows');
}

describe('PostgreSQL timestamps beyond years 1–9999', () => {
  for (const column of ['at', 'local_at'])
    test(`a ${column} cursor resumes after BC values and 1 BC, every row once`, async () => {
      await withConnector({ table: 'events', cursor: { column, lag_seconds: 0 } }, async (c) => {
        const now = await c.clock();
        const rows = await readRowByRow(c, { mode: 'incremental', cursor: null, now, lastPull: null, batchSize: 1 });
        expect(rows.map((r) => r.id)).toEqual(VALUES.map((_, i) => i + 1));
        expect(rows[1]![column]).toMatch(/^-000043-03-15T12:00:00\.500000Z?$/);
        expect(rows[3]![column]).toMatch(/^0000-12-31T23:59:59\.999999Z?$/);
      });
    });

  test('one read in pages of two: the pages after the first, read as COPY text, carry such cursor values as literals', async () => {
    await withConnector({ table: 'events', cursor: { column: 'at', lag_seconds: 0 } }, async (c) => {
      const now = await c.clock();
      const plan: ReadPlan = { mode: 'incremental', cursor: null, now, lastPull: null, batchSize: 2, jsonText: true, readyRecords: true };
      const ids: unknown[] = [];
      let ready = 0;
      for await (const batch of c.read(plan, never))
        for (const r of batch.rows) {
          if (r instanceof ReadyRecord) ready++;
          ids.push(r instanceof ReadyRecord ? Number(r.sourceId) : r.id);
        }
      expect(ids).toEqual(VALUES.map((_, i) => i + 1));
      expect(ready).toBeGreaterThan(0);
    });
  });

  test('every JSON form of such a value, given back as a parameter, is the stored value', async () => {
    await withConnector({ table: 'events', cursor: { column: 'id' } }, async (c) => {
      const now = await c.clock();
      const rows: Row[] = [];
      for await (const batch of c.read({ mode: 'full', cursor: null, now, lastPull: null, batchSize: 100 }, never))
        rows.push(...batch.rows);
      expect(rows).toHaveLength(VALUES.length + FUTURE.length);
      expect(rows.at(-1)!.at).toBe('+294276-12-31T23:59:59.999999Z');
      for (const r of rows) {
        const { rows: same } = await source.pool.query<{ at: boolean; local_at: boolean }>(
          'SELECT at = $2::timestamptz AS at, local_at = $3::timestamp AS local_at FROM events WHERE id = $1',
          [r.id, pgTimestamp(String(r.at)), pgTimestamp(String(r.local_at))],
        );
        expect(same[0], `row ${String(r.id)}: ${String(r.at)}, ${String(r.local_at)}`).toEqual({ at: true, local_at: true });
      }
    });
  });

  test('years 0001–9999 and other text go to the server as they are', () => {
    for (const v of ['2026-01-02T03:04:05.000001Z', '2026-01-02T03:04:05', '2026-01-02T05:04:05+02:00', 'infinity', '-infinity', 'soon'])
      expect(pgTimestamp(v)).toBe(v);
  });
});
