/**
 * Connector types by `connector_type`. Each entry validates its own `connection_config`, names the servers it
 * points at (for the source policy) and creates the connector; everything else about a definition is validated
 * once, in connector-config.ts.
 */
import type { SourceConnector } from './contract';
import type { ConfigIssue, IssueReporter } from './config-error';
import { CheckedConnector } from './checked-connector';
import type { PlainObject } from './connection-checks';
import { validateConnectorConfig, type ConnectorDefinition } from './connector-config';
import { mongodbEndpoints, validateMongodbConnection } from './mongodb/mongodb-config';
import { mongodbReadOnlyIssues } from './mongodb/mongodb-read-only';
import { mysqlEndpoints, validateMysqlConnection } from './mysql/mysql-config';
import { mysqlReadOnly } from './mysql/mysql-read-only';
import { postgresqlEndpoints, validatePostgresqlConnection } from './postgresql/postgresql-config';
import { postgresqlReadOnly } from './postgresql/postgresql-read-only';
import { neo4jEndpoints, validateNeo4jConnection } from './neo4j/neo4j-config';
import { neo4jReadOnlyIssues } from './neo4j/neo4j-read-only';
import { BUILT_IN_POLICY, checkEndpoints, type SourceEndpoint, type SourcePolicy } from './source-policy';
import { SourceReach } from './source-reach';
import { sqlReadOnlyIssues } from './sql/sql-read-only';

export interface ConnectorType {
  /** The word users of this source write for table mode instead of `table` (`collection`, `label`); both are accepted. */
  tableAlias?: string;
  /** `text`: `query`/`where` are SQL or Cypher strings; `document`: filter documents (MongoDB). */
  queryKind: 'text' | 'document';
  /** Checks `connection_config` (reporting issues relative to it) and returns it normalised. */
  validateConnection(value: PlainObject, report: IssueReporter): Record<string, unknown>;
  /**
   * What in the definition (query, where, field names) could write, escape the read-only session or reach
   * beyond the source; the connector checks it again before it reads.
   */
  readOnlyIssues?(definition: ConnectorDefinition): ConfigIssue[];
  /** The servers a valid `connection_config` (as given, or normalised) points at. */
  endpoints(connection: PlainObject): SourceEndpoint[];
  /** Loads the driver on first use: a worker that pulls only from PostgreSQL never pays for the MongoDB driver. */
  create(definition: ConnectorDefinition): Promise<SourceConnector>;
}

export const connectorTypes: Readonly<Record<string, ConnectorType>> = {
  postgresql: {
    queryKind: 'text',
    validateConnection: (value, report) => ({ ...validatePostgresqlConnection(value, report) }),
    readOnlyIssues: (definition) => sqlReadOnlyIssues(definition, postgresqlReadOnly),
    endpoints: postgresqlEndpoints,
    create: async (definition) => new (await import('./postgresql/postgresql-connector')).PostgresqlConnector(definition),
  },
  mysql: {
    queryKind: 'text',
    validateConnection: (value, report) => ({ ...validateMysqlConnection(value, report) }),
    readOnlyIssues: (definition) => sqlReadOnlyIssues(definition, mysqlReadOnly),
    endpoints: mysqlEndpoints,
    create: async (definition) => new (await import('./mysql/mysql-connector')).MysqlConnector(definition),
  },
  mongodb: {
    tableAlias: 'collection',
    queryKind: 'document',
    validateConnection: (value, report) => ({ ...validateMongodbConnection(value, report) }),
    readOnlyIssues: mongodbReadOnlyIssues,
    endpoints: mongodbEndpoints,
    create: async (definition) => new (await import('./mongodb/mongodb-connector')).MongodbConnector(definition),
  },
  neo4j: {
    tableAlias: 'label',
    queryKind: 'text',
    validateConnection: (value, report) => ({ ...validateNeo4jConnection(value, report) }),
    readOnlyIssues: neo4jReadOnlyIssues,
    endpoints: neo4jEndpoints,
    create: async (definition) => new (await import('./neo4j/neo4j-connector')).Neo4jConnector(definition),
  },
};

export { validateConnectorConfig };

/**
 * The connector for a definition, raw or already validated: it is validated (again) here, so a connector
 * never runs on an unchecked definition (throws `ConfigError`). Before its first connection it checks the
 * source against `policy` on the addresses its hosts resolve to, and connects only to those; a refused source
 * fails that first call with `SourceDeniedError`.
 */
export async function createConnector(
  definition: ConnectorDefinition | Record<string, unknown>,
  policy: SourcePolicy = BUILT_IN_POLICY,
): Promise<SourceConnector> {
  const valid = validateConnectorConfig(definition, connectorTypes);
  const type = connectorTypes[valid.connector_type] as ConnectorType;
  return new CheckedConnector(async () => {
    const reach = await SourceReach.check(type.endpoints(valid.connection_config), policy);
    return type.create({ ...valid, connection_config: { ...valid.connection_config, reach } });
  });
}

/**
 * Checks where a definition's source is without connecting to it (saving a connector): throws `ConfigError`
 * for an invalid definition and `SourceDeniedError` for a refused source. A host that does not resolve yet
 * passes; it is checked again before every connection.
 */
export async function checkSourceReach(definition: Record<string, unknown>, policy: SourcePolicy): Promise<void> {
  const valid = validateConnectorConfig(definition, connectorTypes);
  const raw = definition.connection_config as PlainObject;
  await checkEndpoints((connectorTypes[valid.connector_type] as ConnectorType).endpoints(raw), policy, false);
}
