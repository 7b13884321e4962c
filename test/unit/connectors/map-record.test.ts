import { describe, expect, test } from 'vitest';
import type { FieldsConfig } from '../../../connectors/connector-config';
import { compileRecordMapper, parseSourceIdTemplate, RowMappingError } from '../../../connectors/map-record';

const noFields: FieldsConfig = { include: null, exclude: [], rename: {} };

function mapper(
  config: Partial<{ name_column: string; source_id: string | null; fields: Partial<FieldsConfig> }> = {},
  key: string[] = ['id'],
) {
  return compileRecordMapper(
    { name_column: config.name_column ?? 'name', source_id: config.source_id ?? null, fields: { ...noFields, ...config.fields } },
    key,
  );
}

describe('map-record', () => {
  test('name from name_column, source_id from the key, every other column in vertical_data', () => {
    const map = mapper();
    expect(map({ id: 42, name: 'Bolt M6', price: '0.12', tags: ['steel'] })).toEqual({
      name: 'Bolt M6',
      source_id: '42',
      vertical_data: { id: 42, price: '0.12', tags: ['steel'] },
    });
  });

  test('a configured name column is consumed like `name`', () => {
    expect(mapper({ name_column: 'title' })({ id: 1, title: 'Nut', name: 'kept' })).toEqual({
      name: 'Nut',
      source_id: '1',
      vertical_data: { id: 1, name: 'kept' },
    });
  });

  test('numeric names become strings; missing, null, blank and non-scalar names are row errors', () => {
    expect(mapper()({ id: 1, name: 7 })).toMatchObject({ name: '7' });
    for (const name of [undefined, null, '', '   ', { a: 1 }]) {
      const result = mapper()({ id: 9, name });
      expect(result).toBeInstanceOf(RowMappingError);
      expect((result as RowMappingError).message).toMatch(/^row \(source_id "9"\) has no usable name: column "name" is /);
    }
  });

  test('source_id from a column, or a template', () => {
    expect(mapper({ source_id: 'sku' })({ id: 1, sku: 'A-1', name: 'n' })).toMatchObject({ source_id: 'A-1' });
    expect(mapper({ source_id: 'pg-{region}-{id}' })({ id: 5, region: 'eu', name: 'n' })).toMatchObject({ source_id: 'pg-eu-5' });
    expect(mapper({ source_id: '{{literal}}-{id}' })({ id: 5, name: 'n' })).toMatchObject({ source_id: '{literal}-5' });
    const missing = mapper({ source_id: 'pg-{region}-{id}' })({ id: 5, name: 'n' });
    expect(missing).toEqual(new RowMappingError('source_id template needs column "region", which is missing', 'region'));
  });

  test('bigints stay exact in source_id', () => {
    expect(mapper()({ id: '9007199254740993', name: 'n' })).toMatchObject({ source_id: '9007199254740993' });
  });

  test('a composite key joins its values with ":", escaping ":" and "%" so keys never collide', () => {
    const map = mapper({}, ['a', 'b']);
    const one = map({ a: 'x:y', b: 'z', name: 'n' });
    const two = map({ a: 'x', b: 'y:z', name: 'n' });
    expect(one).toMatchObject({ source_id: 'x%3Ay:z' });
    expect(two).toMatchObject({ source_id: 'x:y%3Az' });
    expect(map({ a: '100%', b: 2, name: 'n' })).toMatchObject({ source_id: '100%25:2' });
    expect(map({ a: null, b: 2, name: 'n' })).toEqual(new RowMappingError('key column "a" is null, so the row has no source_id'));
  });

  test('no key and no source_id setting: the record has no source_id', () => {
    const record = mapper({}, [])({ name: 'n', x: 1 });
    expect(record).toEqual({ name: 'n', vertical_data: { x: 1 } });
    expect('source_id' in record).toBe(false);
  });

  test('fields.include picks (and orders) vertical_data; exclude drops; rename renames', () => {
    const row = { id: 1, name: 'n', sku: 'S', price: '1.50', secret: 'x' };
    expect(mapper({ fields: { include: ['price', 'sku', 'name', 'absent'] } })(row)).toEqual({
      name: 'n',
      source_id: '1',
      vertical_data: { price: '1.50', sku: 'S' },
    });
    expect(mapper({ fields: { exclude: ['secret', 'id'] } })(row)).toEqual({
      name: 'n',
      source_id: '1',
      vertical_data: { sku: 'S', price: '1.50' },
    });
    expect(mapper({ fields: { rename: { sku: 'product_code' }, exclude: ['secret'] } })(row)).toEqual({
      name: 'n',
      source_id: '1',
      vertical_data: { id: 1, product_code: 'S', price: '1.50' },
    });
    expect(mapper({ fields: { include: ['sku'], rename: { sku: 'code' } } })(row)).toMatchObject({ vertical_data: { code: 'S' } });
  });

  test('a column named __proto__ is data, not a prototype', () => {
    const row = JSON.parse('{"id": 1, "name": "n", "__proto__": {"polluted": true}}') as Record<string, unknown>;
    const record = mapper()(row);
    expect(record).not.toBeInstanceOf(RowMappingError);
    const data = (record as { vertical_data: Record<string, unknown> }).vertical_data;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.keys(data)).toEqual(['id', '__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('template parsing', () => {
    expect(parseSourceIdTemplate('pg-{id}')).toEqual({ parts: ['pg-', { column: 'id' }] });
    expect(parseSourceIdTemplate('{a}{b}')).toEqual({ parts: [{ column: 'a' }, { column: 'b' }] });
    expect(parseSourceIdTemplate('x}')).toEqual({ error: 'unmatched "}" at position 2 - write }} for a literal brace' });
    expect(parseSourceIdTemplate('{{x}}')).toEqual({ error: 'a template must reference at least one {column}' });
  });

  test('maps 100,000 rows in under a second (the hot path stays allocation-light)', () => {
    const map = mapper({ fields: { exclude: ['secret'] } });
    const rows = Array.from({ length: 100_000 }, (_, i) => ({
      id: i,
      name: `p${i}`,
      sku: `S${i}`,
      price: '1.00',
      secret: 'x',
      updated_at: '2026-01-01T00:00:00.000000Z',
    }));
    const started = performance.now();
    let ok = 0;
    for (const row of rows) if (!(map(row) instanceof RowMappingError)) ok++;
    expect(ok).toBe(rows.length);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
