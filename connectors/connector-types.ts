/**
 * Connector types by `connector_type`. Each entry validates its own `connection_config` (returning the type it
 * declares in `ConnectionConfigs`), says what in a definition it refuses to run, names the servers it points at
 * (for the source policy) and creates the connector; everything else about a definition is validated once, in
 * connector-config.ts.
 */
import type { SourceConnector } from './contract';
import type { ConfigIssue, IssueReporter } from './config-error';
import type { PlainObject } from './connection-checks';
import type { ConnectionConfigs, ConnectorDefinition, ConnectorTypeName } from './connector-definition';
import { mongodbEndpoints, validateMongodbConnection } from './mongodb/mongodb-config';
import { mongodbReadOnlyIssues } from './mongodb/mongodb-read-only';
import { mysqlEndpoints, validateMysqlConnection } from './mysql/mysql-config';
import { mysqlReadOnly } from './mysql/mysql-read-only';
import { neo4jEndpoints, validateNeo4jConnection } from './neo4j/neo4j-config';
import { neo4jReadOnlyIssues } from './neo4j/neo4j-read-only';
import { postgresqlEndpoints, validatePostgresqlConnection } from './postgresql/postgresql-config';
import { postgresqlReadOnly } from './postgresql/postgresql-read-only';
import type { SourceEndpoint } from './source-policy';
import type { SourceReach } from './source-reach';
import { sqlReadOnlyIssues } from './sql/sql-read-only';

export interface ConnectorType<C extends object = object> {
  /** The word users of this source write for table mode instead of `table` (`collection`, `label`); both are accepted. */
  tableAlias?: string;
  /** `text`: `query`/`where` are SQL or Cypher strings; `document`: filter documents (MongoDB). */
  queryKind: 'text' | 'document';
  /** Checks `connection_config` (reporting issues relative to it) and returns it normalised. */
  validateConnection(value: PlainObject, report: IssueReporter): C;
  /**
   * What in the definition (query, where, field names) could write, escape the read-only session or reach
   * beyond the source; the connector checks it again before it reads.
   */
  readOnlyIssues?(definition: ConnectorDefinition): ConfigIssue[];
  /** The servers a valid `connection_config` (as given, or normalised) points at. */
  endpoints(connection: PlainObject): SourceEndpoint[];
  /**
   * Loads the driver on first use (a worker that pulls only from PostgreSQL never pays for the MongoDB driver)
   * and creates the connector; with `reach` it connects only where the source policy allows.
   */
  create(definition: ConnectorDefinition, reach?: SourceReach): Promise<SourceConnector>;
}

const types = {
  postgresql: {
    queryKind: 'text',
    validateConnection: validatePostgresqlConnection,
    readOnlyIssues: (definition) => sqlReadOnlyIssues(definition, postgresqlReadOnly),
    endpoints: postgresqlEndpoints,
    create: async (definition, reach) => new (await import('./postgresql/postgresql-connector')).PostgresqlConnector(definition, reach),
  },
  mysql: {
    queryKind: 'text',
    validateConnection: validateMysqlConnection,
    readOnlyIssues: (definition) => sqlReadOnlyIssues(definition, mysqlReadOnly),
    endpoints: mysqlEndpoints,
    create: async (definition, reach) => new (await import('./mysql/mysql-connector')).MysqlConnector(definition, reach),
  },
  mongodb: {
    tableAlias: 'collection',
    queryKind: 'document',
    validateConnection: validateMongodbConnection,
    readOnlyIssues: mongodbReadOnlyIssues,
    endpoints: mongodbEndpoints,
    create: async (definition, reach) => new (await import('./mongodb/mongodb-connector')).MongodbConnector(definition, reach),
  },
  neo4j: {
    tableAlias: 'label',
    queryKind: 'text',
    validateConnection: validateNeo4jConnection,
    readOnlyIssues: neo4jReadOnlyIssues,
    endpoints: neo4jEndpoints,
    // The driver resolves names itself (see README: What a connector may reach): the policy is checked before it connects.
    create: async (definition) => new (await import('./neo4j/neo4j-connector')).Neo4jConnector(definition),
  },
} satisfies { [K in ConnectorTypeName]: ConnectorType<ConnectionConfigs[K]> };

export const connectorTypes: Readonly<Record<string, ConnectorType>> = types;
