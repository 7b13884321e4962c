import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../../src/api/app';
import { SecretBox } from '../../../src/crypto/secret-box';
import { createPool } from '../../../src/db/pool';
import { bearer, testApi, type TestApi } from '../../helpers/api';

const SECRET = 'whsec-test-secret';
/** Timestamped signatures only (the default). */
let signed: TestApi;
/** Also QANATIX's signatures of the body alone. */
let compat: TestApi;
/** No WEBHOOK_SECRET. */
let open: TestApi;
let signedKey: string;
let compatKey: string;
let openKey: string;
beforeAll(async () => {
  [signed, compat, open] = await Promise.all([
    testApi({ webhookSecret: SECRET }),
    testApi({ webhookSecret: SECRET, webhookAcceptBodyOnly: true }),
    testApi({ webhookSecret: null }),
  ]);
  [signedKey, compatKey, openKey] = await Promise.all([
    signed.key('acme', ['ingest']),
    compat.key('acme', ['ingest']),
    open.key('acme', ['ingest']),
  ]);
});
afterAll(() => Promise.all([signed.close(), compat.close(), open.close()]));

// Exactly the QANATIX example body, with odd spacing: the signature covers the raw bytes as sent.
const body = '{"records": [{"name": "Updated Product", "source_id": "PROD-789", "vertical_data": {"price": 12.50, "stock": 450}}]}';
const product = (sourceId: string, price = '12.50') =>
  `{"records": [{"name": "Updated Product", "source_id": "${sourceId}", "vertical_data": {"price": ${price}, "stock": 450}}]}`;

const hmac = (message: string, secret = SECRET) => createHmac('sha256', secret).update(message).digest();
const now = () => Math.floor(Date.now() / 1000);
/** QANATIX's scheme: the HMAC of the raw body alone. */
const bodyOnly = (raw: string, secret = SECRET) => ({ 'x-webhook-signature': 'sha256=' + hmac(raw, secret).toString('hex') });
/** The timestamped scheme: the HMAC of "<timestamp>.<raw body>", the timestamp in its own header. */
const stamped = (raw: string, ts: number | string = now(), secret = SECRET) => ({
  'x-webhook-timestamp': String(ts),
  'x-webhook-signature': 'sha256=' + hmac(`${ts}.${raw}`, secret).toString('hex'),
});

const send = (app: FastifyInstance, key: string, raw: string, headers: Record<string, string> = {}, path = 'retail/product') =>
  app.inject({
    method: 'POST',
    url: `/api/v1/webhooks/ingest/${path}`,
    headers: { 'content-type': 'application/json', ...bearer(key), ...headers },
    payload: raw,
  });

const stored = async (t: TestApi, sourceId: string) =>
  (await t.db.pool.query<{ n: number }>('select count(*)::int as n from entities where source_id = $1', [sourceId])).rows[0]!.n;
const price = async (t: TestApi, sourceId: string) =>
  (
    await t.db.pool.query<{ price: number }>("select (vertical_data->>'price')::float8 as price from entities where source_id = $1", [
      sourceId,
    ])
  ).rows[0]?.price;

