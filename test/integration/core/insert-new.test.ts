import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureTenant } from '../../../src/auth/api-keys';
import { getEntity } from '../../../src/core/entities';
import { COPY_NEW_ENTITIES_SQL } from '../../../src/core/copy-entities';
import { driftOf } from '../../../src/core/entity-sweep';
import { parseExactJson } from '../../../src/core/exact-json';
import { prepareBatch } from '../../../src/core/ingest';
import { Ingestion } from '../../../src/core/ingestion';
import {
  contentHashSql,
  LOCK_TENANT_SQL,
  predictUpsert,
  UPSERT_ENTITIES_COUNTED_SQL,
  UPSERT_ENTITIES_SQL,
  upsertEntities,
  type EntityRow,
} from '../../../src/core/upsert-entities';
import { withTransaction, type Queryable } from '../../../src/db/pool';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
});
afterAll(() => db.drop());

const CONNECTOR = '00000000-0000-4000-8000-00000000c0de';
const rowsOf = (ids: number[], tag = 'a'): EntityRow[] =>
  ids.map((i) => ({ name: `p${i}`, sourceId: String(i), dedupKey: `s:${i}`, data: JSON.stringify({ i, tag }) }));
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

/** The statements a writer ran on a real connection, so a test can tell which write path a batch took. */
function recording(db: Queryable) {
  const statements: string[] = [];
  const q: Queryable = {
    query: ((text: string | { text: string }, values?: unknown[]) => {
      statements.push(typeof text === 'string' ? text : text.text);
      return (db.query as (t: unknown, v?: unknown) => unknown)(text, values);
    }) as Queryable['query'],
  };
  return { q, statements, took: (sql: string) => statements.filter((s) => s === sql).length };
}

const entities = async (vertical: string) =>
  (
    await db.pool.query<{ id: string; k: string; name: string; data: { tag: string }; deleted: boolean; connector_id: string | null }>(
      `select id, dedup_key as k, name, vertical_data as data, deleted_at is not null as deleted, connector_id
         from entities where tenant_id = $1 and vertical = $2 order by dedup_key`,
      [tenantId, vertical],
    )
  ).rows;

async function begin(): Promise<pg.PoolClient> {
  const c = await db.pool.connect();
  await c.query('begin');
  return c;
}

