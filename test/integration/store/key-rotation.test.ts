/**
 * Rotating QANATIX_ENCRYPTION_KEYS: `qanatix reseal` seals every connection config with the new first key, so the
 * old one can go; a config whose key is gone makes an error that names that key, never a bare 500.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../../src/api/app';
import { createApiKey, ensureTenant } from '../../../src/auth/api-keys';
import { loadConfig } from '../../../src/config';
import { SecretBox } from '../../../src/crypto/secret-box';
import { getConnectorInput, insertConnector, resealConnectionConfigs } from '../../../src/store/connectors';
import { bearer, TEST_SALT } from '../../helpers/api';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

const BIN = fileURLToPath(new URL('../../../bin/qanatix.mjs', import.meta.url));
const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;
const boxOf = (spec: string) => SecretBox.fromEnv({ QANATIX_ENCRYPTION_KEYS: spec }, false);
const PASSWORD = 'rotation-Secr3t-pw';
let db: TestDatabase;
let tenantId: string;

beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'rotation');
});
afterAll(() => db?.drop());

async function sealedConnectors(box: SecretBox, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = crypto.randomUUID();
    await insertConnector(db.pool, box, tenantId, id, {
      name: `rotated-${id.slice(0, 8)}`,
      connector_type: 'postgresql',
      vertical: 'rotation',
      entity_type: 'item',
      connection_config: { dsn: `postgres://reader:${PASSWORD}@db.example.com:5432/erp` },
      schedule: null,
      timezone: 'UTC',
      enabled: true,
      settings: { table: 'items' },
    });
    ids.push(id);
  }
  return ids;
}

function reseal(keys: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, 'reseal'], {
      env: { ...process.env, DATABASE_URL: db.url, QANATIX_ENCRYPTION_KEYS: keys, QANATIX_DEV: '', NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

describe('encryption key rotation', () => {
  test('qanatix reseal moves every config to the first key; afterwards the old key can go', async () => {
    const ids = await sealedConnectors(boxOf(k1), 3);
    const first = await reseal(`${k2},${k1}`);
    expect(first.code, first.err).toBe(0);
    // Only this test's three were sealed with k1 (the other test's config, if it ran first, is sealed with k2 by now).
    expect(first.out).toMatch(/re-sealed 3 connection config\(s\) with key "k2"; \d+ already were/);
    const { rows } = await db.pool.query<{ s: string }>('select connection_config_sealed as s from connectors where id = any($1)', [ids]);
    expect(rows.map((r) => r.s.split(':')[0])).toEqual(['k2', 'k2', 'k2']);
    // Only the new key now: every config still opens.
    for (const id of ids) expect((await getConnectorInput(db.pool, boxOf(k2), tenantId, id))!.connection_config.dsn).toContain(PASSWORD);
    const again = await reseal(`${k2},${k1}`);
    expect(again.out).toMatch(/re-sealed 0 connection config\(s\) with key "k2"; \d+ already were/);
    expect(`${first.out}${first.err}${again.out}${again.err}`).not.toContain(PASSWORD);
  });

  test('a config whose key was dropped too early: reseal names it and exits 1, the API answers with the key id, not a bare 500', async () => {
    const k0 = `k0:${randomBytes(32).toString('base64')}`;
    const [id] = await sealedConnectors(boxOf(k0), 1);
    const r = await reseal(`${k2},${k1}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`connector ${id}: sealed with key "k0", which is not in QANATIX_ENCRYPTION_KEYS`);

    const config = { ...loadConfig({ API_KEY_SALT: TEST_SALT }), databaseUrl: db.url };
    const app = await buildApp({ pool: db.pool, config, box: boxOf(`${k2},${k1}`) });
    try {
      const key = (await createApiKey(db.pool, TEST_SALT, tenantId, 'ops', ['connectors'])).key;
      for (const [method, url, payload] of [
        ['POST', `/api/v1/connectors/${id}/test`, undefined],
        ['PATCH', `/api/v1/connectors/${id}`, { batch_size: 10 }],
      ] as const) {
        const res = await app.inject({ method, url, headers: bearer(key), ...(payload ? { payload } : {}) });
        expect(res.statusCode, url).toBe(500);
        expect(res.json().detail).toMatch(/sealed with encryption key "k0", which is not in QANATIX_ENCRYPTION_KEYS.*qanatix reseal/);
        expect(res.body).not.toContain(PASSWORD);
      }
    } finally {
      await app.close();
    }
    // With the key back, reseal finishes the job.
    expect((await resealConnectionConfigs(db.pool, boxOf(`${k2},${k1},${k0}`))).missingKey).toEqual([]);
  });
});
