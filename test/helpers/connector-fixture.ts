import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { SourceConnector } from '../../connectors/contract';
import { createConnector } from '../../connectors/registry';
import { ensureTenant } from '../../src/auth/api-keys';
import { SecretBox } from '../../src/crypto/secret-box';
import { createRun, type RunMode } from '../../src/store/connector-runs';
import { insertConnector, loadConnectorForRun, type ConnectorInput } from '../../src/store/connectors';

export const testBox = SecretBox.fromEnv({}, true);

/** Saves a connector for a tenant the way the API does and returns its id. */
export async function saveConnector(
  pool: pg.Pool,
  tenant: string,
  input: Partial<ConnectorInput> & Pick<ConnectorInput, 'connection_config' | 'settings'>,
): Promise<string> {
  const tenantId = await ensureTenant(pool, tenant);
  const id = randomUUID();
  await insertConnector(pool, testBox, tenantId, id, {
    name: `c-${id.slice(0, 8)}`,
    connector_type: 'postgresql',
    vertical: 'src',
    entity_type: 'product',
    schedule: null,
    timezone: 'UTC',
    enabled: true,
    ...input,
  });
  return id;
}

export async function newRun(pool: pg.Pool, connectorId: string, mode: RunMode = 'incremental') {
  const connector = (await loadConnectorForRun(pool, testBox, connectorId))!;
  const runId = await createRun(pool, { connectorId, tenantId: connector.tenantId, trigger: 'manual', mode, status: 'running' });
  return { connector, runId };
}

/** A PostgreSQL source connector on `dsn` made from `definition` (table, cursor, …) for `work`, closed after it. */
export async function withPostgresqlConnector<T>(
  dsn: string,
  definition: Record<string, unknown>,
  work: (c: SourceConnector) => Promise<T>,
): Promise<T> {
  const connector = await createConnector({ connector_type: 'postgresql', connection_config: { dsn }, ...definition });
  try {
    return await work(connector);
  } finally {
    await connector.close();
  }
}
