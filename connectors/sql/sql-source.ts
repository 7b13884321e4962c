/**
 * A SQL source as a connector reads it: the FROM item (table or wrapped query), the select list, the
 * cursor and key columns with their types. Built once per connector from a `LIMIT 0` description of the
 * source and its discovered primary key.
 */
import type { SourceTable } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import { ConnectorError } from '../connector-error';
import { columnsToRead, readKey, rowKey } from '../source-key';
import { SqlParams, type SqlColumn, type SqlDialect } from './sql-dialect';
import type { Statement } from './sql-keyset';
import { parseSqlTemplate, renderSqlTemplate, type SqlTemplate } from './sql-template';

export interface SqlSource {
  dialect: SqlDialect;
  /** FROM item: the quoted table, or the user's query as a derived table; may hold `:last_pull`. */
  from: SqlTemplate;
  /** Query mode: the user's query alone, streamed as written when there is no cursor. */
  query: SqlTemplate | null;
  /** Table mode: the user's extra condition. */
  where: SqlTemplate | null;
  /** `*`, or the configured columns plus the cursor and key columns, quoted. */
  select: string;
  /** Every column the source returns. */
  columns: SqlColumn[];
  /** The source clock when it was described, where the describe reads it (`DescribedSource.clock`). */
  clock?: string;
  cursor: SqlColumn | null;
  /**
   * The key keyset reading goes by: `cursor.tiebreaker`, else `primary_key`, else the discovered primary key;
   * it may hold the cursor column (see `keysetOrder`).
   */
  key: SqlColumn[];
  /** What identifies a row (default source_id): `primary_key`, else the discovered one, else the tie-breaker. */
  primaryKey: string[];
  /** For messages: `table "public.products"` or `query`. */
  label: string;
}

const DERIVED_ALIAS = 'source_query';

/** The FROM item of `def` as a template. */
function fromTemplate(dialect: SqlDialect, def: ConnectorDefinition): SqlTemplate {
  if (def.table !== null) return { parts: [dialect.quoteTable(def.table)] };
  const query = queryTemplate(dialect, def) as SqlTemplate;
  const parts = [...query.parts];
  parts[0] = `(\n${parts[0]}`;
  parts[parts.length - 1] = `${parts[parts.length - 1]}\n) AS ${dialect.quoteIdentifier(DERIVED_ALIAS)}`;
  return { parts };
}

function queryTemplate(dialect: SqlDialect, def: ConnectorDefinition): SqlTemplate | null {
  return typeof def.query === 'string' ? parseSqlTemplate(def.query, dialect.lexer) : null;
}

/**
 * The user's `where` as one condition. The line break keeps a trailing `-- comment` from hiding the closing
 * parenthesis; the text itself cannot close it (its brackets are balanced: see sql-read-only.ts).
 */
export function userCondition(where: SqlTemplate, placeholder: () => string): string {
  return `(${renderSqlTemplate(where, placeholder)}\n)`;
}

function whereTemplate(dialect: SqlDialect, def: ConnectorDefinition): SqlTemplate | null {
  return typeof def.where === 'string' ? parseSqlTemplate(def.where, dialect.lexer) : null;
}

/** `SELECT * FROM <source> [WHERE <where>] LIMIT 0`: names and types of the columns, and a check of the SQL. */
export function describeStatement(dialect: SqlDialect, def: ConnectorDefinition, lastPull: unknown): Statement {
  const params = new SqlParams(dialect);
  const bindLastPull = () => params.add(lastPull);
  let sql = `SELECT * FROM ${renderSqlTemplate(fromTemplate(dialect, def), bindLastPull)}`;
  const where = whereTemplate(dialect, def);
  if (where) sql += `\nWHERE ${userCondition(where, bindLastPull)}`;
  sql += '\nLIMIT 0';
  return { sql, values: params.values };
}

/**
 * Resolves the cursor and key columns of `def` against the described columns. Throws `not_found` for a
 * column that is not there and `config` for a cursor or key column whose type has no order.
 */
export function resolveSqlSource(dialect: SqlDialect, def: ConnectorDefinition, columns: SqlColumn[], discoveredKey: string[]): SqlSource {
  const label = def.table !== null ? `table "${def.table}"` : 'the query';
  const byName = new Map(columns.map((c) => [c.name, c]));
  const available = columns.map((c) => c.name).join(', ');
  const find = (name: string, setting: string): SqlColumn => {
    const column = byName.get(name);
    if (!column) {
      throw new ConnectorError(
        'not_found',
        `${setting} "${name}" is not a column of ${label} (columns: ${available}) - check the name and its case`,
      );
    }
    return column;
  };
  const ordered = (column: SqlColumn, setting: string): SqlColumn => {
    if (column.kind === 'unordered') {
      throw new ConnectorError(
        'config',
        `${setting} "${column.name}" has type ${column.type}, which has no order - choose a timestamp, date, number or text column`,
      );
    }
    return column;
  };

  for (const name of def.columns ?? []) find(name, 'columns entry');
  const cursorName = def.cursor?.column ?? null;
  let cursor = cursorName !== null ? ordered(find(cursorName, 'cursor.column'), 'cursor.column') : null;
  // A query's column can be NULL even when its source column is NOT NULL (outer joins): assume it can.
  if (cursor && def.table === null) cursor = { ...cursor, nullable: true };
  const keyNames = readKey(def, discoveredKey, 'primary key column');
  const key = keyNames.names.map((n) => ordered(find(n, keyNames.setting), keyNames.setting));
  // A query has no discoverable key. QANATIX queries select `id`: records upsert by it, so an updated row
  // replaces its entity instead of adding one beside it (set primary_key or source_id to choose another).
  const queryKey = def.table === null && byName.has('id') ? ['id'] : [];
  const primaryKey = rowKey(def, discoveredKey, queryKey);
  for (const name of primaryKey) find(name, def.primary_key ? 'primary_key' : 'primary key column');

  const selected = columnsToRead(def, keyNames.names, primaryKey);
  const select = selected ? selected.map((n) => dialect.quoteIdentifier(n)).join(', ') : '*';

  return {
    dialect,
    from: fromTemplate(dialect, def),
    query: queryTemplate(dialect, def),
    where: whereTemplate(dialect, def),
    select,
    columns,
    cursor,
    key,
    primaryKey,
    label,
  };
}

/** The source as the contract's `describe()` reports it. */
export function describeSqlSource(source: SqlSource, name: string): SourceTable {
  return {
    name,
    columns: source.columns.map((c) => ({ name: c.name, type: c.type, nullable: c.nullable })),
    primaryKey: source.primaryKey,
  };
}
