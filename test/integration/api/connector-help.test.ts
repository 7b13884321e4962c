import { afterAll, beforeAll, expect, test } from 'vitest';
import { bearer, testApi, type TestApi } from '../../helpers/api';

/** The help a rejected connector body gives: the field a typo meant, what is wrong with a value, every problem at once. */
let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('acme', ['connectors']);
});
afterAll(() => t.close());

const body = (extra: Record<string, unknown> = {}) => ({
  name: 'products',
  connector_type: 'postgresql',
  connection_config: { dsn: 'postgresql://reader:pw@db.example.com:5432/erp' },
  vertical: 'manufacturing',
  entity_type: 'product',
  table: 'products',
  cursor: { column: 'updated_at' },
  ...extra,
});
const problems = async (payload: object) => {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/connectors?dry_run=true', headers: bearer(key), payload });
  expect(res.statusCode, res.body).toBe(422);
  return res.json().detail as Array<{ loc: string[]; msg: string; type: string }>;
};

test('a misspelt field gets the field it most likely meant, and the list names every top-level field', async () => {
  const typos: Array<[string, string]> = [
    ['shedule', 'schedule'],
    ['enable', 'enabled'],
    ['timezon', 'timezone'],
    ['entitytype', 'entity_type'],
    ['verticle', 'vertical'],
    ['batchsize', 'batch_size'],
    ['Query', 'query'],
    ['name_colum', 'name_column'],
    ['sourceid', 'source_id'],
    ['curosr', 'cursor'],
  ];
  for (const [typo, meant] of typos) {
    const [p, ...rest] = await problems(body({ [typo]: 'x' }));
    expect(rest, typo).toEqual([]);
    expect(p).toMatchObject({ loc: ['body', typo], type: 'unknown_field' });
    expect(p!.msg, typo).toMatch(new RegExp(`^unknown field - did you mean "${meant}"\\?`));
    for (const field of ['name', 'vertical', 'entity_type', 'schedule', 'timezone', 'enabled', 'connection_config', 'table', 'cursor'])
      expect(p!.msg, field).toContain(field);
  }
  // Nothing close: the whole list, no guess.
  expect((await problems(body({ colour: 'red' })))[0]!.msg).toMatch(
    /^unknown field - expected one of name, vertical, entity_type, schedule/,
  );
  // Nested settings get the same help.
  expect((await problems(body({ cursor: { colum: 'updated_at' } })))[0]).toMatchObject({
    loc: ['body', 'cursor', 'colum'],
    msg: expect.stringMatching(/did you mean "column"/),
  });
});

test('a vertical or entity_type that is given but not a valid name says what is wrong and what to write', async () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['vertical', 'Manufacturing', /^vertical "Manufacturing" is not a valid name: .* - write "manufacturing"$/],
    ['vertical', 'Heavy Industry', /write "heavy_industry"$/],
    ['entity_type', 'Product', /^entity_type "Product" is not a valid name/],
    ['vertical', 42, /^vertical 42 is not a valid name/],
    ['vertical', 'x'.repeat(65), /is not a valid name: lower-case letters, digits, _ and -, 1 to 64 characters$/],
  ];
  for (const [field, value, msg] of cases) {
    const [p] = await problems(body({ [field]: value }));
    expect(p, String(value)).toMatchObject({ loc: ['body', field], type: 'value_error', msg: expect.stringMatching(msg) });
  }
  const missing = await problems({ ...body(), vertical: undefined });
  expect(missing).toEqual([
    { loc: ['body', 'vertical'], msg: expect.stringMatching(/^vertical is required/), type: 'value_error.missing' },
  ]);
});

test('an invalid timezone does not hide an invalid schedule: both are reported', async () => {
  const both = await problems(body({ schedule: 'every hour', timezone: 'Mars/Olympus' }));
  expect(both.map((p) => p.loc.join('.'))).toEqual(['body.timezone', 'body.schedule']);
  expect(both[0]!.msg).toMatch(/"Mars\/Olympus" is not an IANA time zone/);
  expect(both[1]!.msg).toMatch(/"every hour" is not a cron pattern/);
  // A bad timezone alone, even without a schedule, is reported.
  expect((await problems(body({ timezone: 'Mars/Olympus' }))).map((p) => p.loc.join('.'))).toEqual(['body.timezone']);
  expect((await problems(body({ schedule: '* * * * * *', timezone: 'Nowhere' }))).map((p) => p.loc.join('.'))).toEqual([
    'body.timezone',
    'body.schedule',
  ]);
});
