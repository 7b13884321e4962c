import type { ReadPlan } from '../contract';
import type { DoctorProbes } from '../contract';
import { definitionOf, type ConnectorDefinition } from '../connector-definition';
import type { SourceReach } from '../source-reach';
import { keysetOrder } from '../keyset-plan';
import { SqlConnector, type CatalogColumn } from '../sql/sql-connector';
import { describeStatement, resolveSqlSource, type SqlSource } from '../sql/sql-source';
import type { MysqlConnection } from './mysql-config';
import { mysqlDialect } from './mysql-dialect';
import { mysqlDoctor } from './mysql-doctor';
import { mysqlReadOnly } from './mysql-read-only';
import { MysqlSession } from './mysql-session';

const CLOCK_QUERY = "SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ') AS now";

const DISCOVER_QUERY = `
SELECT c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name, c.COLUMN_TYPE AS column_type,
       c.IS_NULLABLE = 'YES' AS nullable, COALESCE(s.SEQ_IN_INDEX, 0) AS key_position
FROM information_schema.COLUMNS c
LEFT JOIN information_schema.STATISTICS s
  ON s.TABLE_SCHEMA = c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME AND s.COLUMN_NAME = c.COLUMN_NAME AND s.INDEX_NAME = 'PRIMARY'
WHERE c.TABLE_SCHEMA = DATABASE()
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`;

/** Reads one MySQL/MariaDB table or query (see connectors/README.md). */
export class MysqlConnector extends SqlConnector<MysqlSession> {
  protected readonly clockQuery = CLOCK_QUERY;
  protected readonly readOnly = mysqlReadOnly;

  constructor(definition: ConnectorDefinition, reach?: SourceReach) {
    const def = definitionOf(definition, 'mysql');
    const c: MysqlConnection = { ...def.connection_config, reach };
    super(
      def,
      new MysqlSession(c, {
        target: `${c.host}:${c.port}/${c.database}`,
        host: c.host,
        secrets: c.password ? [c.password] : [],
      }),
    );
  }

  protected describeSource(lastPull: string): Promise<SqlSource> {
    return describeMysqlSource(this.session, this.def, lastPull);
  }

  protected doctorProbes(source: SqlSource, plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes> {
    return mysqlDoctor(this.session, source, this.def, plan, timeoutMs);
  }

  protected async catalog(): Promise<CatalogColumn[]> {
    const rows = await this.session.query<{
      table_name: string;
      column_name: string;
      column_type: string;
      nullable: number;
      key_position: number;
    }>(DISCOVER_QUERY);
    return rows.map((r) => ({
      table: r.table_name,
      column: r.column_name,
      type: r.column_type,
      nullable: Boolean(r.nullable),
      keyPosition: Number(r.key_position),
    }));
  }
}

/**
 * The source as the reader sees it: described with a `LIMIT 0` statement (binding `:last_pull` to
 * `lastPull`), its primary key discovered in table mode, and the (cursor, key) index named when the
 * table has one.
 */
export async function describeMysqlSource(session: MysqlSession, def: ConnectorDefinition, lastPull: string): Promise<SqlSource> {
  const table = def.table;
  const { columns, primaryKey: key } = await session.describe(
    describeStatement(mysqlDialect, def, mysqlDialect.instantParam(lastPull)),
    table,
  );
  const source = resolveSqlSource(mysqlDialect, def, columns, key);
  const order = keysetOrder(source);
  if (table !== null && order) {
    // The optimiser sometimes prefers the primary key plus a filesort over the (cursor, key) range when a
    // long run of rows shares one cursor value; naming the index keeps every page a range scan.
    const index = await session.orderIndex(
      table,
      order.map((c) => c.name),
      key,
    );
    if (index) source.from = { parts: [`${mysqlDialect.quoteTable(table)} FORCE INDEX (${mysqlDialect.quoteIdentifier(index)})`] };
  }
  return source;
}
