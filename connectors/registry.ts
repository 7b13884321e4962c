/**
 * What the platform uses of the connectors: validate a definition (connector-config.ts), create the connector
 * for one, and check where a definition's source is. Connector types themselves are in connector-types.ts.
 */
import { CheckedConnector } from './checked-connector';
import { isValidatedDefinition, validateConnectorConfig, validateStoredDefinition } from './connector-config';
import type { ConnectorDefinition, StoredDefinition } from './connector-definition';
import { connectorTypes, type ConnectorType } from './connector-types';
import type { SourceConnector } from './contract';
import { BUILT_IN_POLICY, checkEndpoints, type SourcePolicy } from './source-policy';
import { SharedPools } from './shared-pools';
import { SourceReach } from './source-reach';

export { connectorTypes, validateConnectorConfig, validateStoredDefinition, type ConnectorType };

/**
 * The connector for a definition. A definition `validateConnectorConfig` returned is used as it is; anything
 * else is validated first, so a connector never runs on an unchecked definition (throws `ConfigError`).
 * Before its first connection it checks the source against `policy` on the addresses its hosts resolve to, and
 * connects only to those; a refused source fails that first call with `SourceDeniedError`. Close it after use: its
 * driver's connector is kept for the next run of the same definition on the same addresses.
 */
export async function createConnector(
  definition: ConnectorDefinition | Record<string, unknown>,
  policy: SourcePolicy = BUILT_IN_POLICY,
): Promise<SourceConnector> {
  const valid = isValidatedDefinition(definition) ? definition : validateConnectorConfig(definition);
  const type = connectorTypes[valid.connector_type] as ConnectorType;
  return new CheckedConnector(async () => {
    const reach = await SourceReach.check(type.endpoints({ ...valid.connection_config }), policy);
    if (!KEPT_TYPES.has(valid.connector_type)) {
      const connector = await type.create(valid, reach);
      return { pool: connector, release: () => void connector.close().catch(() => {}) };
    }
    const lease = kept.acquire({ definition: valid, reach: reach.checked }, () => type.create(valid, reach));
    try {
      return { pool: await lease.pool, release: lease.release };
    } catch (err) {
      lease.release(true);
      throw err;
    }
  });
}

/**
 * SQL drivers' connectors kept across runs of one definition (its settings, credentials and query, unchanged) on the
 * addresses its run checked: a small run then reads on warm connections (each run still describes the source afresh,
 * so a changed column is seen at once). Kept for a minute unused and five minutes at most, dropped after a failure, at
 * most 200 idle.
 */
/** SQL sources, whose kept connections recover from a server restart by themselves (proven by test/chaos). */
const KEPT_TYPES = new Set(['postgresql', 'mysql']);
const kept = new SharedPools<Promise<SourceConnector>>((c) => c.then((connector) => connector.close()), {
  idleMs: 60_000,
  maxAgeMs: 5 * 60_000,
  maxIdle: 200,
});

/**
 * Checks where a stored definition's source is without connecting to it (saving a connector): throws
 * `ConfigError` for an invalid definition and `SourceDeniedError` for a refused source. A host that does not
 * resolve yet passes; it is checked again before every connection.
 */
export async function checkSourceReach(stored: StoredDefinition, policy: SourcePolicy): Promise<void> {
  const valid = validateStoredDefinition(stored);
  await checkEndpoints((connectorTypes[valid.connector_type] as ConnectorType).endpoints(stored.connection_config), policy, false);
}

/** Closes the kept drivers' connectors (a worker shutting down); those in use close when their run hands them back. */
export const closeKeptConnectors = () => kept.close();
