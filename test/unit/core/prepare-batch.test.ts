import { describe, expect, test } from 'vitest';
import { parseExactJson } from '../../../src/core/exact-json';
import { prepareBatch } from '../../../src/core/ingest';
import { storableText } from '../../../src/core/record-problems';
import { entitiesDocument } from '../../../src/core/upsert-entities';

/** The document a prepared batch is written as, read back exactly (numbers kept as written). */
const documentOf = (records: unknown[]) =>
  parseExactJson(entitiesDocument(prepareBatch(records, null).rows)) as Array<Record<string, unknown>>;

describe('prepareBatch and the document it is written as', () => {
  test('each row is its record exactly: name, source_id, dedup key and vertical_data, in dedup-key order', () => {
    const text = `[
      {"name": "b \\"quoted\\" \\\\ back\\u0001slash", "source_id": "2", "price": 12.3400, "big": 123456789012345678901234567890, "exp": 2.50E+3},
      {"name": "a ünï ✓ 😀", "source_id": 1, "vertical_data": {"nested": {"list": [1, "x", null, {"deep": true}], "empty": {}}, "s": "tab\\there"}},
      {"name": "no key", "v": [0.1, -0, 1E+2]}
    ]`;
    const records = parseExactJson(text) as unknown[];
    const doc = documentOf(records);
    expect(doc.map((r) => r.k)).toEqual([...doc.map((r) => r.k as string)].sort());
    const byName = new Map(doc.map((r) => [r.n, r]));
    // Exact numbers keep the one spelling the core writes (see exact-number.ts); the rest round-trips as sent.
    expect(JSON.stringify(byName.get('b "quoted" \\ back\u0001slash'))).toBe(
      '{"n":"b \\"quoted\\" \\\\ back\\u0001slash","s":"2","k":"s:2","d":{"price":12.34,"big":123456789012345678901234567890,"exp":2500}}',
    );
    expect(byName.get('a ünï ✓ 😀')).toEqual({
      n: 'a ünï ✓ 😀',
      s: '1',
      k: 's:1',
      d: { nested: { list: [1, 'x', null, { deep: true }], empty: {} }, s: 'tab\there' },
    });
    const noKey = byName.get('no key')!;
    expect(noKey.s).toBeNull();
    expect(noKey.k).toMatch(/^h:[0-9a-f]{64}$/);
    expect(JSON.stringify(noKey.d)).toBe('{"v":[0.1,0,100]}');
  });

  test('a record repeating a key is written once, as its last occurrence', () => {
    const doc = documentOf([
      { name: 'first', source_id: 'x', v: 1 },
      { name: 'other', source_id: 'y' },
      { name: 'last', source_id: 'x', v: 2 },
    ]);
    expect(doc).toEqual([
      { n: 'last', s: 'x', k: 's:x', d: { v: 2 } },
      { n: 'other', s: 'y', k: 's:y', d: {} },
    ]);
  });

  test.each([
    ['NUL in a value', { v: 'a\u0000b' }, ['vertical_data', 'v']],
    ['NUL in a key', { 'k\u0000': 1 }, ['vertical_data', storableText('k\u0000')]],
    ['a lone high surrogate, nested', { a: { b: ['ok', '\ud800'] } }, ['vertical_data', 'a', 'b', 1]],
    ['a lone low surrogate in a nested key', { a: [{ '\udfff': 1 }] }, ['vertical_data', 'a', 0, storableText('\udfff')]],
    ['NUL deep in an array', { a: [[['x\u0000']]] }, ['vertical_data', 'a', 0, 0, 0]],
  ])('refuses a record with %s at its place, and keeps the rest of the batch', (_what, data, loc) => {
    const batch = prepareBatch(
      [
        { name: 'kept 1', source_id: '1', vertical_data: { text: 'a \\u0000 spelled out is text' } },
        { name: 'bad', source_id: '2', vertical_data: data },
        { name: 'kept \u0001 control', source_id: '3', vertical_data: { emoji: '😀' } },
      ],
      null,
    );
    expect(batch.rejections).toHaveLength(1);
    expect(batch.rejections[0]).toMatchObject({ position: 1, errorType: 'invalid_record', problems: [{ loc }] });
    expect(batch.rows.map((r) => r.sourceId)).toEqual(['1', '3']);
    expect(batch.keys).toEqual(['s:1', null, 's:3']);
  });
});
