/**
 * How a SQL source is read: the keyset planner's phases (keyset-plan.ts) rendered as SQL, one page per short
 * READ ONLY transaction (`SqlSession.readPage`); the whole result through a server-side cursor when the planner
 * streams it. The driver specifics sit behind `SqlSession`, the dialect's behind `SqlDialect`.
 */
import type { CursorScalar, ReadPlan, Row, RowBatch } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import { checkBatchSize, lagBound, pages, planRead, rebatch } from '../keyset-plan';
import { recordShape, type RecordShape } from '../map-record';
import { keysetSettings, lastPullInstant } from '../read-window';
import { isTemporal, SqlParams, type SqlColumn } from './sql-dialect';
import {
  checkValueFits,
  pageStatements,
  sqlCondition,
  type Filter,
  type KeysetSqlColumn,
  type Statement,
  type StatementBuilder,
} from './sql-keyset';
import { userCondition, type SqlSource } from './sql-source';
import { renderSqlTemplate } from './sql-template';

/** Statements read after a page, in its transaction, when the page is the read's last (it came back short). */
export interface PageTail {
  statements: readonly StatementBuilder[];
  limit: number;
  found(rows: Row[]): void;
}

/** Rows past the lag bound, as `heldBack` reports them. */
export type HeldBackCount = { rows: number; first: CursorScalar } | null;

/** How one read wants its values: `jsonText` as `ReadPlan.jsonText` (a session that holds no JSON as text ignores it). */
export interface RowForm {
  jsonText?: boolean | undefined;
  /** The mapping, for a session that makes the records itself (`ReadPlan.readyRecords`; see `readyShape`). */
  records?: RecordShape | undefined;
}

export interface SqlSession {
  /**
   * Runs `statements` in order inside one READ ONLY transaction until `limit` rows are read; each builder
   * gets the number of rows still missing. With `tail`, a page of fewer than `limit` rows reads the tail's statements
   * in the same transaction.
   */
  readPage(statements: readonly StatementBuilder[], limit: number, tail?: PageTail, form?: RowForm): Promise<Row[]>;
  /** Streams one statement's rows in batches of `batchSize` from a server-side cursor in a READ ONLY transaction. */
  stream(statement: Statement, batchSize: number, signal: AbortSignal, form?: RowForm): AsyncGenerator<Row[]>;
}

/** `heldBackFound`: the count `plan.heldBackCap` asks for, when the read's last page read it beside it. */
export async function* readSql(
  session: SqlSession,
  source: SqlSource,
  def: ConnectorDefinition,
  plan: ReadPlan,
  signal: AbortSignal,
  heldBackFound?: (held: HeldBackCount) => void,
): AsyncGenerator<RowBatch> {
  const { dialect } = source;
  const limit = checkBatchSize(plan.batchSize);
  // Chosen per read, never on the session: a kept connector serves several reads at once (a pull, a preview).
  const form: RowForm = { jsonText: plan.jsonText };
  const lastPull = dialect.instantParam(lastPullInstant(def, plan));
  const bindLastPull = (params: SqlParams) => () => params.add(lastPull);
  const select = plan.mode === 'keys' && plan.columns ? keysSelect(source, plan.columns) : source.select;
  const head = (params: SqlParams) => `SELECT ${select} FROM ${renderSqlTemplate(source.from, bindLastPull(params))}`;
  const where = source.where;
  const userFilters: Filter[] = where ? [(params) => userCondition(where, bindLastPull(params))] : [];

  const column = (c: SqlColumn): KeysetSqlColumn => ({ ...c, temporal: isTemporal(c.kind) });
  const read = planRead(
    { cursor: source.cursor && column(source.cursor), key: source.key.map(column), label: source.label },
    keysetSettings(def),
    plan,
  );
  if (read.kind === 'stream') {
    const params = new SqlParams(dialect);
    let sql = source.query ? renderSqlTemplate(source.query, bindLastPull(params)) : head(params);
    const conditions = userFilters.map((f) => f(params));
    if (conditions.length) sql += `\nWHERE ${conditions.join(' AND ')}`;
    yield* rebatch(session.stream({ sql, values: params.values }, limit, signal, form), limit, () => null, signal);
    return;
  }

  // Rendered before anything is read, so a value that does not fit fails the read at once. Start conditions
  // (`initial_value`, NOT NULL) stay on later pages: redundant there, never wrong.
  for (const phase of read.phases) {
    phase.after?.forEach((value, i) => checkValueFits('the committed cursor', phase.order[i]!, value));
  }
  const phases = read.phases.map((phase) => ({
    phase,
    filters: [...userFilters, ...phase.conditions.map((c) => sqlCondition(dialect, c))],
  }));
  const held = plan.heldBackCap !== undefined && heldBackFound ? heldBackStatements(source, def, plan) : null;
  const tail: PageTail | undefined = held
    ? { statements: held.statements, limit: plan.heldBackCap!, found: (rows) => heldBackFound!(held.count(rows)) }
    : undefined;
  // The read's first page comes as rows: most reads (a scheduled run that finds little or nothing new) end there, with one
  // statement. The pages after it as records where the session makes them (`readyShape`), which costs a statement more a
  // page and saves most of the worker's CPU per row.
  const records = readyShape(source, def, plan) ?? undefined;
  let pagesRead = 0;
  for (const [i, { phase, filters }] of phases.entries()) {
    if (signal.aborted) return;
    const fetchPage = (after: CursorScalar[] | null, rows: number) =>
      session.readPage(
        pageStatements(dialect, { head, filters, order: phase.order, after: after && { columns: phase.order, values: after } }),
        rows,
        i === phases.length - 1 ? tail : undefined,
        pagesRead++ === 0 ? form : { ...form, records },
      );
    yield* pages(phase, fetchPage, (row, c) => row[c.name], limit, signal);
  }
}

