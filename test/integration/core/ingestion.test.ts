import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureTenant } from '../../../src/auth/api-keys';
import { Ingestion } from '../../../src/core/ingestion';
import { registerSchema } from '../../../src/core/schema-registry';
import { upsertEntities } from '../../../src/core/upsert-entities';
import { withTransaction } from '../../../src/db/pool';
import { ingestRecordsTotal } from '../../../src/metrics';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
});
afterAll(() => db.drop());

const target = (vertical: string) => ({ tenantId, vertical, entityType: 'product' });
const records = (n: number, from = 1) => Array.from({ length: n }, (_, i) => ({ name: `p${from + i}`, source_id: String(from + i) }));

async function row(id: string) {
  const { rows } = await db.pool.query(
    `select status, record_count::int, inserted::int, updated::int, unchanged::int, duplicate_count::int, rejected::int, error_summary, completed_at
       from ingestions where id = $1`,
    [id],
  );
  return rows[0];
}

const ingestionsOf = async (vertical: string) =>
  (await db.pool.query<{ n: number }>('select count(*)::int as n from ingestions where vertical = $1', [vertical])).rows[0]!.n;

async function metric(source: string, outcome: string): Promise<number> {
  return (await ingestRecordsTotal.get()).values.find((v) => v.labels.source === source && v.labels.outcome === outcome)?.value ?? 0;
}

/** An error PostgreSQL raises when another writer made it abort a transaction that may simply run again. */
const serializationFailure = () => Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' });

