import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureTenant } from '../../../src/auth/api-keys';
import { parseExactJson } from '../../../src/core/exact-json';
import { prepareBatch } from '../../../src/core/ingest';
import { JsonText } from '../../../src/core/json-text';
import { storedHashSql, upsertEntities, type EntityRow } from '../../../src/core/upsert-entities';
import { withTransaction } from '../../../src/db/pool';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
});
afterAll(() => db.drop());

const CONNECTOR = '00000000-0000-4000-8000-00000000c0de';

/** Texts that COPY's text format gives a meaning to (its escapes, its NULL, its end marker), and JSON's own escapes. */
const HOSTILE = [
  'tab\there',
  'line\nbreak',
  'carriage\rreturn',
  'crlf\r\n',
  'back\\slash',
  '\\',
  '\\\\',
  '\\N',
  '\\.',
  '\\.\n',
  '\\t\\n',
  'end\\',
  '"quoted"',
  "it's",
  ' leading space',
  'ünïcödé ✓ 😀',
  '\u2028\u2029',
  '\u0001\u001f control',
  '{"looks":"like json"}',
  '[1,2]',
  'null',
  'a\tb\nc\\d\re',
];

/** Records built from the hostile texts in every place a record has: name, source_id, keys, values, nested, key-less. */
function records(): unknown[] {
  const out: unknown[] = HOSTILE.map((t, i) => ({
    name: `n${i} ${t}`,
    source_id: `s${i}:${t}`,
    vertical_data: { [t]: t, text: t, nested: { list: [t, i, null, true, { [t]: [t] }] }, price: i + 0.5 },
  }));
  out.push({ name: 'exact', source_id: 'exact', vertical_data: parseExactJson('{"big":12345678901234567890.5,"tiny":1e-7,"neg":-0}') });
  // A jsonb object spliced as the text PostgreSQL gave it (json-text.ts): its escapes travel as text too.
  out.push({ name: 'spliced', source_id: 'spliced', vertical_data: { doc: new JsonText('{"a": "x\\\\y\\"z", "b": [1.50, "\\t"]}') } });
  for (const t of HOSTILE.slice(0, 6)) out.push({ name: `keyless ${t}`, vertical_data: { t } });
  out.push({ name: 'empty data', source_id: 'empty' });
  return out;
}

interface Stored {
  name: string;
  source_id: string | null;
  dedup_key: string;
  data: string;
  hash: string;
  connector_id: string | null;
  deleted_at: string | null;
}

const stored = async (vertical: string) =>
  (
    await db.pool.query<Stored & { id: string; content_hash: string | null }>(
      `select id, name, source_id, dedup_key, vertical_data::text as data, ${storedHashSql('e')} as hash, content_hash, connector_id, deleted_at
         from entities e where tenant_id = $1 and vertical = $2 order by dedup_key`,
      [tenantId, vertical],
    )
  ).rows;

const write = (vertical: string, rows: EntityRow[], expectNew: boolean, ids = true) =>
  withTransaction(db.pool, async (tx) => {
    const out = await upsertEntities(tx, tenantId, vertical, 'product', rows, { connectorId: CONNECTOR, expectNew, ids });
    // Both ways stamp the new rows with the transaction's time.
    const sql = 'select count(*)::int as n from entities where vertical = $1 and created_at = now() and updated_at = now()';
    expect((await tx.query(sql, [vertical])).rows[0].n).toBe(out.inserted);
    return out;
  });

test('a batch copied in as new rows stores exactly the entities the upsert stores, however hostile its texts', async () => {
  const batch = prepareBatch(records(), null);
  expect(batch.rejections).toEqual([]);
  const t0 = Date.now();
  const copied = await write('copied', batch.rows, true);
  const t1 = Date.now();
  const upserted = await write('upserted', batch.rows, false);
  expect(copied).toMatchObject({ inserted: batch.rows.length, updated: 0 });
  expect(upserted).toMatchObject({ inserted: batch.rows.length, updated: 0 });

  const a = await stored('copied');
  const b = await stored('upserted');
  expect(a).toHaveLength(batch.rows.length);
  const same = (rows: typeof a) =>
    rows.map(({ name, source_id, dedup_key, data, hash, connector_id, deleted_at }) => ({
      name,
      source_id,
      dedup_key,
      data,
      hash,
      connector_id,
      deleted_at,
    }));
  expect(same(a)).toEqual(same(b));
  // The texts arrived as they left: each name and source_id is the record's own.
  expect(a.map((e) => e.name).sort()).toEqual(batch.rows.map((r) => r.name).sort());
  expect(a.map((e) => e.source_id).sort()).toEqual(batch.rows.map((r) => r.sourceId).sort());
  // The copy stores no hash (computed when asked, the same as the upsert's), the upsert stores it.
  expect(a.every((e) => e.content_hash === null)).toBe(true);
  expect(b.map((e) => e.content_hash)).toEqual(b.map((e) => e.hash));

  // The ids answered are the ids stored: UUIDv7, stamped with the time they were made.
  expect(new Map(a.map((e) => [e.dedup_key, e.id]))).toEqual(copied.written);
  for (const { id } of a) {
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
    expect(ms).toBeGreaterThanOrEqual(t0);
    expect(ms).toBeLessThanOrEqual(t1);
  }

  // Read again from the stored documents, neither side finds anything to change.
  const again = prepareBatch(records(), null).rows;
  for (const vertical of ['copied', 'upserted']) expect(await write(vertical, again, false)).toMatchObject({ inserted: 0, updated: 0 });
  // Copied again, the keys exist: nothing of the COPY stays, the upsert finds every row unchanged.
  expect(await write('copied', again, true, false)).toMatchObject({ inserted: 0, updated: 0 });
  expect(same(await stored('copied'))).toEqual(same(a));
});

test('a COPY that fails for another reason than an existing key fails the batch, and writes nothing', async () => {
  const rows: EntityRow[] = [{ name: 'p', sourceId: '1', dedupKey: 's:1', data: '{"not json' }];
  await expect(write('broken', rows, true)).rejects.toThrow(/json/i);
  expect(await stored('broken')).toEqual([]);
});

test('a batch of new rows for a tenant that no longer exists fails, and copies nothing', async () => {
  const rows: EntityRow[] = Array.from({ length: 30 }, (_, i) => ({ name: `p${i}`, sourceId: String(i), dedupKey: `s:${i}`, data: '{}' }));
  const gone = '00000000-0000-4000-8000-00000000dead';
  for (const ids of [true, false]) {
    await expect(
      withTransaction(db.pool, (tx) => upsertEntities(tx, gone, 'gone', 'product', rows, { expectNew: true, ids })),
    ).rejects.toThrow(`tenant ${gone} no longer exists`);
  }
  expect((await db.pool.query("select count(*)::int as n from entities where vertical = 'gone'")).rows[0].n).toBe(0);
});
