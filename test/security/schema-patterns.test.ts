import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_SCHEMA_PATTERNS } from '../../src/core/pattern-safety';
import { bearer, testApi, type TestApi } from '../helpers/api';

/**
 * A schema's regular expressions run against every record of its vertical in the API process every tenant shares:
 * one that backtracks without end would stall ingestion for all of them. Registration refuses each pattern that is
 * not shown to run in linear time, wherever in the schema it sits, and keeps ordinary patterns working.
 */

let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('patterns', ['ingest']);
});
afterAll(() => t.close());

const register = (schema: object, entityType = 'item') =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/schemas',
    headers: bearer(key),
    payload: { vertical: 'rx', entity_type: entityType, schema },
  });
const withPattern = (pattern: string) => ({ type: 'object', properties: { code: { type: 'string', pattern } } });

// Catastrophic or super-linear backtracking, each a known shape: nested, overlapping and adjacent repetition.
const SLOW = [
  '^(a+)+$',
  '(a|a)*$',
  '^(a|aa)+$',
  '^(\\w+\\s?)*$',
  '^(\\d+)*x$',
  '(x+x+)+y',
  '^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$',
  '^(.*,)*$',
  '\\s*#?\\s*$',
  '^.*a.*a.*a.*a.*b$',
];
const FINE = [
  '^[a-z0-9-]+$',
  '^\\d{4}-\\d{2}-\\d{2}$',
  '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$',
  '^[^@\\s]+@[^@\\s]+$',
  'ab+c',
  '^(?:[a-f0-9]{2}:){5}[a-f0-9]{2}$',
];

describe('regular expressions in a schema', () => {
  test('each pattern that can backtrack super-linearly is refused with a 422 at its place, saying what to change', async () => {
    for (const pattern of SLOW) {
      const res = await register(withPattern(pattern));
      expect(res.statusCode, pattern).toBe(422);
      const [problem, ...more] = res.json().detail;
      expect(more, pattern).toEqual([]);
      expect(problem.loc, pattern).toEqual(['body', 'schema', 'properties', 'code', 'pattern']);
      expect(problem.type).toBe('value_error.schema');
      expect(problem.msg, pattern).toMatch(/grows .* with the text|could not be shown to run in linear time/);
    }
  });

  test('ordinary patterns are registered and still validate records', async () => {
    for (const [i, pattern] of FINE.entries()) expect((await register(withPattern(pattern), `fine${i}`)).statusCode, pattern).toBe(201);
    const batch = await t.app.inject({
      method: 'POST',
      url: '/api/v1/ingest/rx/fine0/batch',
      headers: bearer(key),
      payload: {
        records: [
          { name: 'ok', source_id: 'a', vertical_data: { code: 'abc-1' } },
          { name: 'bad', source_id: 'b', vertical_data: { code: 'ABC' } },
        ],
      },
    });
    expect(batch.json()).toMatchObject({ inserted: 1, rejected: 1 });
  });

  test('a slow pattern is found wherever it sits: nested properties, items, combinators, $defs, patternProperties names', async () => {
    const slow = '^(a+)+$';
    const places: Array<[object, string[]]> = [
      [{ properties: { a: { properties: { b: { pattern: slow } } } } }, ['properties', 'a', 'properties', 'b', 'pattern']],
      [{ properties: { tags: { type: 'array', items: { pattern: slow } } } }, ['properties', 'tags', 'items', 'pattern']],
      [{ anyOf: [{ pattern: '^x$' }, { pattern: slow }] }, ['anyOf', '1', 'pattern']],
      [{ $defs: { code: { pattern: slow } } }, ['$defs', 'code', 'pattern']],
      [{ patternProperties: { [slow]: { type: 'string' } } }, ['patternProperties', slow]],
      [{ propertyNames: { pattern: slow } }, ['propertyNames', 'pattern']],
      [{ properties: { pattern: { type: 'string', pattern: slow } } }, ['properties', 'pattern', 'pattern']],
      // Properties and definitions named like the data keywords are schemas all the same.
      [{ properties: { enum: { type: 'string', pattern: slow } } }, ['properties', 'enum', 'pattern']],
      [{ properties: { examples: { items: { pattern: slow } } } }, ['properties', 'examples', 'items', 'pattern']],
      [{ $defs: { const: { pattern: slow } } }, ['$defs', 'const', 'pattern']],
      [
        { patternProperties: { '^x': { properties: { default: { pattern: slow } } } } },
        ['patternProperties', '^x', 'properties', 'default', 'pattern'],
      ],
    ];
    for (const [schema, loc] of places) {
      const res = await register(schema);
      expect(res.statusCode, JSON.stringify(schema)).toBe(422);
      expect(res.json().detail.map((p: { loc: string[] }) => p.loc)).toEqual([['body', 'schema', ...loc]]);
    }
  });

  test('"pattern" inside data (const, enum, default, examples) is not a regular expression and is left alone', async () => {
    const schema = { type: 'object', examples: [{ pattern: '^(a+)+$' }], default: { pattern: '(a|a)*' }, const: { pattern: '(x+x+)+y' } };
    expect((await register(schema, 'data')).statusCode).toBe(201);
  });

  test(`a schema holds at most ${MAX_SCHEMA_PATTERNS} patterns, so its analysis is bounded`, async () => {
    const properties = Object.fromEntries(Array.from({ length: MAX_SCHEMA_PATTERNS + 1 }, (_, i) => [`p${i}`, { pattern: `^p${i}$` }]));
    const res = await register({ properties });
    expect(res.statusCode).toBe(422);
    expect(res.json().detail[0].msg).toContain(`at most ${MAX_SCHEMA_PATTERNS} regular expressions`);
  });
});
