/**
 * The doctor's PostgreSQL catalog questions: a plain btree index leading with the (cursor, key) columns
 * (pg_index), what the connector's role may do to the table (has_table_privilege, role attributes), and the
 * planner's row estimate (EXPLAIN, from pg_class.reltuples).
 */
import type { ReadPlan, Row } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import type { DoctorProbes, PrivilegeFact } from '../contract';
import { sqlDoctorProbes, type TimedQuery } from '../sql/sql-doctor';
import { userCondition, type SqlSource } from '../sql/sql-source';
import { SqlParams } from '../sql/sql-dialect';
import { renderSqlTemplate } from '../sql/sql-template';
import { lastPullInstant } from '../read-window';
import { postgresqlDialect } from './postgresql-dialect';
import type { PostgresqlSession } from './postgresql-session';

const INDEXES_QUERY = `
SELECT ic.relname AS name, c.relkind AS relkind,
       (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns
FROM pg_catalog.pg_class c
LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL
LEFT JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_catalog.pg_am am ON am.oid = ic.relam
WHERE c.oid = $1::regclass AND (i.indexrelid IS NULL OR am.amname = 'btree')`;

const PRIVILEGES_QUERY = `
SELECT current_user AS role, r.rolsuper AS superuser,
       (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass) AS schema,
       array_to_json(ARRAY(SELECT p FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p
                           WHERE $1::text IS NOT NULL AND has_table_privilege($1::regclass, p))) AS writes
FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`;

const q = postgresqlDialect.quoteIdentifier;

export function postgresqlDoctor(
  session: PostgresqlSession,
  source: SqlSource,
  def: ConnectorDefinition,
  plan: ReadPlan,
  timeoutMs: number,
): DoctorProbes {
  const query: TimedQuery = (sql, values) => session.query(sql, values, timeoutMs);
  const table = def.table !== null ? postgresqlDialect.quoteTable(def.table) : null;
  return sqlDoctorProbes(
    { query, source, def, plan },
    {
      async orderIndex(order) {
        const create = `CREATE INDEX CONCURRENTLY ON ${table} (${order.map(q).join(', ')});`;
        const rows = await query<{ name: string | null; relkind: string; columns: unknown }>(INDEXES_QUERY, [table]);
        if (rows.some((r) => r.relkind === 'v' || r.relkind === 'f')) return null;
        const found = rows.find((r) => {
          const columns = (typeof r.columns === 'string' ? JSON.parse(r.columns) : r.columns) as string[] | null;
          return columns !== null && order.every((name, i) => columns[i] === name);
        });
        return { index: found?.name ?? null, create };
      },
      async privileges(): Promise<PrivilegeFact> {
        const [row] = await query<{ role: string; superuser: boolean; schema: string | null; writes: unknown }>(PRIVILEGES_QUERY, [table]);
        const role = row?.role ?? 'the role';
        const writes = ((typeof row?.writes === 'string' ? JSON.parse(row.writes) : row?.writes) ?? []) as string[];
        const subject = table ?? 'the tables the query reads';
        const grantRead =
          `CREATE ROLE qanatix_reader LOGIN PASSWORD '…'; GRANT USAGE ON SCHEMA ${row?.schema ? q(row.schema) : '…'} TO qanatix_reader; ` +
          `GRANT SELECT ON ${subject} TO qanatix_reader; and connect as qanatix_reader`;
        if (row?.superuser) return { known: true, role: `role "${role}"`, writes: ['SUPERUSER', ...writes], fix: grantRead };
        return {
          known: true,
          role: `role "${role}"`,
          writes,
          fix: table ? `REVOKE ${writes.join(', ')} ON ${table} FROM ${q(role)}; (or connect as a role that has only SELECT)` : grantRead,
        };
      },
      async estimate() {
        const params = new SqlParams(postgresqlDialect);
        const lastPull = lastPullInstant(def, plan);
        let sql = `EXPLAIN (FORMAT JSON) SELECT * FROM ${renderSqlTemplate(source.from, () => params.add(lastPull))}`;
        if (source.where) sql += `\nWHERE ${userCondition(source.where, () => params.add(lastPull))}`;
        const [row] = await query<Row>(sql, params.values);
        const raw = row?.['QUERY PLAN'];
        const planJson = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan?: { 'Plan Rows'?: number } }> | undefined;
        const rows = planJson?.[0]?.Plan?.['Plan Rows'];
        return typeof rows === 'number'
          ? { rows, basis: "the planner's estimate, from pg_class.reltuples: ANALYZE the table if it is far off" }
          : { rows: null, basis: 'the planner gave no estimate' };
      },
    },
  );
}
