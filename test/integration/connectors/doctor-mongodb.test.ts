import { randomUUID } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serviceUrl } from '../../helpers/service-url';
import { doctor } from './doctor-report';

/** Each doctor check on the MongoDB wire (FerretDB here): a collection that passes, and for each check one built to trip it. */

const DATABASE = `qdoctor_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let client: MongoClient;
let db: Db;
const HOUR = 3600_000;

/** A collection of `docs` documents ({_id, name, updated_at}) an hour old, one second apart; `indexed`: {updated_at: 1, _id: 1}. */
async function collection(name: string, docs: number, indexed = true) {
  const base = Date.now() - HOUR;
  await db
    .collection(name)
    .insertMany(
      Array.from({ length: docs }, (_, i) => ({ _id: i + 1, name: `n${i + 1}`, updated_at: new Date(base + (i + 1) * 1000) })) as never,
    );
  if (indexed) await db.collection(name).createIndex({ updated_at: 1, _id: 1 }, { name: `${name}_order` });
}

const def = (extra: Record<string, unknown>) => ({
  connector_type: 'mongodb',
  connection_config: { uri: serviceUrl('mongo'), database: DATABASE },
  cursor: { column: 'updated_at' },
  batch_size: 10,
  ...extra,
});

beforeAll(async () => {
  client = new MongoClient(serviceUrl('mongo'));
  db = client.db(DATABASE);
  await collection('good', 300);
  await collection('bare', 50, false);
  await collection('bursty', 40);
  await db.collection('bursty').updateMany({ _id: { $gt: 5 } } as never, { $set: { updated_at: new Date(Date.now() - 2 * HOUR) } });
  await collection('holes', 20);
  await db.collection('holes').updateMany({ _id: { $in: [4, 8] } } as never, { $set: { updated_at: null } });
  await db.collection('holes').updateMany({ _id: { $in: [12, 16, 20] } } as never, { $unset: { updated_at: '' } });
  await collection('ahead', 20);
  for (const id of [18, 19, 20]) {
    await db.collection('ahead').updateOne({ _id: id } as never, { $set: { updated_at: new Date(Date.now() + 2 * HOUR + id * 1000) } });
  }
  await collection('fresh', 20);
  await db.collection('fresh').updateMany({ _id: { $gt: 13 } } as never, { $set: { updated_at: new Date() } });
});
afterAll(async () => {
  await db?.dropDatabase();
  await client?.close();
});

describe('the doctor on MongoDB', () => {
  test('an indexed collection with settled, distinct, past cursors passes every check but the one the server cannot answer', async () => {
    const d = await doctor(def({ table: 'good' }));
    for (const name of ['cursor_index', 'equal_cursor_run', 'null_cursors', 'future_cursors', 'held_back', 'resync_estimate'] as const) {
      expect(d.check(name), d.check(name).detail).toMatchObject({ verdict: 'ok', fix: null });
    }
    expect(d.check('cursor_index').detail).toContain('"good_order"');
    expect(d.check('resync_estimate').detail).toMatch(/about 300 rows \(estimatedDocumentCount/);
    // Without access control the server names no user: the doctor says it cannot tell, rather than guessing.
    const privileges = d.check('privileges');
    if (privileges.verdict === 'skipped') expect(privileges.detail).toContain('names no authenticated user');
    else expect(privileges.verdict).toBe('ok');
    expect(d.report.verdict).toBe('ok');
  });

  test('no index serving (cursor, _id): warn with the createIndex call for that collection and those fields', async () => {
    const c = (await doctor(def({ table: 'bare' }))).check('cursor_index');
    expect(c.verdict).toBe('warn');
    expect(c.fix).toBe('db.getCollection("bare").createIndex({ "updated_at": 1, "_id": 1 })');
  });

  test('a run of equal cursor values longer than batch_size: warn naming the field; the where filter scopes the count', async () => {
    const c = (await doctor(def({ table: 'bursty' }))).check('equal_cursor_run');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/35 rows share "updated_at" = "\d{4}-.*Z" \(batch_size 10\)/);
    expect(c.fix).toContain('(updated_at, _id)');
    const scoped = (await doctor(def({ table: 'bursty', where: { _id: { $gt: 33 } } }))).check('equal_cursor_run');
    expect(scoped).toMatchObject({ verdict: 'ok', fix: null });
    expect(scoped.detail).toContain('7 rows share');
  });

  test('NULL and missing cursors: warn with their count and the field to fill', async () => {
    const c = (await doctor(def({ table: 'holes' }))).check('null_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toContain('5 rows of collection "holes" have a NULL "updated_at"');
    expect(c.fix).toContain('give "updated_at" a value on every row');
  });

  test("cursor values after the server's clock: warn with the count and how far ahead", async () => {
    const c = (await doctor(def({ table: 'ahead' }))).check('future_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^3 rows have "updated_at" later than the source clock .*, 72\d\d s ahead/);
  });

  test('documents inside the lag window: warn with their count', async () => {
    const c = (await doctor(def({ table: 'fresh' }))).check('held_back');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^7 rows changed within the lag window \(60 s/);
  });
});