describe('POST /webhooks/ingest/{vertical}/{entity_type}', () => {
  test('a timestamped signature over "<timestamp>.<raw body>" is accepted', async () => {
    const res = await send(signed.app, signedKey, body, stamped(body));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ inserted: 1, record_count: 1 });
    const { rows } = await signed.db.pool.query("select vertical_data from entities where source_id = 'PROD-789'");
    expect(rows[0].vertical_data).toEqual({ price: 12.5, stock: 450 });
  });

  test("where configured, QANATIX's signature over the raw body alone is accepted", async () => {
    const res = await send(compat.app, compatKey, body, bodyOnly(body));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ inserted: 1, record_count: 1 });
    expect(await price(compat, 'PROD-789')).toBe(12.5);
  });

  test('by default a body-only signature is refused with a message naming the timestamp header', async () => {
    const raw = product('BODY-ONLY');
    const res = await send(signed.app, signedKey, raw, bodyOnly(raw));
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/X-Webhook-Timestamp/);
    expect(await stored(signed, 'BODY-ONLY')).toBe(0);
    expect((await send(signed.app, signedKey, raw, stamped(raw))).statusCode).toBe(200);
  });

  // Each case signs exactly the body it sends, malformed in one way only: the same body and timestamp with a
  // well-formed signature is then accepted, so the 401 came from that one defect.
  const hex = (raw: string, ts: number) => hmac(`${ts}.${raw}`).toString('hex');
  const malformed: Array<[string, (raw: string, ts: number) => Record<string, string>]> = [
    ['missing', (_raw, ts) => ({ 'x-webhook-timestamp': String(ts) })],
    ['empty', (_raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': '' })],
    ['wrong secret', (raw, ts) => stamped(raw, ts, 'other')],
    ['over re-serialized JSON', (raw, ts) => stamped(JSON.stringify(JSON.parse(raw)), ts)],
    ['over another timestamp', (raw, ts) => ({ ...stamped(raw, ts - 1), 'x-webhook-timestamp': String(ts) })],
    ['over the body alone, with a timestamp sent', (raw, ts) => ({ ...bodyOnly(raw), 'x-webhook-timestamp': String(ts) })],
    ['not hex', (_raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': 'sha256=' + 'zz'.repeat(32) })],
    ['without the sha256= prefix', (raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': hex(raw, ts) })],
    ['with another algorithm prefix', (raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': 'sha1=' + hex(raw, ts) })],
    [
      'truncated by one hex digit',
      (raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': 'sha256=' + hex(raw, ts).slice(0, -1) }),
    ],
    ['with an extra byte', (raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': 'sha256=' + hex(raw, ts) + '00' })],
    [
      'in base64',
      (raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': 'sha256=' + hmac(`${ts}.${raw}`).toString('base64') }),
    ],
    [
      'listed twice',
      (raw, ts) => ({ 'x-webhook-timestamp': String(ts), 'x-webhook-signature': `sha256=${hex(raw, ts)}, sha256=${hex(raw, ts)}` }),
    ],
  ];
  const cases = <T>(list: Array<[string, T]>) => list.map(([what, make], i) => [what, make, i] as const);
  test.each(cases(malformed))('a signature %s: 401 and nothing stored; well-formed, the same body passes', async (_what, make, i) => {
    const raw = product(`BAD-${i}`);
    const ts = now();
    const res = await send(signed.app, signedKey, raw, make(raw, ts));
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/signature/i);
    expect(await stored(signed, `BAD-${i}`)).toBe(0);
    expect((await send(signed.app, signedKey, raw, stamped(raw, ts))).statusCode).toBe(200);
    expect(await stored(signed, `BAD-${i}`)).toBe(1);
  });

  const malformedBodyOnly: Array<[string, (raw: string) => Record<string, string>]> = [
    ['missing', () => ({})],
    ['wrong secret', (raw) => bodyOnly(raw, 'other')],
    ['over re-serialized JSON', (raw) => bodyOnly(JSON.stringify(JSON.parse(raw)))],
    ['not hex', () => ({ 'x-webhook-signature': 'sha256=' + 'zz'.repeat(32) })],
    ['without the sha256= prefix', (raw) => ({ 'x-webhook-signature': hmac(raw).toString('hex') })],
    ['truncated by one hex digit', (raw) => ({ 'x-webhook-signature': 'sha256=' + hmac(raw).toString('hex').slice(0, -1) })],
    ['in base64', (raw) => ({ 'x-webhook-signature': 'sha256=' + hmac(raw).toString('base64') })],
  ];
  test.each(cases(malformedBodyOnly))(
    'body-only, a signature %s: 401 and nothing stored; well-formed, the same body passes',
    async (_what, make, i) => {
      const raw = product(`BAD-BODY-${i}`);
      const res = await send(compat.app, compatKey, raw, make(raw));
      expect(res.statusCode).toBe(401);
      expect(res.json().detail).toMatch(/signature/i);
      expect(await stored(compat, `BAD-BODY-${i}`)).toBe(0);
      expect((await send(compat.app, compatKey, raw, bodyOnly(raw))).statusCode).toBe(200);
      expect(await stored(compat, `BAD-BODY-${i}`)).toBe(1);
    },
  );

  // The signature is right for the timestamp sent; the timestamp alone is what is wrong.
  test.each([
    ['not a number', () => 'soon'],
    ['empty', () => ''],
    ['negative', () => '-5'],
    ['fractional', () => `${now()}.5`],
    ['in milliseconds', () => String(Date.now())],
    ['beyond any date', () => '99999999999999999999'],
    ['older than the window', () => String(now() - 301)],
    ['further ahead than the window', () => String(now() + 301)],
  ])('a timestamp %s: 401 and nothing stored', async (what, ts) => {
    const raw = product(`TS-${what}`);
    const res = await send(signed.app, signedKey, raw, stamped(raw, ts()));
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/X-Webhook-Timestamp/);
    expect(await stored(signed, `TS-${what}`)).toBe(0);
    expect((await send(signed.app, signedKey, raw, stamped(raw))).statusCode).toBe(200);
  });

  test('a timestamp inside the window either way is accepted', async () => {
    for (const [id, ts] of [
      ['EARLY', now() - 290],
      ['LATE', now() + 290],
    ] as const) {
      const raw = product(id);
      expect((await send(signed.app, signedKey, raw, stamped(raw, ts))).statusCode).toBe(200);
    }
  });

  test('a valid signature does not excuse a missing API key', async () => {
    const raw = product('NO-KEY');
    const headers = { 'content-type': 'application/json', ...stamped(raw) };
    const res = await signed.app.inject({ method: 'POST', url: '/api/v1/webhooks/ingest/retail/product', headers, payload: raw });
    expect(res.statusCode).toBe(401);
    expect(await stored(signed, 'NO-KEY')).toBe(0);
  });

  test('a signed but malformed body: 400 after the signature check', async () => {
    const raw = '{"records": [';
    expect((await send(signed.app, signedKey, raw, stamped(raw))).statusCode).toBe(400);
    expect((await send(signed.app, signedKey, raw, stamped('x'))).statusCode).toBe(401);
    expect((await send(compat.app, compatKey, raw, bodyOnly(raw))).statusCode).toBe(400);
    expect((await send(compat.app, compatKey, raw, bodyOnly('x'))).statusCode).toBe(401);
  });

  test('without WEBHOOK_SECRET it behaves like batch', async () => {
    const res = await send(open.app, openKey, body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ inserted: 1 });
    const ingestion = await open.db.pool.query('select source_type from ingestions');
    expect(ingestion.rows).toEqual([{ source_type: 'webhook' }]);
  });
});

describe('replayed webhook calls', () => {
  test('an older signed call sent again is refused (409) and cannot roll a price back', async () => {
    const older = product('ROLLBACK', '10.00');
    const newer = product('ROLLBACK', '12.00');
    const olderHeaders = stamped(older, now() - 1);
    expect((await send(signed.app, signedKey, older, olderHeaders)).statusCode).toBe(200);
    expect((await send(signed.app, signedKey, newer, stamped(newer))).statusCode).toBe(200);
    const replay = await send(signed.app, signedKey, older, olderHeaders);
    expect(replay.statusCode).toBe(409);
    expect(replay.json().detail).toMatch(/replay/);
    expect(await price(signed, 'ROLLBACK')).toBe(12);
  });

  test('a replay is refused on another path, under another tenant, and with the signature in upper case', async () => {
    const raw = product('ELSEWHERE');
    const headers = stamped(raw);
    expect((await send(signed.app, signedKey, raw, headers)).statusCode).toBe(200);
    const otherTenant = await signed.key('globex', ['ingest']);
    expect((await send(signed.app, signedKey, raw, headers, 'other/thing')).statusCode).toBe(409);
    expect((await send(signed.app, otherTenant, raw, headers)).statusCode).toBe(409);
    const upper = { ...headers, 'x-webhook-signature': 'sha256=' + headers['x-webhook-signature'].slice(7).toUpperCase() };
    expect((await send(signed.app, signedKey, raw, upper)).statusCode).toBe(409);
    expect(await stored(signed, 'ELSEWHERE')).toBe(1);
  });

  test('API processes share what they have seen: of 8 identical calls at once to two of them, exactly one is ingested', async () => {
    const pool = createPool(signed.db.url, 4);
    const second = await buildApp({ pool, config: signed.config, box: SecretBox.fromEnv({}, true) });
    try {
      const raw = product('RACE');
      const headers = stamped(raw);
      const ingestions = async () => (await signed.db.pool.query<{ n: number }>('select count(*)::int as n from ingestions')).rows[0]!.n;
      const before = await ingestions();
      const calls = Array.from({ length: 8 }, (_, i) => send(i % 2 ? second : signed.app, signedKey, raw, headers));
      const codes = (await Promise.all(calls)).map((r) => r.statusCode);
      expect(codes.sort()).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
      expect(await ingestions()).toBe(before + 1);
      expect(await stored(signed, 'RACE')).toBe(1);
    } finally {
      await second.close();
      await pool.end();
    }
  });

  test('a signed call that was not ingested may be sent again: its signature is not kept', async () => {
    const raw = '{"records": "not a list"}';
    const headers = stamped(raw);
    expect((await send(signed.app, signedKey, raw, headers)).statusCode).toBe(422);
    expect((await send(signed.app, signedKey, raw, headers)).statusCode).toBe(422);
  });

  test('past the window a replay is refused by its timestamp, and old signatures are deleted', async () => {
    const short = await testApi({ webhookSecret: SECRET, webhookToleranceSeconds: 1 });
    try {
      const key = await short.key('acme', ['ingest']);
      const raw = product('LATE-REPLAY');
      const headers = stamped(raw);
      expect((await send(short.app, key, raw, headers)).statusCode).toBe(200);
      await new Promise((r) => setTimeout(r, 2_300));
      const replay = await send(short.app, key, raw, headers);
      expect(replay.statusCode).toBe(401);
      expect(replay.json().detail).toMatch(/X-Webhook-Timestamp/);
      const fresh = product('FRESH');
      const freshHeaders = stamped(fresh);
      expect((await send(short.app, key, fresh, freshHeaders)).statusCode).toBe(200);
      const { rows } = await short.db.pool.query<{ digest: Buffer }>('select digest from webhook_signatures');
      expect(rows.map((r) => r.digest.toString('hex'))).toEqual([freshHeaders['x-webhook-signature'].slice(7)]);
    } finally {
      await short.close();
    }
  });
});
