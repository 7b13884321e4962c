import { describe, expect, test } from 'vitest';
import { contentKey } from '../../../src/core/canonical-json';
import { parseExactJson } from '../../../src/core/exact-json';
import { asDoubles, exactNumberProblem, isExactNumber, type RawJson } from '../../../src/core/exact-number';

/** Exact decimal value of a JSON number text, as a reduced fraction-free pair (BigInt digits, power of ten). */
function valueOf(text: string): { digits: bigint; exponent: number } {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) throw new Error(`not a JSON number: ${text}`);
  let digits = BigInt((m[1] ?? '') + m[2] + (m[3] ?? ''));
  let exponent = Number(m[4] ?? 0) - (m[3] ?? '').length;
  if (digits === 0n) return { digits: 0n, exponent: 0 };
  while (digits % 10n === 0n) {
    digits /= 10n;
    exponent++;
  }
  return { digits, exponent };
}
const sameValue = (a: string, b: string) => {
  const x = valueOf(a);
  const y = valueOf(b);
  return x.digits === y.digits && x.exponent === y.exponent;
};
/** What JSON.stringify writes for the one number in `[n]`. */
const written = (v: unknown) => JSON.stringify(v);

describe('parseExactJson', () => {
  test.each([
    '12345678901234567890',
    '-9223372036854775809',
    '18446744073709551616',
    '9007199254740993',
    '0.1000000000000000055511151231257827',
    '3.14159265358979323846264338327950288',
    '1.2345678901234567890e25',
    '123456789012345678901234567890.123456789',
    '-0.000000000000000000000000000001234567890123456789',
    '1.2345678901234567890123e-310',
    '1.7976931348623157e308',
    '5e-324',
  ])('%s comes back with the same value', (text) => {
    const out = written(parseExactJson(`[${text}]`));
    expect(sameValue(out.slice(1, -1), text), out).toBe(true);
  });

  test('numbers a double holds exactly stay plain numbers, whatever their spelling', () => {
    expect(parseExactJson('[1, 1.0, 1e0, 10e-1, 0.1, 42.5, 1e21, 1.5E+300, 100, 0.0]')).toEqual([
      1, 1, 1, 1, 0.1, 42.5, 1e21, 1.5e300, 100, 0,
    ]);
  });

  test('negative zero is zero (jsonb numeric has no negative zero)', () => {
    expect(written(parseExactJson('{"a":-0,"b":-0.0,"c":-0e5}'))).toBe('{"a":0,"b":0,"c":0}');
  });

  test('an exact number has one spelling per value: no exponent, no trailing zeros', () => {
    const spellings = [
      '12345678901234567890.5',
      '12345678901234567890.500',
      '1234567890123456789.05e1',
      '123456789012345678905e-1',
      '0.123456789012345678905E20',
    ];
    const texts = spellings.map((s) => (parseExactJson(`[${s}]`) as RawJson[])[0]!.rawJSON);
    expect(new Set(texts)).toEqual(new Set(['12345678901234567890.5']));
  });

  test('numbers beyond a double come back as sent, and the core is told why they cannot be stored', () => {
    const [big, negative, tiny, fine] = parseExactJson('[1e400, -1.5e99999, 1e-400, 12345678901234567890]') as RawJson[];
    expect([big, negative, tiny].map((n) => n!.rawJSON)).toEqual(['1e400', '-1.5e99999', '1e-400']);
    expect(exactNumberProblem(big!)).toMatch(/beyond the range of a double.*send it as a string/);
    expect(exactNumberProblem(negative!)).toMatch(/beyond the range/);
    expect(exactNumberProblem(tiny!)).toMatch(/too close to zero/);
    expect(exactNumberProblem(fine!)).toBeNull();
  });

  test('more digits after the point than PostgreSQL numeric keeps (16,383) are refused', () => {
    const [ok, tooMany] = parseExactJson(`[1.${'1'.repeat(16_383)}, 1.${'1'.repeat(16_384)}]`) as RawJson[];
    expect(exactNumberProblem(ok!)).toBeNull();
    expect(exactNumberProblem(tooMany!)).toMatch(/16,383 digits after the decimal point/);
  });

  test('strings that look like numbers are left alone', () => {
    const text =
      '{"a":"12345678901234567890","b":"x:12345678901234567890","c":"1e400","d":"1.","e":"t,1234567890123456.","f":12345678901234567890}';
    const out = parseExactJson(text) as Record<string, unknown>;
    expect(out).toMatchObject({ a: '12345678901234567890', b: 'x:12345678901234567890', c: '1e400', d: '1.', e: 't,1234567890123456.' });
    expect(written(out)).toBe(text);
  });

  test('malformed JSON still throws a SyntaxError', () => {
    for (const text of ['{"a":12345678901234567890', '[1e400,]', '{"a":01}', '']) expect(() => parseExactJson(text)).toThrow(SyntaxError);
  });

  test('exact numbers beside nesting of any depth: nothing overflows, nothing is cut', () => {
    const deep = '['.repeat(200_000) + '12345678901234567891' + ']'.repeat(200_000);
    const out = parseExactJson(`{"deep":${deep},"s":"[[[\\"]]] 12345678901234567890","n":12345678901234567890}`) as {
      deep: unknown;
      s: string;
      n: RawJson;
    };
    expect(out.n.rawJSON).toBe('12345678901234567890');
    expect(out.s).toBe('[[["]]] 12345678901234567890');
    let depth = 0;
    let v = out.deep;
    for (; Array.isArray(v); v = v[0]) depth++;
    expect(depth).toBe(200_000);
    expect((v as RawJson).rawJSON).toBe('12345678901234567891');
  });

  test('a key named __proto__ holding an exact number stays an own property, the prototype untouched', () => {
    const out = parseExactJson('{"__proto__":12345678901234567890}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect((Object.getOwnPropertyDescriptor(out, '__proto__')!.value as RawJson).rawJSON).toBe('12345678901234567890');
  });

  test('marker-like strings a sender writes are kept as strings', () => {
    const text = JSON.stringify({ a: '\u0000abc:0', b: '\u0000' }).replace('}', ',"n":12345678901234567890}');
    expect(parseExactJson(text)).toMatchObject({ a: '\u0000abc:0', b: '\u0000' });
  });

  test('a syntax error is reported for the text as sent, even when it holds exact numbers', () => {
    const text = '{"n":12345678901234567890,"m":12345678901234567890 "x"}';
    let expected = '';
    try {
      JSON.parse(text);
    } catch (err) {
      expected = (err as Error).message;
    }
    expect(() => parseExactJson(text)).toThrow(expected);
  });

  test('every one of many exact numbers lands in its own place', () => {
    const text = `{"v":[${Array.from({ length: 100_000 }, (_, i) => `12345678901234567${String(i).padStart(6, '0')}`).join(',')}]}`;
    const out = parseExactJson(text) as { v: RawJson[] };
    expect(out.v.every((n, i) => n.rawJSON === `12345678901234567${String(i).padStart(6, '0')}`)).toBe(true);
  });

  test('a thousand random numbers keep their values (an independent BigInt oracle)', () => {
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 1000; i++) {
      const digits = Array.from({ length: 1 + rand(40) }, () => rand(10)).join('');
      const point = rand(digits.length + 1);
      const mantissa = point === digits.length ? digits : `${digits.slice(0, point) || '0'}.${digits.slice(point)}`;
      const text = `${rand(2) ? '-' : ''}${mantissa.replace(/^0+(?=\d)/, '')}${rand(2) ? `e${rand(500) - 250}` : ''}`;
      const v = (parseExactJson(`[${text}]`) as unknown[])[0];
      expect(sameValue(written(v), text), `${text} -> ${written(v)}`).toBe(true);
    }
  });
});

