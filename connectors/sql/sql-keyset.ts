/**
 * Keyset page statements: "the next n rows after position (v0, v1, …) in (c0, c1, …) order", never OFFSET.
 *
 * Row-value dialects get one statement:
 *   SELECT … WHERE <filters> AND (c0, c1, c2) > ($1, $2, $3) ORDER BY c0, c1, c2 LIMIT n
 * Split dialects get one statement per prefix of the position, deepest first, each a plain index range:
 *   … WHERE <filters> AND c0 = v0 AND c1 = v1 AND c2 > v2 ORDER BY c0, c1, c2 LIMIT n
 *   … WHERE <filters> AND c0 = v0 AND c1 > v1           ORDER BY c0, c1, c2 LIMIT n - (rows so far)
 *   … WHERE <filters> AND c0 > v0                       ORDER BY c0, c1, c2 LIMIT n - (rows so far)
 * run in that order until the page is full; their union is exactly the row-value predicate, in order (the
 * planner's `afterBranches`).
 */
import type { CursorScalar, KeysetColumn } from '../contract';
import { isIsoTimestamp } from '../iso-time';
import { afterBranches, unfitValue, type Condition } from '../keyset-plan';
import { SqlParams, type SqlColumn, type SqlDialect } from './sql-dialect';

export interface Statement {
  sql: string;
  values: unknown[];
}

/** A cursor or key column as the planner sees it. */
export type KeysetSqlColumn = SqlColumn & KeysetColumn;

/** One condition of a statement, rendered with its parameters. */
export type Filter = (params: SqlParams) => string;

/** Builds one statement for at most `limit` rows. */
export type StatementBuilder = (limit: number) => Statement;

export interface PageQuery {
  /** `SELECT <columns> FROM <source>`; may add parameters (`:last_pull`). */
  head(params: SqlParams): string;
  /** Conditions ANDed after the head, rendered in order. */
  filters: readonly Filter[];
  /** ORDER BY these columns, ascending. */
  order: readonly SqlColumn[];
  /** Continue strictly after `values` of `columns` (a leading part of the order, or all of it); null: from the start. */
  after: { columns: readonly SqlColumn[]; values: readonly CursorScalar[] } | null;
}

/** The statements of one page, in the order they must run. */
export function pageStatements(dialect: SqlDialect, query: PageQuery): StatementBuilder[] {
  const after = query.after;
  if (!after || after.columns.length === 0) return [(limit) => build(dialect, query, null, limit)];
  if (dialect.keyset === 'row-value' || after.columns.length === 1) {
    return [
      (limit) =>
        build(
          dialect,
          query,
          (params) => {
            const cols = after.columns.map((c) => dialect.quoteIdentifier(c.name));
            const vals = after.columns.map((c, i) => params.bind(c, after.values[i] as CursorScalar));
            return cols.length === 1 ? `${cols[0]} > ${vals[0]}` : `(${cols.join(', ')}) > (${vals.join(', ')})`;
          },
          limit,
        ),
    ];
  }
  return afterBranches(after.columns, after.values).map(
    (branch) => (limit: number) =>
      build(
        dialect,
        query,
        (params) => {
          const terms = branch.equal.map(({ column, value }) =>
            dialect.equals(dialect.quoteIdentifier(column.name), () => params.bind(column, value)),
          );
          terms.push(
            `${dialect.quoteIdentifier(branch.greater.column.name)} > ${params.bind(branch.greater.column, branch.greater.value)}`,
          );
          return terms.join(' AND ');
        },
        limit,
      ),
  );
}

function build(dialect: SqlDialect, query: PageQuery, position: ((params: SqlParams) => string) | null, limit: number): Statement {
  const params = new SqlParams(dialect);
  let sql = query.head(params);
  const conditions = query.filters.map((f) => f(params));
  if (position) conditions.push(position(params));
  if (conditions.length) sql += `\nWHERE ${conditions.join('\n  AND ')}`;
  sql += `\nORDER BY ${query.order.map((c) => dialect.quoteIdentifier(c.name)).join(', ')}`;
  sql += `\n${dialect.limit(params, limit)}`;
  return { sql, values: params.values };
}

/** A condition of the plan as SQL; a `cursor.initial_value` that does not fit its column is refused here, before any read. */
export function sqlCondition(dialect: SqlDialect, condition: Condition<KeysetSqlColumn>): Filter {
  const name = dialect.quoteIdentifier(condition.column.name);
  switch (condition.op) {
    case 'is-null':
      return () => `${name} IS NULL`;
    case 'not-null':
      return () => `${name} IS NOT NULL`;
    case '<=':
      return (params) => `${name} <= ${params.bind(condition.column, condition.value)}`;
    case '>=':
    case '<':
      checkValueFits(condition.what, condition.column, condition.value);
      return (params) => `${name} ${condition.op} ${params.bind(condition.column, condition.value)}`;
  }
}

const INTEGER = /^-?\d+$/;
const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

/**
 * `cursor.initial_value` and a position to resume after must fit their columns; a database would otherwise coerce
 * them silently (MySQL).
 */
export function checkValueFits(what: string, column: KeysetSqlColumn, value: CursorScalar): void {
  const text = String(value);
  const fits = column.temporal
    ? typeof value === 'string' && isIsoTimestamp(value)
    : column.kind === 'integer'
      ? (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && INTEGER.test(text))
      : column.kind === 'decimal' || column.kind === 'float'
        ? typeof value === 'number' || NUMBER.test(text)
        : column.kind === 'boolean'
          ? typeof value === 'boolean'
          : typeof value === 'string';
  if (fits) return;
  throw unfitValue(what, value, column, column.temporal ? 'an ISO 8601 timestamp such as 2024-01-31T00:00:00Z' : `a ${column.kind} value`);
}
