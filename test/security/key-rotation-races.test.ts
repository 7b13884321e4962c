import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApiKey, ensureTenant, type Scope } from '../../src/auth/api-keys';
import { bearer, testApi, TEST_SALT, type TestApi } from '../helpers/api';

/**
 * Key rotation attacked as a second writer and as another tenant would: rotations and revocations of one key at
 * the same moment, a grace period that would outlast the key, and guessed ids of another tenant's keys.
 */

let t: TestApi;
beforeAll(async () => {
  t = await testApi();
});
afterAll(async () => {
  await t?.close();
});

let n = 0;
async function adminOf(tenant: string): Promise<string> {
  return (await createApiKey(t.db.pool, TEST_SALT, await ensureTenant(t.db.pool, tenant), 'admin', ['admin'])).key;
}
const send = (key: string, method: InjectOptions['method'], url: string, payload?: object) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload !== undefined ? { payload } : {}) });
const works = async (key: string) => (await send(key, 'GET', '/entities')).statusCode === 200;
async function keyOf(admin: string, body: { expires_at?: string; scopes?: Scope[] } = {}): Promise<{ id: string; key: string }> {
  const res = await send(admin, 'POST', '/auth/keys', { name: `k${n++}`, scopes: ['read'], ...body });
  expect(res.statusCode).toBe(201);
  return res.json();
}
const row = async (id: string) => (await t.db.pool.query('select * from api_keys where id = $1', [id])).rows[0];

describe('a grace period never outlasts the key', () => {
  test('rotating a key that expires before the grace ends: previous_key_expires_at and the message say the expiry', async () => {
    const admin = await adminOf('grace-expiry');
    const cases: Array<[number, number]> = [
      [4_000, 3600],
      [60_000, 86_400],
      [2_000, 5],
    ];
    for (const [expiresInMs, grace] of cases) {
      const expiresAt = new Date(Date.now() + expiresInMs).toISOString();
      const key = await keyOf(admin, { expires_at: expiresAt });
      const rotated = (await send(admin, 'POST', `/auth/keys/${key.id}/rotate`, { grace_seconds: grace })).json();
      expect({ grace, previous: rotated.previous_key_expires_at }).toEqual({ grace, previous: expiresAt });
      expect(rotated.message).toBe(`The old key stays valid until ${expiresAt}. Update your applications before then.`);
      const listed = (await send(admin, 'GET', '/auth/keys')).json().find((k: { id: string }) => k.id === key.id);
      expect(listed.previous_key_expires_at).toBe(expiresAt);
    }
  });

  test('a grace shorter than the key keeps its own end; a key without expiry keeps the whole grace', async () => {
    const admin = await adminOf('grace-shorter');
    const expiring = await keyOf(admin, { expires_at: new Date(Date.now() + 3_600_000).toISOString() });
    const forever = await keyOf(admin);
    for (const key of [expiring, forever]) {
      const before = Date.now();
      const rotated = (await send(admin, 'POST', `/auth/keys/${key.id}/rotate`, { grace_seconds: 60 })).json();
      const until = Date.parse(rotated.previous_key_expires_at);
      expect(until).toBeGreaterThanOrEqual(before + 59_000);
      expect(until).toBeLessThanOrEqual(Date.now() + 61_000);
    }
  });
});

describe('rotate and revoke at the same moment', () => {
  test('whatever order they commit in, once the revocation answered no secret of the key works, grace or not', async () => {
    const admin = await adminOf('rotate-revoke');
    for (let round = 0; round < 12; round++) {
      const key = await keyOf(admin);
      const grace = round % 2 === 0 ? 600 : 0;
      const [rotations, revoked] = await Promise.all([
        Promise.all([1, 2, 3].map(() => send(admin, 'POST', `/auth/keys/${key.id}/rotate`, { grace_seconds: grace }))),
        send(admin, 'DELETE', `/auth/keys/${key.id}`),
      ]);
      expect(revoked.statusCode).toBe(204);
      const secrets = [key.key];
      for (const r of rotations) {
        expect([200, 404]).toContain(r.statusCode);
        if (r.statusCode === 200) secrets.push(r.json().key);
      }
      for (const secret of secrets) expect({ round, works: await works(secret) }).toEqual({ round, works: false });
      expect((await send(admin, 'POST', `/auth/keys/${key.id}/rotate`)).statusCode).toBe(404);
      expect((await send(admin, 'GET', '/auth/keys')).json().map((k: { id: string }) => k.id)).not.toContain(key.id);
    }
  });

  test('many rotations with a grace at once: the key ends with one current and at most one replaced secret that work', async () => {
    const admin = await adminOf('rotate-storm');
    const key = await keyOf(admin);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => send(admin, 'POST', `/auth/keys/${key.id}/rotate`, { grace_seconds: 600 })),
    );
    expect(answers.map((a) => a.statusCode)).toEqual(Array(8).fill(200));
    const secrets = [key.key, ...answers.map((a) => a.json().key as string)];
    const working: string[] = [];
    for (const s of secrets) if (await works(s)) working.push(s);
    expect(working.length).toBeGreaterThanOrEqual(1);
    expect(working.length).toBeLessThanOrEqual(2);
    const stored = await row(key.id);
    expect(stored.previous_key_hash).not.toBe(stored.key_hash);
  });
});

describe("another tenant's key ids", () => {
  test('rotate and revoke of every key id of another tenant are 404 like unknown ids, and its rows stay as they were', async () => {
    const victimAdmin = await adminOf('victim');
    const victimKeys = [await keyOf(victimAdmin), await keyOf(victimAdmin, { scopes: ['admin'] })];
    const graced = (await send(victimAdmin, 'POST', `/auth/keys/${victimKeys[0]!.id}/rotate`, { grace_seconds: 600 })).json();
    const before = await Promise.all(victimKeys.map((k) => row(k.id)));
    const intruder = await adminOf('intruder');
    const unknown = await send(intruder, 'POST', '/auth/keys/00000000-0000-4000-8000-000000000000/rotate');
    for (const { id } of victimKeys) {
      for (const body of [undefined, { grace_seconds: 0 }, { grace_seconds: 86_400 }]) {
        const r = await send(intruder, 'POST', `/auth/keys/${id}/rotate`, body);
        expect({ status: r.statusCode, body: r.json() }).toEqual({ status: 404, body: unknown.json() });
      }
      expect((await send(intruder, 'DELETE', `/auth/keys/${id}`)).statusCode).toBe(404);
      // The id in other case or with surrounding text is the same id or no id at all: never another tenant's key.
      expect((await send(intruder, 'POST', `/auth/keys/${id.toUpperCase()}/rotate`)).statusCode).toBe(404);
    }
    expect(await Promise.all(victimKeys.map((k) => row(k.id)))).toEqual(before);
    expect([await works(victimKeys[0]!.key), await works(graced.key), await works(victimKeys[1]!.key)]).toEqual([true, true, true]);
    expect(JSON.stringify((await send(intruder, 'GET', '/auth/keys')).json())).not.toContain(victimKeys[0]!.id);
  });
});
