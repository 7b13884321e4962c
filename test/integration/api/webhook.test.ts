import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bearer, testApi, type TestApi } from '../../helpers/api';

const SECRET = 'whsec-test-secret';
let signed: TestApi;
let open: TestApi;
let signedKey: string;
let openKey: string;
beforeAll(async () => {
  [signed, open] = await Promise.all([testApi({ webhookSecret: SECRET }), testApi({ webhookSecret: null })]);
  signedKey = await signed.key('acme', ['ingest']);
  openKey = await open.key('acme', ['ingest']);
});
afterAll(() => Promise.all([signed.close(), open.close()]));

// Exactly the QANATIX example body, with odd spacing: the signature covers the raw bytes as sent.
const body = '{"records": [{"name": "Updated Product", "source_id": "PROD-789", "vertical_data": {"price": 12.50, "stock": 450}}]}';
const sign = (raw: string, secret = SECRET) => 'sha256=' + createHmac('sha256', secret).update(raw).digest('hex');

const send = (t: TestApi, key: string, raw: string, signature?: string) =>
  t.app.inject({
    method: 'POST',
    url: '/api/v1/webhooks/ingest/retail/product',
    headers: { 'content-type': 'application/json', ...bearer(key), ...(signature ? { 'x-webhook-signature': signature } : {}) },
    payload: raw,
  });

async function count(t: TestApi) {
  return (await t.db.pool.query('select count(*)::int as n from entities')).rows[0].n as number;
}

describe('POST /webhooks/ingest/{vertical}/{entity_type}', () => {
  test('with WEBHOOK_SECRET: a correct signature over the raw body is accepted', async () => {
    const res = await send(signed, signedKey, body, sign(body));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ inserted: 1, record_count: 1 });
    const { rows } = await signed.db.pool.query("select vertical_data from entities where source_id = 'PROD-789'");
    expect(rows[0].vertical_data).toEqual({ price: 12.5, stock: 450 });
  });

  test.each([
    ['missing', undefined],
    ['wrong secret', sign(body, 'other')],
    ['over re-serialized JSON', sign(JSON.stringify(JSON.parse(body)))],
    ['not hex', 'sha256=zz'],
    ['without the sha256= prefix', sign(body).slice(7)],
  ])('a %s signature: 401 and nothing stored', async (_what, signature) => {
    const before = await count(signed);
    const res = await send(signed, signedKey, body.replace('PROD-789', 'PROD-790'), signature);
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/signature/i);
    expect(await count(signed)).toBe(before);
  });

  test('a valid signature does not excuse a missing API key', async () => {
    const res = await signed.app.inject({ method: 'POST', url: '/api/v1/webhooks/ingest/retail/product', headers: { 'content-type': 'application/json', 'x-webhook-signature': sign(body) }, payload: body });
    expect(res.statusCode).toBe(401);
  });

  test('a signed but malformed body: 400 after the signature check', async () => {
    const raw = '{"records": [';
    expect((await send(signed, signedKey, raw, sign(raw))).statusCode).toBe(400);
    expect((await send(signed, signedKey, raw, sign('x'))).statusCode).toBe(401);
  });

  test('without WEBHOOK_SECRET it behaves like batch', async () => {
    const res = await send(open, openKey, body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ inserted: 1 });
    const ingestion = await open.db.pool.query('select source_type from ingestions');
    expect(ingestion.rows).toEqual([{ source_type: 'webhook' }]);
  });
});
