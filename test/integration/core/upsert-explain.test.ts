import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { explainUpsert } from '../../../bench/pull/explain';
import { COPY_NEW_ENTITIES_SQL } from '../../../src/core/copy-entities';
import { entitiesDocument, UPSERT_ENTITIES_SQL } from '../../../src/core/upsert-entities';
import { ensureTenant } from '../../../src/auth/api-keys';
import { Ingestion } from '../../../src/core/ingestion';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db.drop());

test("the benchmark's EXPLAIN runs the core's write statements as they are: the first load's two, the re-pull's upsert", async () => {
  const tenantId = await ensureTenant(db.pool, 'bench');
  const ingestion = await Ingestion.open(db.pool, { tenantId, vertical: 'profile', entityType: 'src' }, { type: 'batch' });
  await ingestion.write(
    await ingestion.prepare(Array.from({ length: 300 }, (_, i) => ({ name: `p${i}`, source_id: String(i), price: i }))),
  );
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const plans = await explainUpsert(client, tenantId, 'profile', 'src', 200);
    // A label, then its plan in a fenced block.
    const section = (label: string) => {
      const at = plans.indexOf(label);
      return at < 0 ? '' : plans.slice(at, plans.indexOf('\n```', plans.indexOf('```', at) + 3));
    };
    const [firstBatch, laterBatches, rePull] = [
      section("new rows (a first load's first batch: upsert), 200 rows"),
      section("new rows (a first load's later batches: COPY), 200 rows"),
      section('unchanged rows (re-pull: upsert), 200 rows'),
    ];
    // New rows are inserted, unchanged ones conflict and are left alone; the later batches are copied in (timed: no plan).
    expect(firstBatch).toMatch(/Insert on entities e[\s\S]*Conflict Arbiter Indexes: entities_dedup[\s\S]*Tuples Inserted: 200/);
    expect(laterBatches).toContain(`${COPY_NEW_ENTITIES_SQL}\n200 rows in `);
    expect(rePull).toMatch(/Tuples Inserted: 0\n\s*Conflicting Tuples: 200/);
    // The explained transactions rolled back.
    const { rows } = await db.pool.query<{ n: number }>('select count(*)::int as n from entities');
    expect(rows[0]!.n).toBe(300);
  } finally {
    await client.end();
  }
});

test("a batch of several MB is unpacked in memory: the default work_mem would spill it to a temporary file, the batch's doesn't", async () => {
  const tenantId = await ensureTenant(db.pool, 'big');
  const ingestion = await Ingestion.open(db.pool, { tenantId, vertical: 'big', entityType: 'src' }, { type: 'batch' });
  const text = 'x'.repeat(3000);
  await ingestion.write(await ingestion.prepare(Array.from({ length: 2000 }, (_, i) => ({ name: `p${i}`, source_id: String(i), text }))));
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const doc = entitiesDocument(
      Array.from({ length: 2000 }, (_, i) => ({ name: `p${i}`, sourceId: String(i), dedupKey: `s:${i}`, data: JSON.stringify({ text }) })),
    );
    await client.query('begin');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, costs off) ${UPSERT_ENTITIES_SQL}`, [
      tenantId,
      'big',
      'other',
      doc,
      null,
    ]);
    await client.query('rollback');
    expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/temp read=\d+ written=\d+/);
    const plans = await explainUpsert(client, tenantId, 'big', 'src', 2000);
    expect(plans).toContain('rows=2000');
    expect(plans).not.toMatch(/temp (read|written)/);
  } finally {
    await client.end();
  }
});
