import type { ReadPlan } from '../contract';
import type { DoctorProbes } from '../contract';
import { definitionOf, type ConnectorDefinition } from '../connector-definition';
import type { SourceReach } from '../source-reach';
import { SqlConnector, type CatalogColumn } from '../sql/sql-connector';
import { describeStatement, resolveSqlSource, type SqlSource } from '../sql/sql-source';
import { describeDsn, type PostgresqlConnection } from './postgresql-config';
import { postgresqlDialect } from './postgresql-dialect';
import { postgresqlDoctor } from './postgresql-doctor';
import { postgresqlReadOnly } from './postgresql-read-only';
import { CLOCK_QUERY, PostgresqlSession } from './postgresql-session';

const DISCOVER_QUERY = `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
       NOT a.attnotnull AS nullable,
       COALESCE((SELECT k.ord::int FROM unnest(pk.indkey) WITH ORDINALITY AS k(attnum, ord) WHERE k.attnum = a.attnum), 0) AS key_position
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND has_table_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname, a.attnum`;

/** Reads one PostgreSQL table or query (see connectors/README.md). */
export class PostgresqlConnector extends SqlConnector<PostgresqlSession> {
  protected readonly clockQuery = CLOCK_QUERY;
  protected readonly readOnly = postgresqlReadOnly;

  constructor(definition: ConnectorDefinition, reach?: SourceReach) {
    const def = definitionOf(definition, 'postgresql');
    const connection: PostgresqlConnection = { ...def.connection_config, reach };
    const dsn = describeDsn(connection.dsn);
    super(def, new PostgresqlSession(connection, { target: dsn.target, host: dsn.host, secrets: dsn.secrets }));
  }

  protected describeSource(lastPull: string): Promise<SqlSource> {
    return describePostgresqlSource(this.session, this.def, lastPull);
  }

  protected async doctorProbes(source: SqlSource, plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes> {
    return postgresqlDoctor(this.session, source, this.def, plan, timeoutMs);
  }

  protected async catalog(): Promise<CatalogColumn[]> {
    const rows = await this.session.query<{
      schema: string;
      table: string;
      column: string;
      type: string;
      nullable: boolean;
      key_position: number;
    }>(DISCOVER_QUERY);
    return rows.map((r) => ({
      table: `${r.schema}.${r.table}`,
      column: r.column,
      type: r.type,
      nullable: r.nullable,
      keyPosition: r.key_position,
    }));
  }
}

/**
 * The source as the reader sees it: described with a `LIMIT 0` statement (binding `:last_pull` to
 * `lastPull`), unknown types resolved, and its primary key discovered in table mode.
 */
export async function describePostgresqlSource(session: PostgresqlSession, def: ConnectorDefinition, lastPull: string): Promise<SqlSource> {
  const table = def.table === null ? null : postgresqlDialect.quoteTable(def.table);
  const { columns, primaryKey, clock } = await session.describe(describeStatement(postgresqlDialect, def, lastPull), table);
  return { ...resolveSqlSource(postgresqlDialect, def, columns, primaryKey), clock };
}
