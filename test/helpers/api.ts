import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { PullJobData } from '../../jobs/pull-queue';
import { buildApp } from '../../src/api/app';
import { createApiKey, ensureTenant, type Scope } from '../../src/auth/api-keys';
import { loadConfig, type Config } from '../../src/config';
import { SecretBox } from '../../src/crypto/secret-box';
import { freshDatabase, type TestDatabase } from './test-db';

export const TEST_SALT = 'test-salt';

export interface TestApi {
  app: FastifyInstance;
  db: TestDatabase;
  config: Config;
  /** A key for a tenant (created when new) with the given scopes. */
  key(tenant: string, scopes: Scope[]): Promise<string>;
  close(): Promise<void>;
}

export async function testApi(overrides: Partial<Config> = {}, pullQueue: Queue<PullJobData> | null = null): Promise<TestApi> {
  const db = await freshDatabase();
  const config = { ...loadConfig({ API_KEY_SALT: TEST_SALT }), databaseUrl: db.url, ...overrides };
  const app = await buildApp({ pool: db.pool, config, box: SecretBox.fromEnv({}, true), pullQueue });
  return {
    app,
    db,
    config,
    async key(tenant, scopes) {
      const tenantId = await ensureTenant(db.pool, tenant);
      return (await createApiKey(db.pool, TEST_SALT, tenantId, 'test', scopes)).key;
    },
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
