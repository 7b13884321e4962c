import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureTenant } from '../../../src/auth/api-keys';
import { prepareBatch } from '../../../src/core/ingest';
import { Ingestion } from '../../../src/core/ingestion';
import { JsonText } from '../../../src/core/json-text';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
});
afterAll(() => db.drop());

/** Keys repeated across the steps, refused records in each, key-less ones, JSON texts spliced and parsed. */
function records(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => {
    if (i % 97 === 13) return { source_id: String(i) }; // no name: refused
    if (i % 89 === 7) return { name: `p${i}`, source_id: String(i), vertical_data: { __proto__: 1 } };
    if (i % 50 === 3) return { name: `keyless ${i % 7}`, i: i % 7 };
    const doc = i % 3 ? new JsonText(`{"a": ${i}, "b": [1.50, "x"]}`) : new JsonText('{"__proto__": 1}');
    return { name: `p${i}`, source_id: String(i % 700), vertical_data: { i, doc } };
  });
}

test("an ingestion prepares a batch in steps, giving the thread back between them, into exactly prepareBatch's batch", async () => {
  const ingestion = await Ingestion.open(db.pool, { tenantId, vertical: 'steps', entityType: 'product' }, { type: 'connector' });
  const n = 2_345;
  const positions = Array.from({ length: n }, (_, i) => 1000 + 2 * i);
  const refused = [{ position: 7, raw: { a: new JsonText('{"x": 1}') }, errorType: 'invalid_record' as const, problems: [] }];
  const expected = prepareBatch(records(n), null, { positions, refused });
  expect(expected.duplicates).toBeGreaterThan(500);
  expect(expected.rejections.length).toBeGreaterThan(40);

  let turns = 0;
  let preparing = true;
  const other = () => {
    if (!preparing) return;
    turns++;
    setImmediate(other);
  };
  setImmediate(other);
  const got = await ingestion.prepare(records(n), { positions, refused });
  preparing = false;
  expect(got).toEqual(expected);
  // Other work ran between the steps (500 records each), not only before or after.
  expect(turns).toBeGreaterThanOrEqual(4);
});