/**
 * The mapping a session may make records with, for a read that takes them: a table's, whose statements hold no text of
 * the tenant's but a `where` without `:last_pull` or any `$` (every value in them is then the reader's own: see
 * `withLiterals` in postgresql-session.ts), and that has no `deletes.column` (such rows are no records). Null: rows only.
 */
function readyShape(source: SqlSource, def: ConnectorDefinition, plan: ReadPlan): RecordShape | null {
  if (!plan.readyRecords || plan.mode === 'keys' || source.query !== null) return null;
  // A `$` in the tenant's filter could be read by the server otherwise than by the lexer that finds the parameters.
  if (source.where && (source.where.parts.length > 1 || source.where.parts[0]!.includes('$'))) return null;
  if (def.deletes.mode !== 'off' && def.deletes.column !== null) return null;
  return recordShape(def, source.primaryKey);
}

/** The key and the columns of `wanted` the source has: a key sweep reads no more. */
function keysSelect(source: SqlSource, wanted: readonly string[]): string {
  const names = new Set([...source.key.map((k) => k.name), ...wanted.filter((n) => source.columns.some((c) => c.name === n))]);
  return [...names].map((n) => source.dialect.quoteIdentifier(n)).join(', ');
}

/** Rows past the lag bound (the contract's `heldBack`): one column, in cursor order, at most `cap` rows read. */
export async function heldBackSql(
  session: SqlSession,
  source: SqlSource,
  def: ConnectorDefinition,
  plan: ReadPlan,
  cap: number,
): Promise<HeldBackCount> {
  const held = heldBackStatements(source, def, plan);
  return held && held.count(await session.readPage(held.statements, cap));
}

/** The statements that read the rows past the lag bound, and their count; null when no lag window applies. */
function heldBackStatements(source: SqlSource, def: ConnectorDefinition, plan: ReadPlan) {
  const cursor = source.cursor;
  if (!cursor) return null;
  const bound = lagBound({ ...cursor, temporal: isTemporal(cursor.kind) }, keysetSettings(def), plan.now);
  if (bound === null) return null;
  const { dialect } = source;
  const lastPull = dialect.instantParam(lastPullInstant(def, plan));
  const name = dialect.quoteIdentifier(cursor.name);
  const where = source.where;
  const filters: Filter[] = [(params) => `${name} > ${params.bind(cursor, bound)}`];
  if (where) filters.unshift((params) => userCondition(where, () => params.add(lastPull)));
  const head = (params: SqlParams) => `SELECT ${name} FROM ${renderSqlTemplate(source.from, () => params.add(lastPull))}`;
  return {
    statements: pageStatements(dialect, { head, filters, order: [cursor], after: null }),
    count: (rows: Row[]): HeldBackCount => ({
      rows: rows.length,
      first: rows.length ? ((rows[0] as Row)[cursor.name] as CursorScalar) : null,
    }),
  };
}