describe('exact numbers in the rest of the core', () => {
  test('records without source_id hash by the value of their numbers', () => {
    const key = (json: string) => contentKey('n', parseExactJson(json) as Record<string, unknown>);
    expect(key('{"v":1}')).toBe(key('{"v":1.0}'));
    expect(key('{"v":1}')).toBe(key('{"v":1e0}'));
    expect(key('{"v":12345678901234567890}')).toBe(key('{"v":1.2345678901234567890e19}'));
    expect(key('{"v":12345678901234567890}')).toBe(key('{"v":12345678901234567890.000}'));
    expect(key('{"v":12345678901234567890}')).not.toBe(key('{"v":12345678901234567891}'));
    expect(key('{"v":0.1}')).not.toBe(key('{"v":0.1000000000000000055511151231257827}'));
  });

  test('asDoubles gives a schema validator plain numbers and leaves the record alone', () => {
    const record = parseExactJson('{"a":12345678901234567890,"b":[1e-400,{"c":0.1000000000000000055511151231257827}],"d":"x"}') as Record<
      string,
      unknown
    >;
    expect(asDoubles(record)).toEqual({ a: Number('12345678901234567890'), b: [0, { c: 0.1 }], d: 'x' });
    expect(isExactNumber(record.a)).toBe(true);
  });
});
