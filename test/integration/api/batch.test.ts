import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bearer, testApi, type TestApi } from '../../helpers/api';

let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('acme', ['ingest', 'read']);
});
afterAll(() => t.close());

const post = (path: string, payload: unknown, headers: Record<string, string> = bearer(key)) =>
  t.app.inject({
    method: 'POST',
    url: `/api/v1${path}`,
    headers: { 'content-type': 'application/json', ...headers },
    payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
const get = (path: string, k = key) => t.app.inject({ method: 'GET', url: `/api/v1${path}`, headers: bearer(k) });

async function entityCount(vertical: string) {
  const { rows } = await t.db.pool.query<{ n: string }>('select count(*) as n from entities where vertical = $1', [vertical]);
  return Number(rows[0]!.n);
}

describe('POST /ingest/{vertical}/{entity_type}/batch', () => {
  test('the QANATIX example works verbatim and stores the entity', async () => {
    const res = await post('/ingest/manufacturing/product/batch', {
      records: [{ name: 'Hex bolt M8', source_id: 'custom-1', vertical_data: { field1: 'a', field2: 2 } }],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ status: 'complete', record_count: 1, inserted: 1, updated: 0, duplicate_count: 0, rejected: 0 });
    expect(body.entity_ids).toHaveLength(1);
    const entity = await get(`/entities/${body.entity_ids[0]}`);
    expect(entity.json()).toMatchObject({ name: 'Hex bolt M8', source_id: 'custom-1', vertical_data: { field1: 'a', field2: 2 } });
    expect(res.headers['x-request-id']).toMatch(/^req_[0-9a-f]{16}$/);
  });

  test('re-posting the same batch inserts nothing and counts every record unchanged; a changed field updates', async () => {
    const records = Array.from({ length: 50 }, (_, i) => ({ name: `P${i}`, source_id: `p-${i}`, price: i }));
    expect((await post('/ingest/repost/product/batch', { records })).json()).toMatchObject({ inserted: 50, updated: 0 });
    const { rows: before } = await t.db.pool.query('select id, updated_at from entities where vertical = $1 order by id', ['repost']);
    const again = (await post('/ingest/repost/product/batch', { records })).json();
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 50, duplicate_count: 50 });
    const { rows: after } = await t.db.pool.query('select id, updated_at from entities where vertical = $1 order by id', ['repost']);
    expect(after).toEqual(before); // not rewritten
    const changed = records.map((r, i) => (i < 5 ? { ...r, price: r.price + 1000 } : r));
    expect((await post('/ingest/repost/product/batch', { records: changed })).json()).toMatchObject({
      inserted: 0,
      updated: 5,
      unchanged: 45,
    });
    expect(await entityCount('repost')).toBe(50);
  });

  test('two records with one source_id in a batch: the last wins, the first counts as a duplicate', async () => {
    const res = (
      await post('/ingest/dups/product/batch', {
        records: [
          { name: 'first', source_id: 'x' },
          { name: 'other', source_id: 'y' },
          { name: 'last', source_id: 'x' },
        ],
      })
    ).json();
    expect(res).toMatchObject({ record_count: 3, inserted: 2, duplicate_count: 1 });
    expect(res.entity_ids[0]).toBe(res.entity_ids[2]);
    const { rows } = await t.db.pool.query("select name from entities where vertical = 'dups' and source_id = 'x'");
    expect(rows).toEqual([{ name: 'last' }]);
  });

  test('records without source_id are deduplicated by content, whatever the key order', async () => {
    const a = (await post('/ingest/nosid/event/batch', { records: [{ name: 'E', a: 1, b: { c: 2, d: 3 } }] })).json();
    const b = (
      await post('/ingest/nosid/event/batch', {
        records: [
          { b: { d: 3, c: 2 }, a: 1, name: 'E' },
          { name: 'E', a: 2 },
        ],
      })
    ).json();
    expect(a.inserted).toBe(1);
    expect(b).toMatchObject({ inserted: 1, unchanged: 1 });
    expect(b.entity_ids[0]).toBe(a.entity_ids[0]);
    expect(await entityCount('nosid')).toBe(2);
  });

  test('invalid records go to the DLQ with their position; the valid rest is stored', async () => {
    const res = await post('/ingest/mixed/product/batch', {
      records: [
        { name: 'ok1', source_id: 'm1' },
        { source_id: 'no-name' },
        'not an object',
        { name: 'ok2', vertical_data: 'nope' },
        { name: 'ok3', source_id: 'm3' },
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ status: 'partial', record_count: 5, inserted: 2, rejected: 3 });
    expect(body.entity_ids.map((id: string | null) => id !== null)).toEqual([true, false, false, false, true]);
    expect(body.errors.map((e: { loc: unknown[] }) => e.loc)).toEqual([
      ['body', 'records', 1, 'name'],
      ['body', 'records', 2],
      ['body', 'records', 3, 'vertical_data'],
    ]);
    const dlq = (await get(`/ingestions/${body.ingestion_id}/errors`)).json();
    expect(dlq.items.map((e: { position: number; error_type: string }) => [e.position, e.error_type])).toEqual([
      [1, 'invalid_record'],
      [2, 'invalid_record'],
      [3, 'invalid_record'],
    ]);
    expect(JSON.parse(dlq.items[0].raw)).toEqual({ source_id: 'no-name' });
    const ingestion = (await get(`/ingestions/${body.ingestion_id}`)).json();
    expect(ingestion).toMatchObject({ source_type: 'batch', status: 'partial', record_count: 5, accepted: 2, rejected: 3, inserted: 2 });
    expect(ingestion.completed_at).not.toBeNull();
  });

  test('a batch where every record is invalid answers 422 with each problem, and its DLQ holds them', async () => {
    const res = await post('/ingest/allbad/product/batch', '{"records": [{"name": ""}, {"name": "x", "vertical_data": {"__proto__": 1}}]}');
    expect(res.statusCode).toBe(422);
    const body = res.json();
    expect(body.detail.map((d: { type: string }) => d.type)).toEqual(['value_error.empty', 'value_error.forbidden_key']);
    expect((await get(`/ingestions/${body.ingestion_id}/errors`)).json().items).toHaveLength(2);
    expect(await entityCount('allbad')).toBe(0);
  });

  test('the DLQ is paginated', async () => {
    const records = Array.from({ length: 7 }, () => ({ nope: 1 })).concat([{ name: 'fine' } as never]);
    const { ingestion_id } = (await post('/ingest/paged/x/batch', { records })).json();
    const first = (await get(`/ingestions/${ingestion_id}/errors?limit=5`)).json();
    expect(first.items).toHaveLength(5);
    const second = (await get(`/ingestions/${ingestion_id}/errors?limit=5&cursor=${first.next_cursor}`)).json();
    expect(second.items.map((e: { position: number }) => e.position)).toEqual([5, 6]);
    expect(second.next_cursor).toBeNull();
  });

  test.each([
    ['malformed JSON', '{"records": [', 400, /Malformed JSON/],
    ['an empty body', '', 400, /empty/],
    ['records missing', { data: [] }, 422, /field required/],
    ['records not an array', { records: { name: 'x' } }, 422, /array/],
    ['a body that is not an object', [1, 2], 422, /object/],
    ['no records', { records: [] }, 422, /at least one/],
  ])('%s gets a clear 4xx and stores nothing', async (_what, payload, status, message) => {
    const before = await entityCount('bad');
    const res = await post('/ingest/bad/product/batch', payload);
    expect(res.statusCode).toBe(status);
    expect(JSON.stringify(res.json().detail)).toMatch(message);
    expect(await entityCount('bad')).toBe(before);
  });

  test('invalid UTF-8 is refused, not replaced', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/ingest/bad/product/batch',
      headers: { 'content-type': 'application/json', ...bearer(key) },
      payload: Buffer.concat([Buffer.from('{"records":[{"name":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toMatch(/UTF-8/);
  });

  test('NUL characters and lone surrogates are refused per record, the batch goes on', async () => {
    const res = (
      await post('/ingest/unicode/x/batch', {
        records: [{ name: 'a\u0000b' }, { name: 'b', v: 'x\u0000' }, { name: 'c', v: '\ud800' }, { name: 'ünï ✓ 😀', v: '😀' }],
      })
    ).json();
    expect(res).toMatchObject({ inserted: 1, rejected: 3 });
    const { rows } = await t.db.pool.query("select name, vertical_data from entities where vertical = 'unicode'");
    expect(rows).toEqual([{ name: 'ünï ✓ 😀', vertical_data: { v: '😀' } }]);
  });

  test.each([
    ['upper case', '/ingest/Bad/product/batch'],
    ['too long', `/ingest/${'a'.repeat(65)}/product/batch`],
    ['a dot', '/ingest/a.b/product/batch'],
  ])('a vertical %s is refused with 422', async (_what, path) => {
    const res = await post(path, { records: [{ name: 'x' }] });
    expect(res.statusCode).toBe(422);
    expect(res.json().detail[0].loc).toEqual(['params', 'vertical']);
  });

  test('more than 10,000 records: 413 naming the limit', async () => {
    const res = await post('/ingest/big/product/batch', { records: Array.from({ length: 10_001 }, (_, i) => ({ name: `n${i}` })) });
    expect(res.statusCode).toBe(413);
    expect(res.json().detail).toMatch(/at most 10,000 records/);
    expect(await entityCount('big')).toBe(0);
  });

  test('a body over 50 MB: 413 naming the limit', async () => {
    const res = await post('/ingest/big/product/batch', `{"records":[{"name":"${'x'.repeat(50 * 1024 * 1024)}"}]}`);
    expect(res.statusCode).toBe(413);
    expect(res.json().detail).toMatch(/50 MB/);
  });

  test('10,000 records in one batch are all stored', async () => {
    const records = Array.from({ length: 10_000 }, (_, i) => ({ name: `n${i}`, source_id: `s${i}`, vertical_data: { i } }));
    expect((await post('/ingest/full/product/batch', { records })).json()).toMatchObject({ inserted: 10_000, rejected: 0 });
    expect(await entityCount('full')).toBe(10_000);
  });
});

describe('schemas', () => {
  test('a registered schema validates vertical_data; failures go to the DLQ with the validator messages', async () => {
    const schema = {
      type: 'object',
      properties: { part_number: { type: 'string' }, price_eur: { type: 'number' } },
      required: ['part_number'],
    };
    const created = await post('/schemas', { vertical: 'fasteners', entity_type: 'bolt', schema });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ vertical: 'fasteners', entity_type: 'bolt', version: 1 });
    const res = (
      await post('/ingest/fasteners/bolt/batch', {
        records: [
          { name: 'ok', part_number: 'B1', extra: true },
          { name: 'missing' },
          { name: 'wrong', part_number: 'B3', price_eur: 'cheap' },
        ],
      })
    ).json();
    expect(res).toMatchObject({ inserted: 1, rejected: 2 });
    expect(res.errors).toEqual([
      {
        loc: ['body', 'records', 1, 'vertical_data', 'part_number'],
        msg: "must have required property 'part_number'",
        type: 'schema.required',
      },
      { loc: ['body', 'records', 2, 'vertical_data', 'price_eur'], msg: 'must be number', type: 'schema.type' },
    ]);
    const dlq = (await get(`/ingestions/${res.ingestion_id}/errors`)).json();
    expect(dlq.items[0]).toMatchObject({ position: 1, error_type: 'schema_validation' });
    expect((await get('/schemas/fasteners/bolt')).json()).toMatchObject({ version: 1, schema });
    expect((await get('/schemas')).json().items.map((s: { entity_type: string }) => s.entity_type)).toContain('bolt');
  });

  test('a new version replaces the old one for validation', async () => {
    await post('/schemas', { vertical: 'v2', entity_type: 't', schema: { required: ['a'] } });
    expect((await post('/ingest/v2/t/batch', { records: [{ name: 'x', b: 1 }] })).statusCode).toBe(422);
    expect((await post('/schemas', { vertical: 'v2', entity_type: 't', schema: { required: ['b'] } })).json().version).toBe(2);
    expect((await post('/ingest/v2/t/batch', { records: [{ name: 'x', b: 1 }] })).statusCode).toBe(200);
  });

  test('an invalid JSON Schema is refused with 422', async () => {
    const res = await post('/schemas', { vertical: 'x', entity_type: 'y', schema: { type: 'banana' } });
    expect(res.statusCode).toBe(422);
    expect(res.json().detail[0].loc.slice(0, 2)).toEqual(['body', 'schema']);
  });

  test('an unknown schema is a 404', async () => {
    expect((await get('/schemas/none/none')).statusCode).toBe(404);
  });
});

describe('entities read API', () => {
  test('keyset pagination visits every entity once, filtered by target and source_id', async () => {
    const records = Array.from({ length: 25 }, (_, i) => ({ name: `e${i}`, source_id: `e-${i}` }));
    await post('/ingest/listing/item/batch', { records });
    const seen: string[] = [];
    let cursor = '';
    for (let page = 0; page < 10; page++) {
      const res = (await get(`/entities?vertical=listing&entity_type=item&limit=10${cursor ? `&cursor=${cursor}` : ''}`)).json();
      seen.push(...res.items.map((e: { source_id: string }) => e.source_id));
      if (!res.next_cursor) break;
      cursor = res.next_cursor;
    }
    expect(seen.sort()).toEqual(records.map((r) => r.source_id).sort());
    expect((await get('/entities?source_id=e-7')).json().items.map((e: { name: string }) => e.name)).toEqual(['e7']);
  });
});
