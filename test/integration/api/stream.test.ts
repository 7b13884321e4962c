import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { STREAM_BATCH_BYTES } from '../../../src/api/routes/stream';
import { bearer, testApi, type TestApi } from '../../helpers/api';

let t: TestApi;
let key: string;
let base: string;
beforeAll(async () => {
  // Below one stream batch (1,000), so a single blocked stream fills the server.
  t = await testApi({ maxPendingRecords: 900 });
  key = await t.key('acme', ['ingest', 'read']);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
afterAll(() => t.close());

/** A streaming request over a real socket: write lines as you like, then `end()` for the response. */
function openStream(path: string, contentType = 'application/x-ndjson') {
  const req = http.request(`${base}/api/v1${path}`, { method: 'POST', headers: { ...bearer(key), 'content-type': contentType } });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are checked field by field
  const response = new Promise<{ status: number; body: any; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text), headers: res.headers }));
    });
    req.on('error', reject);
  });
  return { req, end: () => (req.end(), response), response };
}

async function countIn(vertical: string) {
  return (await t.db.pool.query('select count(*)::int as n from entities where vertical = $1', [vertical])).rows[0].n as number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('POST /ingest/{vertical}/{entity_type}/stream', () => {
  test('the QANATIX example body (lines joined by \\n, no trailing newline) is ingested', async () => {
    const lines = [JSON.stringify({ name: 'Event 1', value: 42.5 }), JSON.stringify({ name: 'Event 2', value: 38.1 })].join('\n');
    const s = openStream('/ingest/iot/event/stream');
    s.req.write(lines);
    const res = await s.end();
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 2, inserted: 2, rejected: 0, parse_errors: 0, status: 'complete' });
    const { rows } = await t.db.pool.query("select name, vertical_data from entities where vertical = 'iot' order by name");
    expect(rows).toEqual([
      { name: 'Event 1', vertical_data: { value: 42.5 } },
      { name: 'Event 2', vertical_data: { value: 38.1 } },
    ]);
  });

  test('bad lines go to the DLQ with their line numbers and the stream goes on', async () => {
    await t.app.inject({
      method: 'POST',
      url: '/api/v1/schemas',
      headers: bearer(key),
      payload: { vertical: 'mixed', entity_type: 'x', schema: { properties: { v: { type: 'number' } } } },
    });
    const body = [
      '{"name":"a","v":1}',
      '{not json',
      '',
      '[1,2]',
      '{"v":2}',
      '{"name":"b","v":"two"}',
      Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1'),
      '{"name":"c","v":3}',
    ];
    const s = openStream('/ingest/mixed/x/stream');
    for (const line of body) s.req.write(Buffer.from(line + '\n', line.startsWith('{\u00ff') ? 'latin1' : 'utf8'));
    const res = await s.end();
    expect(res.body).toMatchObject({ accepted: 2, inserted: 2, rejected: 3, parse_errors: 2, status: 'partial' });
    const dlq = (
      await t.app.inject({ method: 'GET', url: `/api/v1/ingestions/${res.body.ingestion_id}/errors`, headers: bearer(key) })
    ).json();
    expect(
      dlq.items
        .map((e: { position: number; error_type: string }) => [e.position, e.error_type])
        .sort((a: number[], b: number[]) => a[0]! - b[0]!),
    ).toEqual([
      [2, 'parse_error'],
      [4, 'invalid_record'],
      [5, 'invalid_record'],
      [6, 'schema_validation'],
      [7, 'parse_error'],
    ]);
    expect(await countIn('mixed')).toBe(2);
  });

  test('records are written within about a second even while the sender pauses', async () => {
    const s = openStream('/ingest/slow/x/stream');
    s.req.write('{"name":"one"}\n{"name":"two"}\n{"name":"three"}\n');
    let seen = 0;
    for (let i = 0; i < 40 && seen < 3; i++) {
      await sleep(100);
      seen = await countIn('slow');
    }
    expect(seen).toBe(3); // before the request ended
    s.req.write('{"name":"four"}\n');
    expect((await s.end()).body).toMatchObject({ accepted: 4, inserted: 4 });
  });

  test('while a batch is being written the server stops reading: the sender feels TCP backpressure, then everything lands', async () => {
    // Hold a lock that blocks inserts into entities, so the first flush waits.
    const blocker = new pg.Client({ connectionString: t.db.url });
    await blocker.connect();
    await blocker.query('begin');
    await blocker.query('lock table entities in share mode');
    const s = openStream('/ingest/pressure/x/stream');
    const line = JSON.stringify({ name: 'n', pad: 'x'.repeat(1000) }) + '\n';
    let written = 0;
    let lines = 0;
    const total = 60 * 1024 * 1024;
    // Write until the socket refuses more and stays full.
    for (;;) {
      const ok = s.req.write(line.replace('"n"', `"n${lines}"`));
      written += line.length;
      lines++;
      if (written >= total) break;
      if (!ok) {
        const drained = await Promise.race([new Promise((r) => s.req.once('drain', () => r(true))), sleep(1500).then(() => false)]);
        if (!drained) break;
      }
    }
    expect(written).toBeLessThan(total); // the sender was held back
    expect(written).toBeLessThan(32 * 1024 * 1024);
    expect(await countIn('pressure')).toBe(0);
    await blocker.query('rollback');
    await blocker.end();
    await new Promise((r) => s.req.once('drain', r));
    const res = await s.end();
    expect(res.body).toMatchObject({ accepted: lines, inserted: lines });
    expect(await countIn('pressure')).toBe(lines);
  });

  test('when too many records are pending server-wide, a new stream gets 429 with Retry-After', async () => {
    const blocker = new pg.Client({ connectionString: t.db.url });
    await blocker.connect();
    await blocker.query('begin');
    await blocker.query('lock table entities in share mode');
    const first = openStream('/ingest/busy/x/stream');
    for (let i = 0; i < 1500; i++) first.req.write(`{"name":"r${i}"}\n`);
    for (let i = 0; i < 50 && !t.app.pending.full; i++) await sleep(100);
    expect(t.app.pending.full).toBe(true);
    const second = openStream('/ingest/busy/x/stream');
    second.req.write('{"name":"late"}\n');
    const refused = await second.end();
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body.detail).toMatch(/retry/i);
    await blocker.query('rollback');
    await blocker.end();
    expect((await first.end()).body).toMatchObject({ accepted: 1500 });
    expect(t.app.pending.size).toBe(0);
  });

  test(`a batch is written once its lines reach ${STREAM_BATCH_BYTES / 1024 / 1024} MB, however few they are`, async () => {
    const s = openStream('/ingest/bulky/x/stream');
    const pad = 'x'.repeat(1_000_000);
    for (let i = 0; i < 20; i++) s.req.write(`{"name":"b${i}","pad":"${pad}"}\n`);
    expect((await s.end()).body).toMatchObject({ accepted: 20, inserted: 20 });
    // One batch is one transaction, and every row it inserts carries that transaction's start time.
    const { rows } = await t.db.pool.query("select count(*)::int as n from entities where vertical = 'bulky' group by created_at");
    expect(Math.max(...rows.map((r) => r.n))).toBeLessThanOrEqual(Math.ceil(STREAM_BATCH_BYTES / pad.length));
  });

  test('a body that is not NDJSON is refused with 415', async () => {
    const s = openStream('/ingest/x/y/stream', 'text/plain');
    s.req.write('{"name":"a"}\n');
    const res = await s.end();
    expect(res.status).toBe(415);
  });
});
