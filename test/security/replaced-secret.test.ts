import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bearer, testApi, type TestApi } from '../helpers/api';

/**
 * The secret a rotation replaced keeps running clients working for its grace period, and nothing more: it makes,
 * rotates and revokes no keys, or a leaked old secret could outlive its grace (a new key of its own) or cut off the
 * new secret its owner was just given.
 */

let t: TestApi;
beforeAll(async () => {
  t = await testApi();
});
afterAll(() => t?.close());

const send = (key: string, method: InjectOptions['method'], url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload !== undefined ? { payload } : {}) });

async function rotatedAdmin(tenant: string) {
  const bootstrap = await t.key(tenant, ['admin']);
  const created = (await send(bootstrap, 'POST', '/auth/keys', { name: 'ops', scopes: ['admin'] })).json();
  const rotated = (await send(bootstrap, 'POST', `/auth/keys/${created.id}/rotate`, { grace_seconds: 600 })).json();
  return { bootstrap, id: created.id as string, old: created.key as string, current: rotated.key as string };
}

describe('a replaced secret during its grace period', () => {
  test('still reads and writes what its scopes reach, and lists keys', async () => {
    const k = await rotatedAdmin('grace-works');
    expect((await send(k.old, 'GET', '/entities')).statusCode).toBe(200);
    expect((await send(k.old, 'POST', '/ingest/shop/item/batch', { records: [{ name: 'a', source_id: 'a' }] })).statusCode).toBe(200);
    expect((await send(k.old, 'GET', '/auth/keys')).statusCode).toBe(200);
  });

  test('makes, rotates and revokes no key (403 naming why), and changes nothing', async () => {
    const k = await rotatedAdmin('grace-keys');
    const other = (await send(k.bootstrap, 'POST', '/auth/keys', { name: 'other', scopes: ['read'] })).json();
    const before = (await t.db.pool.query('select * from api_keys order by id')).rows;
    const attempts: Array<[InjectOptions['method'], string, object?]> = [
      ['POST', '/auth/keys', { name: 'mine', scopes: ['admin'] }],
      ['POST', `/auth/keys/${k.id}/rotate`],
      ['POST', `/auth/keys/${k.id}/rotate`, { grace_seconds: 86_400 }],
      ['POST', `/auth/keys/${other.id}/rotate`],
      ['DELETE', `/auth/keys/${k.id}`],
      ['DELETE', `/auth/keys/${other.id}`],
    ];
    for (const [method, url, payload] of attempts) {
      const res = await send(k.old, method, url, payload);
      expect({ method, url, status: res.statusCode }).toEqual({ method, url, status: 403 });
      expect(res.json().detail).toMatch(/replaced by a rotation.*current secret/);
      expect(res.body).not.toContain(k.current);
    }
    const after = (await t.db.pool.query('select * from api_keys order by id')).rows;
    expect(after.map(({ last_used_at: _, ...r }) => r)).toEqual(before.map(({ last_used_at: _, ...r }) => r));
    // The current secret of the same key manages keys as before.
    expect((await send(k.current, 'POST', '/auth/keys', { name: 'by-current', scopes: ['read'] })).statusCode).toBe(201);
    expect((await send(k.current, 'POST', `/auth/keys/${other.id}/rotate`)).statusCode).toBe(200);
    expect([await send(k.old, 'GET', '/entities'), await send(k.current, 'GET', '/entities')].map((r) => r.statusCode)).toEqual([200, 200]);
  });
});
