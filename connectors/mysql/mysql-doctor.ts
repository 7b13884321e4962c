/**
 * The doctor's MySQL/MariaDB catalog questions: an index whose order (with InnoDB's implicit primary key suffix) is
 * (cursor, key) (information_schema.STATISTICS), the grants of the connector's user (SHOW GRANTS), and the table's
 * row estimate (information_schema.TABLES.TABLE_ROWS). Each statement is stopped by the server after the budget:
 * MariaDB's `SET STATEMENT max_statement_time … FOR`, MySQL's MAX_EXECUTION_TIME hint.
 */
import type { ReadPlan, Row } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import type { DoctorProbes, PrivilegeFact } from '../contract';
import { sqlDoctorProbes, type TimedQuery } from '../sql/sql-doctor';
import type { SqlSource } from '../sql/sql-source';
import { mysqlDialect } from './mysql-dialect';
import type { MysqlSession } from './mysql-session';

const ESTIMATE_QUERY =
  'SELECT TABLE_ROWS AS estimate FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?';

/** Privileges that change data or structure; `ALL PRIVILEGES` holds them all. */
const WRITES = new Set([
  'ALL PRIVILEGES',
  'ALL',
  'INSERT',
  'UPDATE',
  'DELETE',
  'DROP',
  'ALTER',
  'CREATE',
  'INDEX',
  'TRIGGER',
  'DELETE HISTORY',
]);

const q = mysqlDialect.quoteIdentifier;

function splitTable(table: string): [string | null, string] {
  const dot = table.indexOf('.');
  return dot < 0 ? [null, table] : [table.slice(0, dot), table.slice(dot + 1)];
}

/** An identifier as SHOW GRANTS writes it (backticks, or bare): compared without them. */
const bare = (name: string) => name.replace(/^`|`$/g, '').replaceAll('``', '`');

export async function mysqlDoctor(
  session: MysqlSession,
  source: SqlSource,
  def: ConnectorDefinition,
  plan: ReadPlan,
  timeoutMs: number,
): Promise<DoctorProbes> {
  const [version] = await session.query<{ v: string }>('SELECT VERSION() AS v');
  const mariadb = String(version?.v).includes('MariaDB');
  const timed = (sql: string) =>
    mariadb
      ? `SET STATEMENT max_statement_time = ${Math.max(0.001, timeoutMs / 1000)} FOR ${sql}`
      : sql.replace(/^SELECT /, `SELECT /*+ MAX_EXECUTION_TIME(${Math.ceil(timeoutMs)}) */ `);
  const query: TimedQuery = (sql, values) => session.query(timed(sql), values);
  const [schema, name] = def.table !== null ? splitTable(def.table) : [null, ''];
  const [{ db } = { db: null }] = await session.query<{ db: string | null }>('SELECT DATABASE() AS db');
  const database = schema ?? db ?? '';

  return sqlDoctorProbes(
    { query, source, def, plan },
    {
      async orderIndex(order) {
        const table = def.table as string;
        const index = await session.orderIndex(table, order, await session.primaryKey(table));
        const create = `CREATE INDEX ${q(`${order.join('_')}_idx`.slice(0, 64))} ON ${mysqlDialect.quoteTable(table)} (${order.map(q).join(', ')});`;
        return { index, create };
      },
      async privileges(): Promise<PrivilegeFact> {
        const [{ user } = { user: 'the user' }] = await session.query<{ user: string }>('SELECT CURRENT_USER() AS user');
        const at = user.lastIndexOf('@');
        const account = at < 0 ? `'${user}'` : `'${user.slice(0, at)}'@'${user.slice(at + 1)}'`;
        const writes = new Set<string>();
        const scopes = new Set<string>();
        for (const row of await session.query<Row>('SHOW GRANTS')) {
          const grant = String(Object.values(row)[0] ?? '');
          const m = /^GRANT (.+?) ON (?:TABLE |PROCEDURE |FUNCTION )?(\S+) TO /i.exec(grant);
          if (!m) continue;
          const on = /^(`(?:[^`]|``)*`|[^.`]+)\.(`(?:[^`]|``)*`|[^.`]+)$/.exec(m[2] as string);
          if (!on) continue;
          const target = bare(on[1] as string);
          const targetTable = bare(on[2] as string);
          const applies = (target === '*' || target === database) && (targetTable === '*' || def.table === null || targetTable === name);
          if (!applies) continue;
          const privileges = (m[1] as string)
            .replace(/\([^)]*\)/g, '')
            .split(',')
            .map((p) => p.trim().toUpperCase());
          const found = privileges.filter((p) => WRITES.has(p));
          for (const p of found) writes.add(p === 'ALL' ? 'ALL PRIVILEGES' : p);
          if (found.length) scopes.add(`${target === '*' ? '*' : q(target)}.${targetTable === '*' ? '*' : q(targetTable)}`);
        }
        const list = [...writes];
        return {
          known: true,
          role: `user ${account}`,
          writes: list,
          fix:
            [...scopes].map((scope) => `REVOKE ${list.join(', ')} ON ${scope} FROM ${account};`).join(' ') +
            ` GRANT SELECT ON ${q(database)}.${def.table !== null ? q(name) : '*'} TO ${account}; (or connect as a user that has only SELECT)`,
        };
      },
      async estimate() {
        if (def.table === null) return { rows: null, basis: 'a query has no row estimate of its own; a full resync reads what it returns' };
        const [row] = await query<{ estimate: number | null }>(ESTIMATE_QUERY, [schema, name]);
        if (row?.estimate == null) return { rows: null, basis: 'information_schema.TABLES has no row estimate for this table' };
        const filtered = def.where !== null ? '; the where filter reads fewer' : '';
        return { rows: Number(row.estimate), basis: `information_schema.TABLES.TABLE_ROWS, an estimate for the whole table${filtered}` };
      },
    },
  );
}
