/**
 * The doctor's measurements every SQL source takes the same way (DoctorProbes in contract.ts): the largest run of equal cursor
 * values, NULL and future cursors, rows held back by the lag (counted as runs count them: cursor past the lag bound,
 * up to a cap), each over the connector's own FROM item and `where`, with a LIMIT wherever a count can stop early. The catalog questions (index, privileges, estimate) are each
 * source's own (`<db>-doctor.ts`).
 */
import type { CursorScalar, ReadPlan, Row } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import type { DoctorProbes, EstimateFact, IndexFact, PrivilegeFact } from '../contract';
import { keysetOrder, lagBound } from '../keyset-plan';
import { keysetSettings, lastPullInstant } from '../read-window';
import { isTemporal, SqlParams, type SqlColumn } from './sql-dialect';
import { userCondition, type SqlSource } from './sql-source';
import { renderSqlTemplate } from './sql-template';

/** One statement, read-only and stopped by the server after the doctor's budget. */
export type TimedQuery = <T extends Row>(sql: string, values: unknown[]) => Promise<T[]>;

/** What a SQL source answers from its own catalog. */
export interface SqlCatalogProbes {
  orderIndex(order: string[]): Promise<IndexFact | null>;
  privileges(): Promise<PrivilegeFact>;
  estimate(): Promise<EstimateFact>;
}

export function sqlDoctorProbes(
  o: { query: TimedQuery; source: SqlSource; def: ConnectorDefinition; plan: ReadPlan },
  catalog: SqlCatalogProbes,
): DoctorProbes {
  const { source, def, plan, query } = o;
  const { dialect } = source;
  const cursor = source.cursor;
  const order = keysetOrder(source)?.map((c) => c.name) ?? null;
  const lastPull = dialect.instantParam(lastPullInstant(def, plan));
  const q = (name: string) => dialect.quoteIdentifier(name);

  /** `FROM <source> WHERE <where> AND <conditions>`, binding `:last_pull` as the next read would. */
  const fromWhere = (params: SqlParams, conditions: Array<(params: SqlParams) => string>) => {
    let sql = `FROM ${renderSqlTemplate(source.from, () => params.add(lastPull))}`;
    const all = source.where ? [userCondition(source.where, () => params.add(lastPull))] : [];
    for (const c of conditions) all.push(c(params));
    if (all.length) sql += `\nWHERE ${all.join('\n  AND ')}`;
    return sql;
  };
  const cursorSql = (c: SqlColumn) => q(c.name);
  /** Rows matching `conditions`, counted up to `cap`. */
  const cappedCount = async (c: SqlColumn, conditions: Array<(params: SqlParams) => string>, cap: number) => {
    const params = new SqlParams(dialect);
    const inner = `SELECT ${cursorSql(c)} ${fromWhere(params, conditions)}\n${dialect.limit(params, cap)}`;
    const [row] = await query<Row>(`SELECT COUNT(*) AS ${q('n')} FROM (\n${inner}\n) AS ${q('capped')}`, params.values);
    return Number(row?.n ?? 0);
  };

  /** Rows whose cursor is after `value`, counted up to `cap`, and the first (ASC) or last (DESC) of their cursor values. */
  const after = async (value: string, cap: number, direction: 'ASC' | 'DESC') => {
    const c = cursor!;
    const later = (params: SqlParams) => `${cursorSql(c)} > ${params.bind(c, value)}`;
    const rows = await cappedCount(c, [later], cap);
    if (rows === 0) return { rows, edge: null };
    const params = new SqlParams(dialect);
    const sql = `SELECT ${cursorSql(c)} AS ${q('edge')} ${fromWhere(params, [later])}\nORDER BY ${cursorSql(c)} ${direction}\n${dialect.limit(params, 1)}`;
    const [row] = await query<Row>(sql, params.values);
    return { rows, edge: (row?.edge ?? null) as CursorScalar };
  };

  return {
    shape: {
      cursor: cursor && { ...cursor, temporal: isTemporal(cursor.kind) },
      order,
      table: def.table,
      label: source.label,
    },
    orderIndex: () => (def.table !== null && order ? catalog.orderIndex(order) : Promise.resolve(null)),
    async largestRun() {
      const c = cursor!;
      const params = new SqlParams(dialect);
      const sql =
        `SELECT ${cursorSql(c)} AS ${q('value')}, COUNT(*) AS ${q('n')} ${fromWhere(params, [() => `${cursorSql(c)} IS NOT NULL`])}\n` +
        `GROUP BY ${cursorSql(c)}\nORDER BY ${q('n')} DESC\n${dialect.limit(params, 1)}`;
      const [row] = await query<Row>(sql, params.values);
      return row ? { value: row.value as CursorScalar, rows: Number(row.n) } : null;
    },
    nullCursors: (cap) => cappedCount(cursor!, [() => `${cursorSql(cursor!)} IS NULL`], cap),
    async futureCursors(now, cap) {
      const found = await after(now, cap, 'DESC');
      return { rows: found.rows, latest: found.edge };
    },
    async heldBack(cap) {
      const bound = cursor && lagBound({ ...cursor, temporal: isTemporal(cursor.kind) }, keysetSettings(def), plan.now);
      if (typeof bound !== 'string') return null;
      const found = await after(bound, cap, 'ASC');
      return { rows: found.rows, first: found.edge };
    },
    privileges: () => catalog.privileges(),
    estimate: () => catalog.estimate(),
  };
}
