import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { validateConnectorConfig } from '../../connectors/connector-config';
import { ensureTenant } from '../../src/auth/api-keys';
import { SecretBox } from '../../src/crypto/secret-box';
import { migrate } from '../../src/db/migrate';
import { insertConnector, type ConnectorInput } from '../../src/store/connectors';
import { createScratchDatabase, type ScratchDatabase } from '../lib/pg-scratch';

/** The key a worker in dev mode (QANATIX_DEV=1, no QANATIX_ENCRYPTION_KEYS) opens credentials with. */
export const devBox = SecretBox.fromEnv({}, true);

export const TENANT = 'bench-schedule';
export const BENCH_APP = 'qanatix-bench';
export const SOURCE_TABLE = 'products';

/** The source: one small table with a primary key and an `updated_at` cursor column. */
export async function createSourceDatabase(adminUrl: string, rows: number): Promise<ScratchDatabase> {
  const db = await createScratchDatabase(adminUrl, 'qbench_sched_src');
  const client = new pg.Client({ connectionString: db.url, application_name: BENCH_APP });
  await client.connect();
  try {
    await client.query(
      `create table ${SOURCE_TABLE} (id bigint primary key, name text not null, price numeric(12,2) not null, updated_at timestamptz not null)`,
    );
    await client.query(
      `insert into ${SOURCE_TABLE} select g, 'Product ' || g, (g % 1000) + 0.99, '2026-01-01T00:00:00Z'::timestamptz + g * interval '1 second' from generate_series(1, $1::int) g`,
      [rows],
    );
    await client.query(`analyze ${SOURCE_TABLE}`);
  } catch (err) {
    await client.end();
    await db.drop();
    throw err;
  }
  await client.end();
  return db;
}

export interface Platform {
  db: ScratchDatabase;
  pool: pg.Pool;
  tenantId: string;
  connectorIds: string[];
}

export interface ConnectorPlan {
  count: number;
  sourceUrl: string;
  schedule: string;
  /** One vertical for all connectors (they then upsert the same entities), or one each (the default). */
  sharedVertical: boolean;
}

/** A fresh, migrated platform database with `count` scheduled connectors saved the way the API saves them. */
export async function createPlatform(adminUrl: string, plan: ConnectorPlan): Promise<Platform> {
  const db = await createScratchDatabase(adminUrl, 'qbench_sched');
  // Its own application_name, so the wait sampler can leave the benchmark's sessions out.
  const pool = new pg.Pool({ connectionString: db.url, max: 10, application_name: BENCH_APP });
  pool.on('error', () => {});
  try {
    await migrate(pool);
    const tenantId = await ensureTenant(pool, TENANT);
    const settings = { table: SOURCE_TABLE, cursor: { column: 'updated_at', lag_seconds: 0 }, batch_size: 1000 };
    const connection_config = { dsn: plan.sourceUrl };
    // The worker validates at run time; a mistake here should fail the setup, not 1,000 runs.
    validateConnectorConfig({ connector_type: 'postgresql', connection_config, ...settings });
    const connectorIds = Array.from({ length: plan.count }, () => randomUUID());
    const width = String(plan.count).length;
    const input = (i: number): ConnectorInput => ({
      name: `bench-${String(i).padStart(width, '0')}`,
      connector_type: 'postgresql',
      vertical: plan.sharedVertical ? 'bench' : `bench-${String(i).padStart(width, '0')}`,
      entity_type: 'product',
      connection_config,
      schedule: plan.schedule,
      timezone: 'UTC',
      enabled: true,
      settings,
    });
    // A few at a time: 1,000 sealed inserts take a second or two.
    for (let i = 0; i < connectorIds.length; i += 20) {
      await Promise.all(connectorIds.slice(i, i + 20).map((id, k) => insertConnector(pool, devBox, tenantId, id, input(i + k))));
    }
    return { db, pool, tenantId, connectorIds };
  } catch (err) {
    await pool.end();
    await db.drop();
    throw err;
  }
}

export async function dropPlatform(p: Platform): Promise<void> {
  await p.pool.end().catch(() => {});
  await p.db.drop();
}
