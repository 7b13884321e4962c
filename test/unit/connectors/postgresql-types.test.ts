import { describe, expect, test } from 'vitest';
import { parsePgArray } from '../../../connectors/postgresql/postgresql-array';
import { parseInt8, parseTimestamp, parseTimestamptz, PgTypes } from '../../../connectors/postgresql/postgresql-types';

const parse = (oid: number, text: string) => new PgTypes().pgTypes.getTypeParser(oid, 'text')(text);

describe('PostgreSQL text values', () => {
  test('bigint is a number only while exact', () => {
    expect(parseInt8('42')).toBe(42);
    expect(parseInt8('-999999999999999')).toBe(-999999999999999);
    expect(parseInt8('9007199254740991')).toBe(9007199254740991);
    expect(parseInt8('-9007199254740991')).toBe(-9007199254740991);
    expect(parseInt8('9007199254740992')).toBe('9007199254740992');
    expect(parseInt8('9007199254740993')).toBe('9007199254740993');
    expect(parseInt8('-9223372036854775808')).toBe('-9223372036854775808');
  });

  test('timestamptz (session in UTC) → ISO with six fractional digits and Z', () => {
    expect(parseTimestamptz('2026-01-02 03:04:05.123456+00')).toBe('2026-01-02T03:04:05.123456Z');
    expect(parseTimestamptz('2026-01-02 03:04:05.1+00')).toBe('2026-01-02T03:04:05.100000Z');
    expect(parseTimestamptz('2026-01-02 03:04:05+00')).toBe('2026-01-02T03:04:05.000000Z');
    expect(parseTimestamptz('2026-01-02 03:04:05.5+05:30')).toBe('2026-01-01T21:34:05.500000Z');
    expect(parseTimestamptz('0044-03-15 10:00:00+00 BC')).toBe('-000043-03-15T10:00:00.000000Z');
    expect(parseTimestamptz('12345-01-01 00:00:00+00')).toBe('+012345-01-01T00:00:00.000000Z');
    expect(parseTimestamptz('infinity')).toBe('infinity');
    expect(parseTimestamptz('-infinity')).toBe('-infinity');
  });

  test('timestamp without time zone → ISO without Z', () => {
    expect(parseTimestamp('2026-01-02 03:04:05.000001')).toBe('2026-01-02T03:04:05.000001');
    expect(parseTimestamp('2026-01-02 03:04:05')).toBe('2026-01-02T03:04:05.000000');
    expect(parseTimestamp('0001-01-01 00:00:00 BC')).toBe('0000-01-01T00:00:00.000000');
  });

  test('built-in types', () => {
    expect(parse(16, 't')).toBe(true);
    expect(parse(16, 'f')).toBe(false);
    expect(parse(17, '\\x00ff')).toBe('AP8=');
    expect(parse(1700, '12.3400')).toBe('12.3400');
    expect(parse(701, '0.1')).toBe(0.1);
    expect(parse(701, 'NaN')).toBe('NaN');
    expect(parse(701, '-Infinity')).toBe('-Infinity');
    expect(parse(3802, '{"a": [1, null]}')).toEqual({ a: [1, null] });
    expect(parse(1186, 'P1Y2M3DT4H5M6.789S')).toBe('P1Y2M3DT4H5M6.789S');
    expect(parse(1016, '{9007199254740993,1,NULL}')).toEqual(['9007199254740993', 1, null]);
    expect(parse(1185, '{"2026-01-02 03:04:05+00"}')).toEqual(['2026-01-02T03:04:05.000000Z']);
    expect(parse(1001, '{"\\\\x01ff"}')).toEqual(['Af8=']);
    expect(parse(999_999, 'anything')).toBe('anything');
    expect(new PgTypes().pgTypes.getTypeParser(20, 'binary')('raw')).toBe('raw');
  });

  test('enums, domains and their arrays resolve through pg_type once', async () => {
    const types = new PgTypes();
    const calls: unknown[] = [];
    const catalog: Record<number, { oid: number; name: string; typtype: string; category: string; elem: number; base: number }> = {
      50001: { oid: 50001, name: 'mood', typtype: 'e', category: 'E', elem: 0, base: 0 },
      50002: { oid: 50002, name: 'mood[]', typtype: 'b', category: 'A', elem: 50001, base: 0 },
      50003: { oid: 50003, name: 'stamp', typtype: 'd', category: 'D', elem: 0, base: 1184 },
      50004: { oid: 50004, name: 'stamp[]', typtype: 'b', category: 'A', elem: 50003, base: 0 },
    };
    await types.resolve([50002, 50004, 23], async (_sql, values) => {
      calls.push(values);
      return (values[0] as number[]).map((oid) => catalog[oid]).filter(Boolean) as never;
    });
    expect(types.pgTypes.getTypeParser(50002)('{happy,sad}')).toEqual(['happy', 'sad']);
    expect(types.pgTypes.getTypeParser(50003)('2026-01-02 03:04:05+00')).toBe('2026-01-02T03:04:05.000000Z');
    expect(types.kindOf(50003)).toBe('timestamptz');
    expect(types.kindOf(50002)).toBe('unordered');
    expect(types.nameOf(50001)).toBe('mood');
    expect(calls).toEqual([[[50002, 50004]], [[50001, 50003]]]);
  });
});

describe('PostgreSQL arrays', () => {
  const text = (s: string) => s;

  test('quoted elements, escapes, NULL and the string "NULL"', () => {
    expect(parsePgArray('{"a b",NULL,"c\\"d","NULL","","e\\\\f"}', text)).toEqual(['a b', null, 'c"d', 'NULL', '', 'e\\f']);
  });

  test('nested, empty and with lower bounds', () => {
    expect(parsePgArray('{{1,2},{3,4}}', Number)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(parsePgArray('{}', text)).toEqual([]);
    expect(parsePgArray('{{},{}}', text)).toEqual([[], []]);
    expect(parsePgArray('[0:1]={7,8}', Number)).toEqual([7, 8]);
  });

  test('refuses what is not an array', () => {
    expect(() => parsePgArray('(1,2)', text)).toThrow(/not a PostgreSQL array/);
  });
});
