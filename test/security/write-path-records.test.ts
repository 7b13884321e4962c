import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MAX_SOURCE_ID_BYTES } from '../../src/core/normalize-record';
import { bearer, testApi, type TestApi } from '../helpers/api';

let t: TestApi;
let key: string;
beforeAll(async () => {
  t = await testApi();
  key = await t.key('acme', ['ingest', 'read', 'admin']);
});
afterAll(() => t.close());

type Intake = 'batch' | 'webhook' | 'stream';
const INTAKES: Intake[] = ['batch', 'webhook', 'stream'];

/** Sends record texts (one JSON value each; a stream line may be any bytes) through one intake. */
async function send(intake: Intake, vertical: string, records: Array<string | Buffer>) {
  const join = (sep: string) =>
    Buffer.concat(records.flatMap((r, i) => [...(i ? [Buffer.from(sep)] : []), Buffer.isBuffer(r) ? r : Buffer.from(r)]));
  const [url, contentType, payload] =
    intake === 'stream'
      ? [`/api/v1/ingest/${vertical}/x/stream`, 'application/x-ndjson', join('\n')]
      : [
          intake === 'batch' ? `/api/v1/ingest/${vertical}/x/batch` : `/api/v1/webhooks/ingest/${vertical}/x`,
          'application/json',
          Buffer.concat([Buffer.from('{"records":['), join(','), Buffer.from(']}')]),
        ];
  const res = await t.app.inject({ method: 'POST', url, headers: { ...bearer(key), 'content-type': contentType }, payload });
  return { status: res.statusCode, body: res.json() };
}

const get = async (path: string) => (await t.app.inject({ method: 'GET', url: `/api/v1${path}`, headers: bearer(key) })).json();

async function storedSourceIds(vertical: string) {
  const { rows } = await t.db.pool.query<{ source_id: string }>('select source_id from entities where vertical = $1 order by source_id', [
    vertical,
  ]);
  return rows.map((r) => r.source_id);
}

const deep = (levels: number) => `{"name":"deep","vertical_data":${'{"d":'.repeat(levels)}1${'}'.repeat(levels)}}`;
const randomText = (bytes: number) => randomBytes(bytes).toString('base64').slice(0, bytes);

/** Each kind of record PostgreSQL or Node would refuse for the whole batch, with the problem type it must get instead. */
const BAD: Array<[string, string, string]> = [
  ['a NUL in source_id', JSON.stringify({ name: 'n', source_id: 'a\u0000b' }), 'value_error.nul'],
  ['a lone high surrogate in source_id', JSON.stringify({ name: 'n', source_id: 'a\ud800' }), 'value_error.unicode'],
  ['a lone low surrogate in name', JSON.stringify({ name: '\udc00n' }), 'value_error.unicode'],
  ['a NUL in name', JSON.stringify({ name: 'n\u0000' }), 'value_error.nul'],
  ['a NUL in a nested key', JSON.stringify({ name: 'n', vertical_data: { a: [{ ['b\u0000']: 1 }] } }), 'value_error.nul'],
  ['a lone surrogate in a nested value', JSON.stringify({ name: 'n', tags: ['ok', 'x\udfff'] }), 'value_error.unicode'],
  ['a lone surrogate in a folded key', JSON.stringify({ name: 'n', ['\ud83d']: 1 }), 'value_error.unicode'],
  [
    `a source_id of ${MAX_SOURCE_ID_BYTES + 1} bytes`,
    JSON.stringify({ name: 'n', source_id: randomText(MAX_SOURCE_ID_BYTES + 1) }),
    'value_error.too_long',
  ],
  [
    'a 2,700-byte random source_id (beyond the unique index)',
    JSON.stringify({ name: 'n', source_id: randomText(2700) }),
    'value_error.too_long',
  ],
  ['a 5,000-level nesting', deep(5000), 'value_error.too_deep'],
  ['a 150,000-level nesting', deep(150_000), 'value_error.too_deep'],
  ['a NUL in a key named in an error location', '{"name":"n","vertical_data":{"k\\u0000":{"__proto__":1}}}', 'value_error.forbidden_key'],
  [
    'a lone surrogate in a key named in an error location',
    `{"name":"n","\\udbff":${'['.repeat(40)}${']'.repeat(40)}}`,
    'value_error.too_deep',
  ],
  ['a number beyond a double', '{"name":"n","v":1e400}', 'value_error.number'],
  ['a negative number beyond a double', '{"name":"n","v":{"w":[-1.5e99999]}}', 'value_error.number'],
  ['a number too close to zero for a double', '{"name":"n","v":1e-400}', 'value_error.number'],
  ['a number with more digits than numeric holds', `{"name":"n","v":0.${'7'.repeat(20_000)}}`, 'value_error.number'],
  ['a source_id beyond a double', '{"name":"n","source_id":1e400}', 'value_error.number'],
  ['a string with a NUL as the record', JSON.stringify('x\u0000'), 'type_error.object'],
  [
    'a huge key under a forbidden one',
    JSON.stringify({ name: 'n', vertical_data: { ['k'.repeat(1_000_000)]: JSON.parse('{"__proto__":1}') } }),
    'value_error.forbidden_key',
  ],
];

