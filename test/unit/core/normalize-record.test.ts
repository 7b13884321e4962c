import { describe, expect, test } from 'vitest';
import { MAX_DEPTH, normalizeRecord } from '../../../src/core/normalize-record';

const problems = (raw: unknown) => {
  const n = normalizeRecord(raw);
  return n.ok ? [] : n.problems;
};

describe('normalizeRecord', () => {
  test('folds every other top-level field into vertical_data; explicit vertical_data wins', () => {
    expect(normalizeRecord({ name: 'A', source_id: 's1', price: 1, vertical_data: { price: 2, sku: 'x' } })).toEqual({
      ok: true,
      record: { name: 'A', sourceId: 's1', verticalData: { price: 2, sku: 'x' } },
    });
    expect(normalizeRecord({ name: 'Sensor', temperature: 22.5 })).toEqual({ ok: true, record: { name: 'Sensor', sourceId: null, verticalData: { temperature: 22.5 } } });
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
  test(`refuses nesting deeper than ${MAX_DEPTH} levels`, () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep };
    expect(problems({ name: 'a', vertical_data: deep }).map((p) => p.type)).toContain('value_error.too_deep');
    let ok: unknown = 1;
    for (let i = 0; i < MAX_DEPTH - 2; i++) ok = { d: ok };
    expect(problems({ name: 'a', vertical_data: ok })).toEqual([]);
  });
});
