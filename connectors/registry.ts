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
import { SourceReach } from './source-reach';

export { connectorTypes, validateConnectorConfig, validateStoredDefinition, type ConnectorType };

/**
 * The connector for a definition. A definition `validateConnectorConfig` returned is used as it is; anything
 * else is validated first, so a connector never runs on an unchecked definition (throws `ConfigError`).
 * Before its first connection it checks the source against `policy` on the addresses its hosts resolve to, and
 * connects only to those; a refused source fails that first call with `SourceDeniedError`.
 */
export async function createConnector(
  definition: ConnectorDefinition | Record<string, unknown>,
  policy: SourcePolicy = BUILT_IN_POLICY,
): Promise<SourceConnector> {
  const valid = isValidatedDefinition(definition) ? definition : validateConnectorConfig(definition);
  const type = connectorTypes[valid.connector_type] as ConnectorType;
  return new CheckedConnector(async () =>
    type.create(valid, await SourceReach.check(type.endpoints({ ...valid.connection_config }), policy)),
  );
}

/**
 * Checks where a stored definition's source is without connecting to it (saving a connector): throws
 * `ConfigError` for an invalid definition and `SourceDeniedError` for a refused source. A host that does not
 * resolve yet passes; it is checked again before every connection.
 */
export async function checkSourceReach(stored: StoredDefinition, policy: SourcePolicy): Promise<void> {
  const valid = validateStoredDefinition(stored);
  await checkEndpoints((connectorTypes[valid.connector_type] as ConnectorType).endpoints(stored.connection_config), policy, false);
}
