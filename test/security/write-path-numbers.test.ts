import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bearer, testApi, type TestApi } from '../helpers/api';

let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('acme', ['ingest', 'read', 'admin']);
});
afterAll(() => t.close());

type Intake = 'batch' | 'webhook' | 'stream';

/** Sends record texts exactly as written (the numbers in them must not pass through a double on this side either). */
async function send(intake: Intake, vertical: string, records: string[]) {
  const [url, contentType, payload] =
    intake === 'stream'
      ? [`/api/v1/ingest/${vertical}/x/stream`, 'application/x-ndjson', records.join('\n')]
      : [
          intake === 'batch' ? `/api/v1/ingest/${vertical}/x/batch` : `/api/v1/webhooks/ingest/${vertical}/x`,
          'application/json',
          `{"records":[${records.join(',')}]}`,
        ];
  const res = await t.app.inject({ method: 'POST', url, headers: { ...bearer(key), 'content-type': contentType }, payload });
  return { status: res.statusCode, body: res.json() };
}

/** The raw response text of GET /entities, so the client side parses nothing through doubles either. */
const entitiesText = async (query: string) =>
  (await t.app.inject({ method: 'GET', url: `/api/v1/entities?${query}`, headers: bearer(key) })).body;

/** PostgreSQL's numeric equality, an oracle independent of ours: is the stored value the one that was sent? */
async function storedEquals(vertical: string, sourceId: string, sent: string): Promise<boolean> {
  const { rows } = await t.db.pool.query<{ same: boolean }>(
    `select (vertical_data->'v')::text::numeric = $3::numeric as same from entities where vertical = $1 and source_id = $2`,
    [vertical, sourceId, sent],
  );
  return rows[0]?.same ?? false;
}

const EXACT = [
  '12345678901234567890',
  '-9223372036854775809',
  '18446744073709551616',
  '9007199254740993',
  '0.1000000000000000055511151231257827',
  '3.14159265358979323846264338327950288419716939937510',
  '1.2345678901234567890e25',
  '-4.9406564584124654e-320',
  '123456789012345678901234567890.123456789',
  '1.7976931348623157e308',
  '2.2250738585072014e-308',
  '5e-324',
  '1e21',
  '1.5E+300',
  '0.1',
  '-0',
  '1.0',
];

describe.each(['batch', 'webhook', 'stream'] as const)('exact numbers through the %s intake', (intake) => {
  test('every value is stored and read back exactly, and the ingestion is complete', async () => {
    const vertical = `exact-${intake}`;
    const res = await send(
      intake,
      vertical,
      EXACT.map((n, i) => `{"name":"n${i}","source_id":"s${i}","v":${n}}`),
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'complete', inserted: EXACT.length });
    for (const [i, n] of EXACT.entries()) expect(await storedEquals(vertical, `s${i}`, n), n).toBe(true);
    for (const [i, n] of EXACT.entries()) {
      const text = await entitiesText(`vertical=${vertical}&source_id=s${i}`);
      const shown = /"vertical_data":\{"v":(-?[\d.eE+-]+)\}/.exec(text)![1]!;
      const { rows } = await t.db.pool.query<{ same: boolean }>('select $1::numeric = $2::numeric as same', [shown, n]);
      expect(rows[0]!.same, `${n} read back as ${shown}`).toBe(true);
    }
  });

  test('numbers beyond a double are refused per record with the reason; the rest is stored', async () => {
    const vertical = `range-${intake}`;
    const res = await send(intake, vertical, [
      '{"name":"a","source_id":"a","v":1e400}',
      '{"name":"b","source_id":"b","v":12345678901234567890}',
      '{"name":"c","source_id":"c","v":[-1e-400]}',
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'partial', inserted: 1, rejected: 2 });
    const dlq = (
      await t.app.inject({ method: 'GET', url: `/api/v1/ingestions/${res.body.ingestion_id}/errors`, headers: bearer(key) })
    ).json();
    expect(
      dlq.items.map((e: { raw: string; messages: Array<{ loc: unknown[]; msg: string }> }) => [
        e.raw,
        e.messages[0]!.loc,
        e.messages[0]!.msg,
      ]),
    ).toEqual([
      [
        '{"name":"a","source_id":"a","v":1e400}',
        ['v'],
        expect.stringMatching(/1e400 is beyond the range of a double.*send it as a string/),
      ],
      ['{"name":"c","source_id":"c","v":[-1e-400]}', ['v', 0], expect.stringMatching(/-1e-400 is too close to zero/)],
    ]);
    expect(await storedEquals(vertical, 'b', '12345678901234567890')).toBe(true);
  });
});