describe('a batch expected to be new', () => {
  test('all new: written by the COPY alone, every row inserted with its id, time-ordered', async () => {
    const r = recording(db.pool);
    const out = await withTransaction(db.pool, async (tx) => {
      const w = recording(tx);
      const o = await upsertEntities(w.q, tenantId, 'fresh', 'product', rowsOf(range(1, 50)), { connectorId: CONNECTOR, expectNew: true });
      r.statements.push(...w.statements);
      // The tenant lock also set the batch's work_mem, for the rest of the transaction.
      expect((await tx.query("select current_setting('work_mem') as m")).rows[0].m).toBe('64MB');
      return o;
    });
    expect(r.took(LOCK_TENANT_SQL)).toBe(1);
    expect(r.took(COPY_NEW_ENTITIES_SQL)).toBe(1);
    expect(r.took(UPSERT_ENTITIES_SQL)).toBe(0);
    expect(out).toMatchObject({ inserted: 50, updated: 0 });
    const stored = await entities('fresh');
    expect(stored).toHaveLength(50);
    expect(new Map(stored.map((e) => [e.k, e.id]))).toEqual(out.written);
    expect(stored.every((e) => e.connector_id === CONNECTOR)).toBe(true);
  });

  // Where the existing key sits in the batch (first, middle, last, all) and what it is (same content, other content,
  // soft-deleted, another connector's): the batch ends exactly as the upsert alone would have left it.
  const cases = [
    { name: 'first row exists, unchanged', existing: [1], changed: false, soft: false },
    { name: 'a middle row exists, changed', existing: [25], changed: true, soft: false },
    { name: 'the last row exists, changed', existing: [50], changed: true, soft: false },
    { name: 'every row exists, unchanged', existing: range(1, 50), changed: false, soft: false },
    { name: 'a soft-deleted row exists', existing: [10, 11], changed: false, soft: true },
  ];
  for (const c of cases) {
    test(`${c.name}: nothing of the failed insert stays, the upsert writes the batch, the counts are the upsert's`, async () => {
      const vertical = `mixed-${cases.indexOf(c)}`;
      const before = await withTransaction(db.pool, (tx) =>
        upsertEntities(tx, tenantId, vertical, 'product', rowsOf(c.existing, c.changed ? 'old' : 'a'), { connectorId: CONNECTOR }),
      );
      if (c.soft)
        await db.pool.query('update entities set deleted_at = now() where tenant_id = $1 and vertical = $2', [tenantId, vertical]);
      const ingestion = await Ingestion.open(
        db.pool,
        { tenantId, vertical, entityType: 'product', connectorId: CONNECTOR },
        { type: 'batch' },
      );
      // The ingestion's first batch is all new, so its next one is tried as a plain insert.
      const first = await ingestion.write(await ingestion.prepare([{ name: 'p1000', source_id: '1000', i: 1000, tag: 'a' }]));
      expect(first.inserted).toBe(1);
      const records = range(1, 50).map((i) => ({ name: `p${i}`, source_id: String(i), i, tag: 'a' }));
      const w = await ingestion.write(await ingestion.prepare(records));
      const fresh = 50 - c.existing.length;
      const updated = c.changed ? c.existing.length : 0;
      expect(w).toMatchObject({ records: 50, inserted: fresh, updated, unchanged: 50 - fresh - updated, undeleted: c.soft ? 2 : 0 });
      const stored = await entities(vertical);
      expect(stored).toHaveLength(51);
      expect(stored.every((e) => e.data.tag === 'a' && !e.deleted && e.connector_id === CONNECTOR)).toBe(true);
      // The existing entities kept their ids.
      for (const [k, id] of before.written) expect(stored.find((e) => e.k === k)!.id).toBe(id);
    });
  }

  test('without ids, the same statements answer counts alone: the same rows and counts, no entity rows sent back', async () => {
    // Every write path with and without ids, on the same rows: all new, then a batch of new, changed, unchanged and claimed.
    const results: Array<Record<string, unknown>> = [];
    for (const ids of [true, false]) {
      const vertical = `counted-${ids}`;
      const r = recording(db.pool);
      const write = (rows: EntityRow[], o: { connectorId?: string | null; expectNew?: boolean }) =>
        withTransaction(db.pool, async (tx) => {
          const w = recording(tx);
          const out = await upsertEntities(w.q, tenantId, vertical, 'product', rows, { ...o, ids });
          r.statements.push(...w.statements);
          return out;
        });
      const fresh = await write(rowsOf(range(1, 20)), { expectNew: true });
      expect(r.took(COPY_NEW_ENTITIES_SQL)).toBe(1);
      // Rows 1-5 changed, 6-20 unchanged but now claimed by the connector, 21-30 new; expected new, wrongly.
      const mixed = [...rowsOf(range(1, 5), 'b'), ...rowsOf(range(6, 25))];
      const second = await write(mixed, { connectorId: CONNECTOR, expectNew: true });
      expect(r.took(ids ? UPSERT_ENTITIES_SQL : UPSERT_ENTITIES_COUNTED_SQL)).toBe(1);
      expect(r.took(ids ? UPSERT_ENTITIES_COUNTED_SQL : UPSERT_ENTITIES_SQL)).toBe(0);
      expect(fresh.written.size).toBe(ids ? 20 : 0);
      expect(second.written.size).toBe(ids ? 30 : 0);
      results.push({ fresh: { ...fresh, written: undefined }, second: { ...second, written: undefined } });
      const stored = await entities(vertical);
      expect(stored).toHaveLength(30);
      expect(stored.filter((e) => e.data.tag === 'b').map((e) => e.k)).toEqual(['s:1', 's:2', 's:3', 's:4', 's:5']);
      expect(stored.filter((e) => e.connector_id === CONNECTOR)).toHaveLength(30);
    }
    expect(results[0]).toEqual({ fresh: { inserted: 20, updated: 0 }, second: { inserted: 10, updated: 20 } });
    expect(results[1]).toEqual(results[0]);
  });

  test('a key that exists first or last in a batch of many pieces: the COPY stops, the upsert writes it, the connection goes on', async () => {
    // Sorted by dedup key, s:10000 comes first and s:19999 last: the COPY fails as it starts, or after all of it was sent.
    const ids = range(10_000, 10_000);
    for (const [vertical, existing] of [
      ['first', 10_000],
      ['last', 19_999],
    ] as const) {
      await withTransaction(db.pool, (tx) => upsertEntities(tx, tenantId, vertical, 'product', rowsOf([existing], 'old')));
      const client = await db.pool.connect();
      try {
        await client.query('begin');
        const out = await upsertEntities(client, tenantId, vertical, 'product', rowsOf(ids), { expectNew: true, ids: false });
        await client.query('commit');
        expect(out).toMatchObject({ inserted: 9_999, updated: 1 });
        expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      } finally {
        client.release();
      }
      const stored = await entities(vertical);
      expect(stored).toHaveLength(10_000);
      expect(stored.every((e) => e.data.tag === 'a')).toBe(true);
    }
  });

  test("an ingestion's batches move between the plain insert and the upsert with the upsert's counts throughout", async () => {
    const ingestion = await Ingestion.open(db.pool, { tenantId, vertical: 'guess', entityType: 'product' }, { type: 'stream' });
    const batch = (ids: number[]) => ingestion.prepare(ids.map((i) => ({ name: `p${i}`, source_id: String(i) })));
    const stored = async () =>
      Number(
        (await db.pool.query<{ n: string }>("select count(*) as n from entities where tenant_id = $1 and vertical = 'guess'", [tenantId]))
          .rows[0]!.n,
      );
    expect((await ingestion.write(await batch(range(1, 10)))).inserted).toBe(10);
    // Repeats the first batch's keys: the plain insert fails, the upsert finds them unchanged.
    expect(await ingestion.write(await batch(range(1, 10)))).toMatchObject({ inserted: 0, unchanged: 10 });
    expect(await ingestion.write(await batch(range(11, 10)))).toMatchObject({ inserted: 10 });
    expect(await ingestion.write(await batch([...range(15, 10), 30]))).toMatchObject({ inserted: 5, unchanged: 6 });
    expect(await stored()).toBe(25);
  });

  test('racing an upsert of the same keys in both orders: each waits for the other, one inserts, the other finds them', async () => {
    for (const [plainFirst, ids] of [
      [true, true],
      [false, true],
      [true, false],
      [false, false],
    ]) {
      const vertical = `race-${plainFirst}-${ids}`;
      const rows = rowsOf(range(1, 200));
      const a = await begin();
      const b = await begin();
      try {
        const [early, late] = plainFirst ? [a, b] : [b, a];
        const earlyOut = await upsertEntities(early, tenantId, vertical, 'product', rows, { expectNew: early === a, ids });
        const lateOut = upsertEntities(late, tenantId, vertical, 'product', rows, { expectNew: late === a, ids });
        const waited = await Promise.race([lateOut.then(() => 'went on'), new Promise((r) => setTimeout(() => r('waits'), 300))]);
        expect(waited).toBe('waits');
        await early.query('commit');
        const lateDone = await lateOut;
        await late.query('commit');
        expect(earlyOut).toMatchObject({ inserted: 200, updated: 0 });
        // The later writer saw the committed rows: same content, so nothing inserted or rewritten.
        expect(lateDone).toMatchObject({ inserted: 0, updated: 0 });
        expect(await entities(vertical)).toHaveLength(200);
      } finally {
        a.release();
        b.release();
      }
    }
  });

  test('a plain insert stores no content hash; every later comparison is as exact as with one, and an update stores it', async () => {
    const vertical = 'lazy-hash';
    const target = { tenantId, vertical, entityType: 'product', connectorId: CONNECTOR };
    // Numbers of every kind (exact ones beyond a double, tiny, negative, zero), nesting, Unicode, an empty name part.
    const record = (i: number, o: Record<string, unknown> = {}) =>
      parseExactJson(
        JSON.stringify({
          name: `p${i} ✓`,
          source_id: String(i),
          price: 0.1 + i,
          qty: i,
          tags: [`t${i}`, { deep: [i, null, true] }],
          ...o,
        }).replace('"big":"BIG"', '"big":12345678901234567890.5'),
      );
    const rows = (records: unknown[]) => prepareBatch(records, null).rows;
    const base = (i: number) => record(i, { big: 'BIG', tiny: 1e-7, neg: -0.5, zero: 0, text: 'ünï "q" \\ /' });
    const first = Array.from({ length: 12 }, (_, i) => base(i));
    await withTransaction(db.pool, (tx) =>
      upsertEntities(tx, tenantId, vertical, 'product', rows(first), { connectorId: CONNECTOR, expectNew: true }),
    );
    const stored = async () =>
      (
        await db.pool.query<{ k: string; hash: string | null; computed: string; updated: string }>(
          `select dedup_key as k, content_hash as hash, ${contentHashSql('name', 'vertical_data')} as computed, updated_at::text as updated
             from entities where tenant_id = $1 and vertical = $2 order by dedup_key`,
          [tenantId, vertical],
        )
      ).rows;
    const before = await stored();
    expect(before.every((e) => e.hash === null)).toBe(true);

    // The entities API answers the hash the entity would have stored.
    const { rows: ids } = await db.pool.query<{ id: string }>('select id from entities where vertical = $1 order by dedup_key', [vertical]);
    for (const [i, { id }] of ids.entries()) expect((await getEntity(db.pool, tenantId, id))!.content_hash).toBe(before[i]!.computed);

    // The same records, keys in another order: nothing differs, nothing is written.
    const again = first.map((r) => Object.fromEntries(Object.entries(r as object).reverse()));
    expect(await driftOf(db.pool, target, rows(again))).toEqual([]);
    expect([...(await predictUpsert(db.pool, tenantId, vertical, 'product', rows(again))).values()].every((a) => a === 'unchanged')).toBe(
      true,
    );
    const same = await withTransaction(db.pool, (tx) =>
      upsertEntities(tx, tenantId, vertical, 'product', rows(again), { connectorId: CONNECTOR }),
    );
    expect(same).toMatchObject({ inserted: 0, updated: 0 });
    expect(await stored()).toEqual(before);

    // Each change on its own row: the name, a nested value, a number by the last digit of an exact one, a key added, one removed.
    const changed = [...first];
    changed[1] = { ...(first[1] as object), name: 'p1 ✓ renamed' };
    changed[2] = base(2);
    (changed[2] as { tags: unknown[] }).tags = ['t2', { deep: [2, null, false] }];
    changed[3] = record(3, { big: 'BIG', tiny: 1e-7, neg: -0.5, zero: 0, text: 'ünï "q" \\ /' });
    changed[3] = parseExactJson(JSON.stringify(changed[3]).replace('12345678901234567890.5', '12345678901234567890.6'));
    changed[4] = { ...(first[4] as object), extra: null };
    const { text: _dropped, ...withoutText } = first[5] as Record<string, unknown>;
    changed[5] = withoutText;
    const changedKeys = ['s:1', 's:2', 's:3', 's:4', 's:5'];
    expect((await driftOf(db.pool, target, rows(changed))).map((d) => 's:' + d.source_id)).toEqual(changedKeys);
    const predicted = await predictUpsert(db.pool, tenantId, vertical, 'product', rows(changed));
    expect(
      [...predicted]
        .filter(([, a]) => a === 'update')
        .map(([k]) => k)
        .sort(),
    ).toEqual(changedKeys);
    const written = await withTransaction(db.pool, (tx) =>
      upsertEntities(tx, tenantId, vertical, 'product', rows(changed), { connectorId: CONNECTOR }),
    );
    expect(written).toMatchObject({ inserted: 0, updated: 5 });
    const after = await stored();
    for (const [i, e] of after.entries()) {
      if (changedKeys.includes(e.k)) {
        expect(e.hash).toBe(e.computed);
        expect(e.updated).not.toBe(before[i]!.updated);
      } else expect(e).toEqual(before[i]);
    }
    // Another connector's claim is a write even when the content is the same.
    const claimed = await withTransaction(db.pool, (tx) =>
      upsertEntities(tx, tenantId, vertical, 'product', rows(changed), { connectorId: '00000000-0000-4000-8000-0000000000c1' }),
    );
    expect(claimed).toMatchObject({ inserted: 0, updated: 12 });
  });
});
