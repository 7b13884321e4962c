import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bearer, testApi, type TestApi } from '../../helpers/api';

let t: TestApi;
beforeAll(async () => {
  t = await testApi();
});
afterAll(() => t.close());

const req = (method: 'GET' | 'POST' | 'DELETE', path: string, key?: string, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${path}`, headers: key ? bearer(key) : {}, ...(payload ? { payload: payload as object } : {}) });

describe('API keys and tenants', () => {
  test('no key, an unknown key, a malformed key: 401 with a message; a key without the scope: 403', async () => {
    const batch = { records: [{ name: 'x' }] };
    const noKey = await req('POST', '/ingest/refused/item/batch', undefined, batch);
    expect(noKey.statusCode).toBe(401);
    expect(noKey.json().detail).toMatch(/Authorization: Bearer/);
    const unknown = await req('POST', '/ingest/refused/item/batch', 'sk_live_' + '0'.repeat(64), batch);
    expect(unknown.statusCode).toBe(401);
    expect((await req('POST', '/ingest/refused/item/batch', 'not-a-key', batch)).statusCode).toBe(401);
    const readOnly = await t.key('acme', ['read']);
    const forbidden = await req('POST', '/ingest/refused/item/batch', readOnly, batch);
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json().detail).toMatch(/ingest/);
    // None of the refused batches wrote anything (counted where they would have landed, so other tests' entities do not matter).
    const { rows } = await t.db.pool.query(`select count(*)::int as n from entities where vertical = 'refused'`);
    expect(rows[0].n).toBe(0);
  });

  test('keys are stored hashed: the key text is nowhere in the database', async () => {
    const key = await t.key('acme', ['ingest']);
    const { rows } = await t.db.pool.query('select * from api_keys');
    expect(JSON.stringify(rows)).not.toContain(key.slice(8));
  });

  test('tenant A never reads or overwrites tenant B’s entities, ingestions or keys', async () => {
    const a = await t.key('tenant-a', ['ingest', 'read', 'admin']);
    const b = await t.key('tenant-b', ['ingest', 'read', 'admin']);
    const fromB = (
      await req('POST', '/ingest/shared/item/batch', b, { records: [{ name: 'B original', source_id: 'same-id', secret: 'b' }] })
    ).json();
    const fromA = (await req('POST', '/ingest/shared/item/batch', a, { records: [{ name: 'A version', source_id: 'same-id' }] })).json();
    expect(fromA.inserted).toBe(1); // a separate entity, not an update of B's
    expect(fromA.entity_ids[0]).not.toBe(fromB.entity_ids[0]);
    expect((await req('GET', `/entities/${fromB.entity_ids[0]}`, a)).statusCode).toBe(404);
    expect((await req('GET', `/ingestions/${fromB.ingestion_id}`, a)).statusCode).toBe(404);
    expect((await req('GET', `/ingestions/${fromB.ingestion_id}/errors`, a)).statusCode).toBe(404);
    const listed = (await req('GET', '/entities?source_id=same-id', a)).json().items;
    expect(listed.map((e: { name: string }) => e.name)).toEqual(['A version']);
    expect((await req('GET', `/entities/${fromB.entity_ids[0]}`, b)).json().name).toBe('B original');
    const bKeys = (await req('GET', '/auth/keys', b)).json();
    expect((await req('DELETE', `/auth/keys/${bKeys[0].id}`, a)).statusCode).toBe(404);
  });

  test('an admin creates, lists and revokes keys over the API; a revoked key stops working', async () => {
    const admin = await t.key('keys-tenant', ['admin']);
    const created = await req('POST', '/auth/keys', admin, { name: 'ci', scopes: ['ingest'] });
    expect(created.statusCode).toBe(201);
    const { key, id } = created.json();
    expect(key).toMatch(/^sk_live_[0-9a-f]{64}$/);
    const listed = (await req('GET', '/auth/keys', admin)).json();
    expect(listed.map((k: { id: string }) => k.id)).toContain(id);
    expect(JSON.stringify(listed)).not.toContain(key);
    expect((await req('POST', '/ingest/k/x/batch', key, { records: [{ name: 'x' }] })).statusCode).toBe(200);
    expect((await req('DELETE', `/auth/keys/${id}`, admin)).statusCode).toBe(204);
    expect((await req('POST', '/ingest/k/x/batch', key, { records: [{ name: 'x' }] })).statusCode).toBe(401);
    const bad = await req('POST', '/auth/keys', admin, { name: 'x', scopes: ['superuser'] });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail[0].loc).toEqual(['body', 'scopes', '0']);
    expect((await req('GET', '/auth/keys', key)).statusCode).toBe(401);
  });

  test('errors are JSON {detail} without stack traces; unknown routes are 404', async () => {
    const res = await req('GET', '/nope');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ detail: 'No such endpoint: GET /api/v1/nope' });
    expect(res.headers['x-request-id']).toBeTruthy();
  });

  test('the OpenAPI document lists the QANATIX paths', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/ingest/{vertical}/{entity_type}/batch',
        '/api/v1/ingest/{vertical}/{entity_type}/stream',
        '/api/v1/webhooks/ingest/{vertical}/{entity_type}',
        '/api/v1/ingestions/{id}',
        '/api/v1/ingestions/{id}/errors',
        '/api/v1/schemas',
        '/api/v1/entities',
        '/api/v1/auth/keys',
      ]),
    );
  });
});