describe.each(INTAKES)('one bad record among good ones, through the %s intake', (intake) => {
  test.each(BAD.map(([what, json, type], i) => [what, json, type, i] as const))(
    '%s: the good records land, the bad one goes to the DLQ',
    async (_what, json, type, i) => {
      const vertical = `bad${i}-${intake}`;
      // The last record's exact number sends the whole body through the exact parse.
      const res = await send(intake, vertical, [
        JSON.stringify({ name: 'first', source_id: 'g1' }),
        json,
        '{"name":"last","source_id":"g2","n":12345678901234567890}',
      ]);
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(200);
      expect(res.body).toMatchObject({ status: 'partial', inserted: 2 });
      expect(intake === 'stream' ? res.body.rejected + res.body.parse_errors : res.body.rejected).toBe(1);
      expect(await storedSourceIds(vertical)).toEqual(['g1', 'g2']);
      const dlq = await get(`/ingestions/${res.body.ingestion_id}/errors`);
      expect(dlq.items).toHaveLength(1);
      const [entry] = dlq.items;
      expect(entry.position).toBe(intake === 'stream' ? 2 : 1);
      expect(entry.messages.map((m: { type: string }) => m.type)).toContain(type);
      expect(entry.messages[0].msg.length).toBeGreaterThan(0);
      expect(entry.raw.length).toBeGreaterThan(0);
      expect(await get(`/ingestions/${res.body.ingestion_id}`)).toMatchObject({ status: 'partial', record_count: 3, rejected: 1 });
    },
  );
});

describe('when every record is bad', () => {
  test.each(['batch', 'webhook'] as const)('%s: 422 with every reason, each record in the DLQ, nothing stored', async (intake) => {
    const res = await send(
      intake,
      `allbad-${intake}`,
      BAD.map(([, json]) => json),
    );
    expect(res.status).toBe(422);
    const types = BAD.map(([, , type]) => type);
    expect(new Set(res.body.detail.map((d: { type: string }) => d.type))).toEqual(new Set(types));
    const dlq = await get(`/ingestions/${res.body.ingestion_id}/errors?limit=100`);
    expect(dlq.items.map((e: { position: number }) => e.position)).toEqual(BAD.map((_, i) => i));
    expect(await storedSourceIds(`allbad-${intake}`)).toEqual([]);
  });

  test('stream: 200 with status failed, every line in the DLQ', async () => {
    const res = await send(
      'stream',
      'allbad-stream',
      BAD.map(([, json]) => json),
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'failed', accepted: 0, rejected: BAD.length });
    expect((await get(`/ingestions/${res.body.ingestion_id}/errors?limit=100`)).items).toHaveLength(BAD.length);
  });
});

