import { describe, expect, test } from 'vitest';
import { mysqlDialect, mysqlTimestamp } from '../../../connectors/mysql/mysql-dialect';
import { datetimeToIso, mysqlColumn, rowConverter, timestampToIso, type MysqlField } from '../../../connectors/mysql/mysql-types';

const field = (name: string, columnType: number, extra: Partial<MysqlField> = {}): MysqlField => ({
  name,
  columnType,
  characterSet: 63,
  columnLength: 10,
  decimals: 0,
  flags: 0,
  ...extra,
});

describe('MySQL values', () => {
  test('DATETIME and TIMESTAMP text → ISO with six fractional digits', () => {
    expect(datetimeToIso('2026-01-02 03:04:05')).toBe('2026-01-02T03:04:05.000000');
    expect(datetimeToIso('2026-01-02 03:04:05.5')).toBe('2026-01-02T03:04:05.500000');
    expect(datetimeToIso('2026-01-02 03:04:05.000001')).toBe('2026-01-02T03:04:05.000001');
    expect(timestampToIso('2026-01-02 03:04:05.123')).toBe('2026-01-02T03:04:05.123000Z');
    expect(datetimeToIso('0000-00-00 00:00:00')).toBe('0000-00-00T00:00:00.000000');
  });

  test('a result converts only the columns that need it', () => {
    const convert = rowConverter([
      field('id', 8),
      field('at', 12, { decimals: 6 }),
      field('ts', 7, { decimals: 6 }),
      field('bytes', 252),
      field('text', 252, { characterSet: 224 }),
      field('flags', 16, { columnLength: 4 }),
      field('wide', 16, { columnLength: 10 }),
      field('span', 11, { decimals: 3 }),
      field('doc', 252, { characterSet: 224, extendedFormat: 'json' }),
    ]);
    const rows = [
      {
        id: 1,
        at: '2026-01-02 03:04:05.5',
        ts: '2026-01-02 03:04:05',
        bytes: Buffer.from([0, 255]),
        text: 'plain',
        flags: Buffer.from([5]),
        wide: Buffer.from([2, 1]),
        span: '-01:02:03.1',
        doc: { a: 1 },
      },
      { id: 2, at: null, ts: null, bytes: null, text: null, flags: null, wide: null, span: '00:00:00', doc: null },
    ];
    convert?.(rows);
    expect(rows).toEqual([
      {
        id: 1,
        at: '2026-01-02T03:04:05.500000',
        ts: '2026-01-02T03:04:05.000000Z',
        bytes: 'AP8=',
        text: 'plain',
        flags: '0101',
        wide: '1000000001',
        span: '-01:02:03.100',
        doc: { a: 1 },
      },
      { id: 2, at: null, ts: null, bytes: null, text: null, flags: null, wide: null, span: '00:00:00.000', doc: null },
    ]);
    expect(rowConverter([field('id', 3), field('name', 253, { characterSet: 224 })])).toBeNull();
  });

  test('described columns: kinds, casts for exact comparisons, type names', () => {
    expect(mysqlColumn(field('id', 8, { flags: 1 | 32 }))).toEqual({
      name: 'id',
      type: 'bigint unsigned',
      kind: 'integer',
      nullable: false,
      paramCast: 'UNSIGNED',
    });
    expect(mysqlColumn(field('price', 246, { columnLength: 40, decimals: 10 }))).toMatchObject({
      type: 'decimal(38,10)',
      kind: 'decimal',
      paramCast: 'DECIMAL(38,10)',
    });
    expect(mysqlColumn(field('whole', 246, { columnLength: 11, decimals: 0, flags: 32 }))).toMatchObject({ paramCast: 'DECIMAL(11,0)' });
    expect(mysqlColumn(field('at', 12, { decimals: 6 }))).toMatchObject({ type: 'datetime(6)', kind: 'timestamp', nullable: true });
    expect(mysqlColumn(field('ts', 7))).toMatchObject({ kind: 'timestamptz' });
    expect(mysqlColumn(field('hash', 254, { columnLength: 16 }))).toMatchObject({ type: 'binary', kind: 'binary' });
    expect(mysqlColumn(field('doc', 252, { characterSet: 224, extendedFormat: 'json' }))).toMatchObject({
      type: 'json',
      kind: 'unordered',
    });
    expect(mysqlColumn(field('size', 254, { characterSet: 224, flags: 256 }))).toMatchObject({ kind: 'unordered' });
    expect(mysqlColumn(field('u', 254, { characterSet: 224, extendedTypeName: 'uuid' }))).toMatchObject({ type: 'uuid', kind: 'text' });
  });

  test('cursor values bind back in MySQL form', () => {
    const at = mysqlColumn(field('at', 12, { decimals: 6 }));
    const id = mysqlColumn(field('id', 8));
    const hash = mysqlColumn(field('hash', 254));
    expect(mysqlDialect.toParam(at, '2026-01-02T03:04:05.000001')).toBe('2026-01-02 03:04:05.000001');
    expect(mysqlDialect.toParam(at, '2026-01-02T03:04:05.000001Z')).toBe('2026-01-02 03:04:05.000001');
    expect(mysqlDialect.toParam(at, '2026-01-02T05:04:05+02:00')).toBe('2026-01-02 03:04:05.000000');
    expect(mysqlDialect.toParam(at, '2026-01-02')).toBe('2026-01-02');
    expect(mysqlDialect.toParam(id, 9007199254740991)).toBe('9007199254740991');
    expect(mysqlDialect.toParam(hash, 'AP8=')).toEqual(Buffer.from([0, 255]));
    expect(mysqlTimestamp('2026-01-02T03:04:05.123456Z')).toBe('2026-01-02 03:04:05.123456');
  });
});
