import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureTenant } from '../../../src/auth/api-keys';
import { upsertEntities, type EntityRow } from '../../../src/core/upsert-entities';
import { withTransaction } from '../../../src/db/pool';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
});
afterAll(() => db.drop());

const rowsOf = (ids: number[], tag: string): EntityRow[] =>
  ids.map((i) => ({ name: `p${i}`, sourceId: String(i), dedupKey: `s:${i}`, data: JSON.stringify({ i, tag, pad: 'x'.repeat(200) }) }));
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

test.each([
  ['copied in as new rows (a first load)', true],
  ['upserted', false],
])('entities %s leave room on their pages: changing them later is a HOT update, with no new index entry', async (_how, expectNew) => {
  const entityType = expectNew ? 'copied' : 'upserted';
  const write = (rows: EntityRow[], connectorId: string | null = null) =>
    withTransaction(db.pool, async (tx) => {
      // The backend's not yet reported counts (this transaction's and maybe earlier ones'): updated tuples, and of them
      // those PostgreSQL wrote on the same page (HOT). Their change across the upsert is the upsert's.
      const counts = async () =>
        (
          await tx.query<{ updates: number; hot: number }>(
            `select pg_stat_get_xact_tuples_updated('entities'::regclass)::int as updates,
                    pg_stat_get_xact_tuples_hot_updated('entities'::regclass)::int as hot`,
          )
        ).rows[0]!;
      const before = await counts();
      const outcome = await upsertEntities(tx, tenantId, 'hot', entityType, rows, { connectorId, expectNew, ids: false });
      const after = await counts();
      return { ...outcome, updates: after.updates - before.updates, hot: after.hot - before.hot };
    });
  // Enough rows to fill many pages; with no free space each page would be full.
  expect(await write(rowsOf(range(1, 2000), 'first'))).toMatchObject({ inserted: 2000, updated: 0, updates: 0 });
  // One entity in fifty changed, spread over the table, as an incremental run finds them.
  const changed = range(1, 2000).filter((i) => i % 50 === 0);
  const second = await write(rowsOf(changed, 'second'));
  expect(second).toMatchObject({ inserted: 0, updated: changed.length, updates: changed.length, hot: changed.length });
  const { rows } = await db.pool.query<{ n: number }>(
    "select count(*)::int as n from entities where entity_type = $1 and vertical_data->>'tag' = 'second'",
    [entityType],
  );
  expect(rows[0]!.n).toBe(changed.length);
});