describe('lines of a stream that do not even parse', () => {
  const GARBAGE: Array<[string, Buffer]> = [
    ['a raw NUL byte (the parse message repeats it)', Buffer.from('{"name":\u0000}')],
    ['a raw NUL byte inside a string', Buffer.from('{"name":"a\u0000b"}')],
    ['only NUL bytes', Buffer.alloc(64)],
    ['invalid UTF-8', Buffer.from([0x7b, 0xc3, 0x28, 0x7d])],
    ['a cut-off surrogate escape', Buffer.from('{"name":"\\ud8')],
    ['a number that is not JSON', Buffer.from('{"name":"n","v":01}')],
    ['a line longer than the limit', Buffer.from(`{"name":"${'x'.repeat(1024 * 1024 + 10)}"}`)],
  ];
  test.each(GARBAGE)('%s: refused with a parse error, the rest kept', async (_what, line) => {
    const vertical = `garbage-${GARBAGE.findIndex(([, l]) => l === line)}`;
    const res = await send('stream', vertical, [
      JSON.stringify({ name: 'a', source_id: 'g1' }),
      line,
      JSON.stringify({ name: 'b', source_id: 'g2' }),
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'partial', inserted: 2, parse_errors: 1 });
    const [entry] = (await get(`/ingestions/${res.body.ingestion_id}/errors`)).items;
    expect(entry).toMatchObject({ position: 2, error_type: 'parse_error' });
    expect(entry.raw).not.toContain('\u0000');
    expect(entry.messages[0].msg).not.toContain('\u0000');
  });
});

describe('what a record may hold without harm', () => {
  test.each(INTAKES)('%s: 50,000 keys, long strings, 32 levels and every other Unicode character are stored as sent', async (intake) => {
    const wide = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i]));
    let nested: unknown = 'bottom';
    for (let i = 0; i < 31; i++) nested = { d: nested };
    const odd = { text: '\u0001\u001f\t\n\\u0000 literal, 😀, \uffff, \ufeff', [' ']: 'space key', ['']: 'empty key' };
    const res = await send(intake, `wide-${intake}`, [
      JSON.stringify({ name: 'wide', source_id: 'w', vertical_data: wide }),
      JSON.stringify({ name: 'nested', source_id: 'n', vertical_data: { nested } }),
      JSON.stringify({ name: 'odd', source_id: 'o'.repeat(MAX_SOURCE_ID_BYTES), vertical_data: odd }),
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'complete', inserted: 3 });
    const { rows } = await t.db.pool.query('select source_id, vertical_data from entities where vertical = $1 order by name', [
      `wide-${intake}`,
    ]);
    expect(rows.map((r) => r.vertical_data)).toEqual([{ nested }, odd, wide]);
  });

  test('a schema with many failing properties reports at most 10 problems per record, and the good records still land', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/schemas',
      headers: bearer(key),
      payload: { vertical: 'strict', entity_type: 'x', schema: { additionalProperties: { type: 'number' } } },
    });
    const noisy = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k\u0000${i}`, 'not a number']));
    const res = await send('batch', 'strict', [
      JSON.stringify({ name: 'ok', source_id: 'g1', v: 1 }),
      JSON.stringify({ name: 'noisy', vertical_data: noisy }),
    ]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'partial', inserted: 1, rejected: 1 });
    expect(res.body.errors).toHaveLength(10);
    expect(res.body.errors[0]).toMatchObject({ loc: ['body', 'records', 1, 'vertical_data', 'k\\u00000'], type: 'schema.type' });
  });

  test(`a source_id of ${MAX_SOURCE_ID_BYTES} incompressible bytes fits the unique index beside the longest vertical and entity type`, async () => {
    const vertical = 'v'.repeat(64);
    const supplementary = () => String.fromCodePoint(0x10000 + (randomBytes(3).readUIntBE(0, 3) % 0xf0000));
    const ids = [randomText(MAX_SOURCE_ID_BYTES), Array.from({ length: MAX_SOURCE_ID_BYTES / 4 }, supplementary).join('')];
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/ingest/${vertical}/${'e'.repeat(64)}/batch`,
      headers: bearer(key),
      payload: { records: ids.map((id) => ({ name: 'long id', source_id: id })) },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'complete', inserted: 2 });
    expect(await storedSourceIds(vertical)).toEqual([...ids].sort((a, b) => (a < b ? -1 : 1)));
  });
});