describe('Ingestion', () => {
  test('a batch whose transaction is retried is counted once: in the ingestion, in its counts, in the DLQ and in the metrics', async () => {
    const ingestion = await Ingestion.open(db.pool, target('retried'), { type: 'batch' });
    const before = { inserted: await metric('batch', 'inserted'), rejected: await metric('batch', 'rejected') };
    let attempts = 0;
    const batch = await ingestion.prepare([...records(3), { source_id: 'no name' }]);
    const written = await ingestion.write(batch, {
      alongside: async () => {
        if (++attempts < 3) throw serializationFailure();
      },
    });
    expect(attempts).toBe(3);
    expect(written).toMatchObject({ records: 4, inserted: 3, rejected: 1 });
    expect(ingestion.counts).toEqual({ records: 4, inserted: 3, updated: 0, unchanged: 0, duplicates: 0, rejected: 1 });
    expect(await row(ingestion.id!)).toMatchObject({ status: 'processing', record_count: 4, inserted: 3, rejected: 1 });
    const dlq = await db.pool.query('select position from ingestion_errors where ingestion_id = $1', [ingestion.id]);
    expect(dlq.rows).toEqual([{ position: 3 }]);
    expect(await metric('batch', 'inserted')).toBe(before.inserted + 3);
    expect(await metric('batch', 'rejected')).toBe(before.rejected + 1);
    expect(await ingestion.finish()).toMatchObject({ id: ingestion.id, status: 'partial', accepted: 3 });
  });

  test('a lazy ingestion that writes nothing leaves nothing behind; one whose first batch fails leaves nothing either', async () => {
    const idle = await Ingestion.open(db.pool, target('lazy'), { type: 'connector', name: 'c' }, { lazy: true });
    expect(idle.id).toBeNull();
    expect(await idle.finish()).toBeNull();
    await idle.fail('nothing to fail');

    const failed = await Ingestion.open(db.pool, target('lazy'), { type: 'connector', name: 'c' }, { lazy: true });
    const refusal = new Error('the cursor could not be committed');
    await expect(failed.write(await failed.prepare(records(2)), { alongside: () => Promise.reject(refusal) })).rejects.toBe(refusal);
    expect(failed.id).toBeNull();
    expect(failed.counts.records).toBe(0);
    expect(await ingestionsOf('lazy')).toBe(0);
    expect((await db.pool.query("select count(*)::int as n from entities where vertical = 'lazy'")).rows[0].n).toBe(0);
  });

  test("a lazy ingestion is created by its first batch, in that batch's transaction, and its id is handed to the work alongside", async () => {
    const ingestion = await Ingestion.open(db.pool, target('first'), { type: 'connector', name: 'orders' }, { lazy: true });
    const seen: string[] = [];
    await ingestion.write(await ingestion.prepare(records(2)), {
      alongside: async (tx, _written, id) => {
        seen.push(id);
        // Visible inside the transaction that creates it.
        expect((await tx.query('select source_name from ingestions where id = $1', [id])).rows).toEqual([{ source_name: 'orders' }]);
      },
    });
    await ingestion.write(await ingestion.prepare(records(2, 3)), { alongside: async (_tx, _w, id) => void seen.push(id) });
    expect(seen).toEqual([ingestion.id, ingestion.id]);
    expect(await ingestionsOf('first')).toBe(1);
    expect(await ingestion.finish()).toMatchObject({ status: 'complete', record_count: 4, inserted: 4 });
  });

  test('a batch written beside the one that creates a lazy ingestion refers to it, and its counts wait for that one to commit', async () => {
    const ingestion = await Ingestion.open(db.pool, target('beside'), { type: 'connector', name: 'c' }, { lazy: true });
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const ids: string[] = [];
    // The first batch creates the ingestion and waits, uncommitted, after its entities.
    const first = ingestion.write(await ingestion.prepare(records(3)), {
      afterEntities: () => firstHeld,
      alongside: async (_tx, _w, id) => void ids.push(id),
    });
    // The second starts meanwhile: its entities are written, then it waits (as a pull's followBatch does) for the first.
    const second = ingestion.write(await ingestion.prepare(records(2, 4)), {
      afterEntities: async () => {
        releaseFirst();
        await first;
      },
      alongside: async (_tx, _w, id) => void ids.push(id),
    });
    await Promise.all([first, second]);
    expect(ids[0]).toBe(ids[1]);
    expect(ingestion.id).toBe(ids[0]);
    expect(await ingestionsOf('beside')).toBe(1);
    expect(await row(ingestion.id!)).toMatchObject({ record_count: 5, inserted: 5 });
  });

  test('counts for a lazy ingestion not yet committed fail their batch instead of vanishing; a batch after a failed creator creates it', async () => {
    const ingestion = await Ingestion.open(db.pool, target('unordered'), { type: 'connector', name: 'c' }, { lazy: true });
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const refusal = new Error('the first batch could not commit');
    const first = ingestion.write(await ingestion.prepare(records(3)), {
      afterEntities: async () => {
        await firstHeld;
        throw refusal;
      },
    });
    // A caller that does not wait for the creator: its counts find no ingestion, and its batch rolls back whole.
    await expect(ingestion.write(await ingestion.prepare(records(2, 4)))).rejects.toThrow(/ingestion .* does not exist/);
    releaseFirst();
    await expect(first).rejects.toBe(refusal);
    expect(ingestion.id).toBeNull();
    expect(await ingestionsOf('unordered')).toBe(0);
    expect((await db.pool.query("select count(*)::int as n from entities where vertical = 'unordered'")).rows[0].n).toBe(0);
    // The next batch creates it.
    await ingestion.write(await ingestion.prepare(records(2, 6)));
    expect(await ingestionsOf('unordered')).toBe(1);
    expect(await row(ingestion.id!)).toMatchObject({ record_count: 2, inserted: 2 });
  });

  test('an ingestion taken up again is processing until finished, and keeps the counts of both attempts', async () => {
    const first = await Ingestion.open(db.pool, target('resumed'), { type: 'connector', name: 'c' }, { lazy: true });
    await first.write(await first.prepare(records(5)));
    await first.fail('the source went away');
    expect(await row(first.id!)).toMatchObject({ status: 'failed', error_summary: { error: 'the source went away' } });

    const again = await Ingestion.open(db.pool, target('resumed'), { type: 'connector', name: 'c' }, { resume: first.id, lazy: true });
    expect(again.id).toBe(first.id);
    expect(await row(first.id!)).toMatchObject({ status: 'processing', completed_at: null });
    await again.write(await again.prepare(records(5, 4))); // 4 and 5 again: unchanged
    expect(again.counts).toMatchObject({ records: 5, inserted: 3, unchanged: 2 });
    expect(await again.finish()).toMatchObject({ status: 'complete', record_count: 10, inserted: 8, unchanged: 2 });
    expect(await ingestionsOf('resumed')).toBe(1);
  });

  test('records are checked against the schema registered for the target when they are prepared', async () => {
    await registerSchema(db.pool, tenantId, 'checked', 'product', { type: 'object', required: ['price'] });
    const ingestion = await Ingestion.open(db.pool, target('checked'), { type: 'stream' });
    const batch = await ingestion.prepare([{ name: 'a', price: 1 }, { name: 'b' }], { positions: [7, 8] });
    expect(batch.rejections).toMatchObject([{ position: 8, errorType: 'schema_validation' }]);
    await ingestion.write(batch);
    expect(await ingestion.finish()).toMatchObject({ status: 'partial', record_count: 2, rejected: 1 });
  });
  test('new entities get time-ordered ids (UUIDv7): version 7, their leading 48 bits the creation time in milliseconds, ascending across batches', async () => {
    const ingestion = await Ingestion.open(db.pool, target('ordered-ids'), { type: 'batch' });
    const before = Date.now();
    await ingestion.write(await ingestion.prepare(records(300)));
    await new Promise((r) => setTimeout(r, 5));
    await ingestion.write(await ingestion.prepare(records(300, 301)));
    const after = Date.now();
    const { rows } = await db.pool.query<{ id: string; source_id: string }>(
      "select id::text, source_id from entities where vertical = 'ordered-ids' order by source_id::int",
    );
    expect(rows).toHaveLength(600);
    for (const { id } of rows) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const ms = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
      expect(ms).toBeGreaterThanOrEqual(before - 1000); // the database clock may differ from ours by a little
      expect(ms).toBeLessThanOrEqual(after + 1000);
    }
    expect(new Set(rows.map((r) => r.id)).size).toBe(600);
    // Every id of the second batch sorts after every id of the first: the primary key grows at its right edge.
    const first = rows
      .slice(0, 300)
      .map((r) => r.id)
      .sort();
    const second = rows
      .slice(300)
      .map((r) => r.id)
      .sort();
    expect(first.at(-1)! < second[0]!).toBe(true);
  });
  test('the tenant is checked once per batch: deleting a tenant waits for a batch writing for it, then deletes its entities; a batch for a deleted tenant fails', async () => {
    const doomed = await ensureTenant(db.pool, `doomed-${Date.now()}`);
    const t = { tenantId: doomed, vertical: 'doomed', entityType: 'product' };
    const first = await Ingestion.open(db.pool, t, { type: 'batch' });
    await first.write(await first.prepare(records(50)));
    const entitiesOf = async () =>
      (await db.pool.query<{ n: number }>('select count(*)::int as n from entities where tenant_id = $1', [doomed])).rows[0]!.n;
    expect(await entitiesOf()).toBe(50);
    // No foreign key is checked per inserted row any more.
    const { rows: fks } = await db.pool.query(
      "select conname from pg_constraint where conrelid = 'entities'::regclass and contype = 'f' and confrelid = 'tenants'::regclass",
    );
    expect(fks).toEqual([]);

    // A batch in flight holds its tenant: the deletion waits for it, then takes the batch's entities with the others.
    const second = await Ingestion.open(db.pool, t, { type: 'batch' });
    const prepared = await second.prepare(records(50, 51));
    let releaseBatch!: () => void;
    const batchHeld = new Promise<void>((r) => (releaseBatch = r));
    let batchWritten!: () => void;
    const inBatch = new Promise<void>((r) => (batchWritten = r));
    const writing = second.write(prepared, {
      alongside: async () => {
        batchWritten();
        await batchHeld;
      },
    });
    await inBatch;
    let deleted = false;
    const deleting = db.pool.query('delete from tenants where id = $1', [doomed]).then(() => (deleted = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(deleted).toBe(false);
    releaseBatch();
    await writing;
    await deleting;
    expect(await entitiesOf()).toBe(0);

    const rows = [{ name: 'late', sourceId: 'late', dedupKey: 's:late', data: '{}' }];
    await expect(withTransaction(db.pool, (tx) => upsertEntities(tx, doomed, 'doomed', 'product', rows))).rejects.toThrow(
      `tenant ${doomed} no longer exists`,
    );
    expect(await entitiesOf()).toBe(0);
  });
});
