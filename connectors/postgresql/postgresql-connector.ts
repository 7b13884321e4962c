import type { ReadPlan, RowBatch, SourceConnector, SourceTable } from '../contract';
import type { ConnectorDefinition } from '../connector-config';
import { EPOCH_ISO } from '../iso-time';
import { lastPullInstant, readSql } from '../sql/sql-reader';
import { describeSqlSource, describeStatement, resolveSqlSource, type SqlSource } from '../sql/sql-source';
import { describeDsn, type PostgresqlConnection } from './postgresql-config';
import { postgresqlDialect } from './postgresql-dialect';
import { PostgresqlSession } from './postgresql-session';

const CLOCK_QUERY = `SELECT to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS now`;

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
export class PostgresqlConnector implements SourceConnector {
  private readonly def: ConnectorDefinition;
  private readonly session: PostgresqlSession;
  private source: Promise<SqlSource> | null = null;

  constructor(def: ConnectorDefinition) {
    this.def = def;
    const connection = def.connection_config as unknown as PostgresqlConnection;
    const dsn = describeDsn(connection.dsn);
    this.session = new PostgresqlSession(connection, {
      target: dsn.target,
      host: dsn.host,
      secrets: dsn.secrets,
      userQuery: typeof def.query === 'string' ? def.query : null,
    });
  }

  async check(): Promise<void> {
    await this.sqlSource();
  }

  async describe(plan?: ReadPlan): Promise<SourceTable> {
    return describeSqlSource(await this.sqlSource(plan), this.def.table ?? 'query');
  }

  async discover(): Promise<SourceTable[]> {
    const rows = await this.session.query<{ schema: string; table: string; column: string; type: string; nullable: boolean; key_position: number }>(DISCOVER_QUERY);
    const tables = new Map<string, SourceTable & { keyPositions: Array<[number, string]> }>();
    for (const r of rows) {
      const name = `${r.schema}.${r.table}`;
      let table = tables.get(name);
      if (!table) {
        table = { name, columns: [], primaryKey: [], keyPositions: [] };
        tables.set(name, table);
      }
      table.columns.push({ name: r.column, type: r.type, nullable: r.nullable });
      if (r.key_position > 0) table.keyPositions.push([r.key_position, r.column]);
    }
    return [...tables.values()].map(({ keyPositions, ...table }) => ({
      ...table,
      primaryKey: keyPositions.sort((a, b) => a[0] - b[0]).map(([, column]) => column),
    }));
  }

  async clock(): Promise<string> {
    const [row] = await this.session.query<{ now: string }>(CLOCK_QUERY);
    return (row as { now: string }).now;
  }

  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch> {
    return this.readBatches(plan, signal);
  }

  async close(): Promise<void> {
    await this.session.close();
  }

  private async *readBatches(plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
    yield* readSql(this.session, await this.sqlSource(plan), this.def, plan, signal);
  }

  /** Describes the source once: column types, the primary key (table mode), and a check of the SQL. */
  private sqlSource(plan?: ReadPlan): Promise<SqlSource> {
    this.source ??= describePostgresqlSource(this.session, this.def, plan ? lastPullInstant(this.def, plan) : EPOCH_ISO);
    this.source.catch(() => {
      this.source = null;
    });
    return this.source;
  }
}

/**
 * The source as the reader sees it: described with a `LIMIT 0` statement (binding `:last_pull` to
 * `lastPull`), unknown types resolved, and its primary key discovered in table mode.
 */
export async function describePostgresqlSource(session: PostgresqlSession, def: ConnectorDefinition, lastPull: string): Promise<SqlSource> {
  const columns = await session.describe(describeStatement(postgresqlDialect, def, lastPull));
  const key = def.table !== null ? await session.primaryKey(postgresqlDialect.quoteTable(def.table)) : [];
  return resolveSqlSource(postgresqlDialect, def, columns, key);
}