describe('exact numbers in keys and checks', () => {
  test('two source_ids that are the same double stay two entities', async () => {
    const res = await send('batch', 'bigids', [
      '{"name":"a","source_id":12345678901234567890}',
      '{"name":"b","source_id":12345678901234567891}',
      '{"name":"c","source_id":1.0}',
    ]);
    expect(res.body).toMatchObject({ inserted: 3 });
    const { rows } = await t.db.pool.query('select source_id from entities where vertical = $1 order by source_id', ['bigids']);
    expect(rows.map((r) => r.source_id)).toEqual(['1', '12345678901234567890', '12345678901234567891']);
  });

  test('records without source_id: equal values (1, 1.0, 1e0; trailing zeros) are one entity, neighbours beyond 2^53 are two', async () => {
    const first = await send('batch', 'byvalue', ['{"name":"n","v":1}', '{"name":"n","v":12345678901234567890}']);
    expect(first.body).toMatchObject({ inserted: 2 });
    const again = await send('stream', 'byvalue', [
      '{"name":"n","v":1.0}',
      '{"name":"n","v":1e0}',
      '{"name":"n","v":10e-1}',
      '{"name":"n","v":12345678901234567890.00}',
      '{"name":"n","v":1.2345678901234567890e19}',
    ]);
    expect(again.body).toMatchObject({ inserted: 0, updated: 0 });
    const other = await send('webhook', 'byvalue', ['{"name":"n","v":12345678901234567891}', '{"name":"n","v":1.0000000000000000001}']);
    expect(other.body).toMatchObject({ inserted: 2 });
    const { rows } = await t.db.pool.query(
      `select vertical_data->>'v' as v from entities where vertical = 'byvalue' order by (vertical_data->>'v')::numeric`,
    );
    expect(rows.map((r) => r.v)).toEqual(['1', '1.0000000000000000001', '12345678901234567890', '12345678901234567891']);
  });

  test('a registered schema checks exact numbers by their nearest double and stores them exactly', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/schemas',
      headers: bearer(key),
      payload: { vertical: 'checked', entity_type: 'x', schema: { properties: { v: { type: 'integer', minimum: 0 } } } },
    });
    const res = await send('batch', 'checked', [
      '{"name":"a","source_id":"a","v":12345678901234567890}',
      '{"name":"b","source_id":"b","v":-12345678901234567890}',
    ]);
    expect(res.body).toMatchObject({
      inserted: 1,
      rejected: 1,
      errors: [{ loc: ['body', 'records', 1, 'vertical_data', 'v'], type: 'schema.minimum' }],
    });
    expect(await storedEquals('checked', 'a', '12345678901234567890')).toBe(true);
  });

  test('500 random numbers of up to 40 digits keep their values end to end', async () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const numbers = Array.from({ length: 500 }, () => {
      const digits = String(1 + rand(9)) + Array.from({ length: rand(40) }, () => rand(10)).join('');
      const point = 1 + rand(digits.length);
      return `${rand(2) ? '-' : ''}${digits.slice(0, point)}${point < digits.length ? '.' + digits.slice(point) : ''}${rand(2) ? `e${rand(500) - 250}` : ''}`;
    });
    const res = await send(
      'batch',
      'random',
      numbers.map((n, i) => `{"name":"r","source_id":"${i}","v":${n}}`),
    );
    expect(res.body).toMatchObject({ status: 'complete', inserted: 500 });
    const { rows } = await t.db.pool.query<{ source_id: string; same: boolean }>(
      `select e.source_id, (e.vertical_data->'v')::text::numeric = s.n::numeric as same
         from entities e join unnest($1::text[]) with ordinality as s(n, i) on e.source_id = (s.i - 1)::text where e.vertical = 'random'`,
      [numbers],
    );
    expect(rows.filter((r) => !r.same).map((r) => numbers[Number(r.source_id)])).toEqual([]);
    expect(rows).toHaveLength(500);
  });
});
