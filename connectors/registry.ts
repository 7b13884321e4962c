/**
 * Connector types by `connector_type`. Each entry validates its own `connection_config` and creates the
 * connector; everything else about a definition is validated once, in connector-config.ts.
 */
import type { SourceConnector } from './contract';
import type { ConfigIssue, IssueReporter } from './config-error';
import type { PlainObject } from './connection-checks';
import { validateConnectorConfig, type ConnectorDefinition } from './connector-config';
import { validateMongodbConnection } from './mongodb/mongodb-config';
import { mongodbReadOnlyIssues } from './mongodb/mongodb-read-only';
import { validateMysqlConnection } from './mysql/mysql-config';
import { mysqlReadOnly } from './mysql/mysql-read-only';
import { validatePostgresqlConnection } from './postgresql/postgresql-config';
import { postgresqlReadOnly } from './postgresql/postgresql-read-only';
import { validateNeo4jConnection } from './neo4j/neo4j-config';
import { neo4jReadOnlyIssues } from './neo4j/neo4j-read-only';
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
  /** Loads the driver on first use: a worker that pulls only from PostgreSQL never pays for the MongoDB driver. */
  create(definition: ConnectorDefinition): Promise<SourceConnector>;
}

export const connectorTypes: Readonly<Record<string, ConnectorType>> = {
  postgresql: {
    queryKind: 'text',
    validateConnection: (value, report) => ({ ...validatePostgresqlConnection(value, report) }),
    readOnlyIssues: (definition) => sqlReadOnlyIssues(definition, postgresqlReadOnly),
    create: async (definition) => new (await import('./postgresql/postgresql-connector')).PostgresqlConnector(definition),
  },
  mysql: {
    queryKind: 'text',
    validateConnection: (value, report) => ({ ...validateMysqlConnection(value, report) }),
    readOnlyIssues: (definition) => sqlReadOnlyIssues(definition, mysqlReadOnly),
    create: async (definition) => new (await import('./mysql/mysql-connector')).MysqlConnector(definition),
  },
  mongodb: {
    tableAlias: 'collection',
    queryKind: 'document',
    validateConnection: (value, report) => ({ ...validateMongodbConnection(value, report) }),
    readOnlyIssues: mongodbReadOnlyIssues,
    create: async (definition) => new (await import('./mongodb/mongodb-connector')).MongodbConnector(definition),
  },
  neo4j: {
    tableAlias: 'label',
    queryKind: 'text',
    validateConnection: (value, report) => ({ ...validateNeo4jConnection(value, report) }),
    readOnlyIssues: neo4jReadOnlyIssues,
    create: async (definition) => new (await import('./neo4j/neo4j-connector')).Neo4jConnector(definition),
  },
};

export { validateConnectorConfig };

/**
 * The connector for a definition, raw or already validated: it is validated (again) here, so a connector
 * never runs on an unchecked definition. Throws `ConfigError`.
 */
export async function createConnector(definition: ConnectorDefinition | Record<string, unknown>): Promise<SourceConnector> {
  const valid = validateConnectorConfig(definition, connectorTypes);
  return (connectorTypes[valid.connector_type] as ConnectorType).create(valid);
}
