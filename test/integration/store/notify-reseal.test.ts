/**
 * A connector's notify URL and signing secret are sealed like its connection config, and move to a new key with it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { ensureTenant } from '../../../src/auth/api-keys';
import { SecretBox } from '../../../src/crypto/secret-box';
import { insertConnector, notifyTargetOf, resealConnectionConfigs } from '../../../src/store/connectors';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

const k1 = `k1:${randomBytes(32).toString('base64')}`;
const k2 = `k2:${randomBytes(32).toString('base64')}`;
const boxOf = (spec: string) => SecretBox.fromEnv({ QANATIX_ENCRYPTION_KEYS: spec }, false);
let db: TestDatabase;

beforeAll(async () => {
  db = await freshDatabase();
});
afterAll(() => db?.drop());

test('reseal moves the notify URL and signing secret to the first key; stored, neither is readable in the row', async () => {
  const tenantId = await ensureTenant(db.pool, 'notify-reseal');
  const id = randomUUID();
  const url = 'https://hook-user:hook-Pa55@hooks.example.com/q?token=tok-S3cret';
  await insertConnector(
    db.pool,
    boxOf(k1),
    tenantId,
    id,
    {
      name: 'sealed',
      connector_type: 'postgresql',
      vertical: 'reseal',
      entity_type: 'item',
      connection_config: { dsn: 'postgres://reader:pw@db.example.com:5432/erp' },
      schedule: null,
      timezone: 'UTC',
      enabled: true,
      settings: { table: 'items' },
      notify: { url, on: ['failed'] },
    },
    'qnsec_signing-secret-under-k1',
  );
  const row = JSON.stringify((await db.pool.query('select * from connectors where id = $1', [id])).rows[0]);
  for (const secret of ['hook-Pa55', 'tok-S3cret', 'hook-user', 'signing-secret-under-k1']) expect(row).not.toContain(secret);

  expect(await resealConnectionConfigs(db.pool, boxOf(`${k2},${k1}`))).toEqual({ resealed: 1, current: 0, missingKey: [] });
  const { rows } = await db.pool.query(
    'select connection_config_sealed, notify_url_sealed, notify_secret_sealed from connectors where id = $1',
    [id],
  );
  expect(Object.values(rows[0]).every((v) => String(v).startsWith('k2:'))).toBe(true);
  expect(await notifyTargetOf(db.pool, boxOf(k2), tenantId, id)).toEqual({
    name: 'sealed',
    notify: { url, on: ['failed'] },
    secret: 'qnsec_signing-secret-under-k1',
  });
  expect(await resealConnectionConfigs(db.pool, boxOf(`${k2},${k1}`))).toEqual({ resealed: 0, current: 1, missingKey: [] });
});
