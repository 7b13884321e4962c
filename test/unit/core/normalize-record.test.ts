import { describe, expect, test } from 'vitest';
import { parseExactJson } from '../../../src/core/exact-json';
import { MAX_DEPTH, MAX_SOURCE_ID_BYTES, normalizeRecord } from '../../../src/core/normalize-record';

const problems = (raw: unknown) => {
  const n = normalizeRecord(raw);
  return n.ok ? [] : n.problems;
};

describe('normalizeRecord', () => {
  test('folds every other top-level field into vertical_data; explicit vertical_data wins', () => {
    expect(normalizeRecord({ name: 'A', source_id: 's1', price: 1, vertical_data: { price: 2, sku: 'x' } })).toEqual({
      ok: true,
      record: { name: 'A', sourceId: 's1', verticalData: { price: 2, sku: 'x' }, exactNumbers: false, jsonTexts: null },
    });
    expect(normalizeRecord({ name: 'Sensor', temperature: 22.5 })).toEqual({
      ok: true,
      record: { name: 'Sensor', sourceId: null, verticalData: { temperature: 22.5 }, exactNumbers: false, jsonTexts: null },
    });
  });
  test('a numeric source_id becomes its string', () => {
    expect(normalizeRecord({ name: 'A', source_id: 42 })).toMatchObject({ ok: true, record: { sourceId: '42' } });
  });
  test.each([
    ['not an object', 'x', 'type_error.object'],
    ['an array', [1], 'type_error.object'],
    ['null', null, 'type_error.object'],
    ['no name', { source_id: 'a' }, 'value_error.missing'],
    ['empty name', { name: '  ' }, 'value_error.empty'],
    ['non-string name', { name: 5 }, 'type_error.str'],
    ['vertical_data not an object', { name: 'a', vertical_data: [1] }, 'type_error.object'],
    ['source_id an object', { name: 'a', source_id: {} }, 'type_error.str'],
  ])('refuses %s', (_what, raw, type) => {
    expect(problems(raw).map((p) => p.type)).toContain(type);
  });
  test('refuses prototype-polluting keys anywhere, and pollutes nothing', () => {
    const raw = JSON.parse('{"name":"a","vertical_data":{"x":{"__proto__":{"polluted":true}}},"constructor":1}');
    const found = problems(raw);
    expect(found.map((p) => p.loc)).toEqual(expect.arrayContaining([['vertical_data', 'x', '__proto__'], ['constructor']]));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
  test('finds forbidden keys, depth and unstorable numbers inside arrays and beside scalars, at their exact place', () => {
    const raw = parseExactJson(
      '{"name":"a","s":"x","v":[1,"t",null,[{"ok":1},{"prototype":2}]],"vertical_data":{"n":null,"b":true,"w":[[1e400]]},"z":{"__proto__":1}}',
    );
    expect(problems(raw).map((p) => p.loc)).toEqual([
      ['v', 3, 1, 'prototype'],
      ['vertical_data', 'w', 0, 0],
      ['z', '__proto__'],
    ]);
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 1; i++) deep = i % 2 ? { d: deep } : [deep];
    expect(problems({ name: 'a', vertical_data: { deep } }).map((p) => p.type)).toEqual(['value_error.too_deep']);
  });
  test('a record of name, source_id and vertical_data alone keeps its vertical_data; extra fields fold in their order', () => {
    const verticalData = { b: 1, a: [2] };
    const n = normalizeRecord({ vertical_data: verticalData, source_id: 's', name: 'A' });
    expect(n.ok && n.record.verticalData).toBe(verticalData);
    const folded = normalizeRecord({ z: 1, name: 'A', y: { k: 2 }, vertical_data: { y: 3 }, x: null });
    expect(folded.ok && Object.entries(folded.record.verticalData)).toEqual([
      ['z', 1],
      ['y', 3],
      ['x', null],
    ]);
  });
  test(`refuses nesting deeper than ${MAX_DEPTH} levels`, () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep };
    expect(problems({ name: 'a', vertical_data: deep }).map((p) => p.type)).toContain('value_error.too_deep');
    let ok: unknown = 1;
    for (let i = 0; i < MAX_DEPTH - 2; i++) ok = { d: ok };
    expect(problems({ name: 'a', vertical_data: ok })).toEqual([]);
  });

  test.each([
    ['a NUL in source_id', { name: 'a', source_id: 'x\u0000' }, ['source_id'], 'value_error.nul'],
    ['a lone surrogate in source_id', { name: 'a', source_id: '\ud800' }, ['source_id'], 'value_error.unicode'],
    ['a lone surrogate in name', { name: 'a\udc00' }, ['name'], 'value_error.unicode'],
    ['a NUL in name', { name: '\u0000' }, ['name'], 'value_error.nul'],
    [
      `a source_id of ${MAX_SOURCE_ID_BYTES + 1} ASCII bytes`,
      { name: 'a', source_id: 'x'.repeat(MAX_SOURCE_ID_BYTES + 1) },
      ['source_id'],
      'value_error.too_long',
    ],
    ['a source_id of 513 four-byte characters', { name: 'a', source_id: '😀'.repeat(513) }, ['source_id'], 'value_error.too_long'],
    ['a number beyond a double', parseExactJson('{"name":"a","v":[1,{"w":1e400}]}'), ['v', 1, 'w'], 'value_error.number'],
    ['a source_id beyond a double', parseExactJson('{"name":"a","source_id":-1e400}'), ['source_id'], 'value_error.number'],
    [
      'an exact number as vertical_data',
      parseExactJson('{"name":"a","vertical_data":12345678901234567890}'),
      ['vertical_data'],
      'type_error.object',
    ],
  ])('refuses %s at its location', (_what, raw, loc, type) => {
    expect(problems(raw)).toContainEqual(expect.objectContaining({ loc, type }));
  });

  test(`source_id may be ${MAX_SOURCE_ID_BYTES} bytes of UTF-8, in any characters`, () => {
    for (const sid of ['x'.repeat(MAX_SOURCE_ID_BYTES), '😀'.repeat(MAX_SOURCE_ID_BYTES / 4), 'é'.repeat(MAX_SOURCE_ID_BYTES / 2)]) {
      expect(normalizeRecord({ name: 'a', source_id: sid })).toMatchObject({ ok: true, record: { sourceId: sid } });
    }
  });

  test('an exact numeric source_id is its exact text; exact numbers are flagged for validation', () => {
    expect(normalizeRecord(parseExactJson('{"name":"a","source_id":12345678901234567891}'))).toMatchObject({
      ok: true,
      record: { sourceId: '12345678901234567891' },
    });
    expect(normalizeRecord(parseExactJson('{"name":"a","v":12345678901234567891}'))).toMatchObject({
      ok: true,
      record: { exactNumbers: true },
    });
    expect(normalizeRecord(parseExactJson('{"name":"a","v":1.0}'))).toMatchObject({ ok: true, record: { exactNumbers: false } });
  });
});
