/**
 * The read algorithm every SQL connector shares; the driver specifics sit behind `SqlSession`.
 *
 * With a cursor column (table or query mode) rows are read by keyset pages in (cursor, key) order, up to
 * the lag bound `cursor <= source now − lag`:
 * 1. a run that starts from nothing (no committed cursor, no `initial_value`) first reads the rows whose
 *    cursor is NULL, by key; their batches carry `cursor.value = null`;
 * 2. then every row with `cursor <= bound`, after the committed position (or from `initial_value`,
 *    inclusive), page by page; each batch carries the (cursor, key) of its last row.
 * Without a cursor column (or a full read of a source without a key) the whole result streams through a
 * server-side cursor, and batches carry `cursor: null`.
 */
import type { Cursor, CursorScalar, ReadPlan, Row, RowBatch } from '../contract';
import { effectiveLagSeconds, lastPullInstant, type ConnectorDefinition } from '../connector-config';
import { ConnectorError } from '../connector-error';
import { isIsoTimestamp, subtractSeconds } from '../iso-time';
import { isTemporal, SqlParams, type SqlColumn } from './sql-dialect';
import { pageStatements, type PageQuery, type Statement, type StatementBuilder } from './sql-keyset';
import { userCondition, type SqlSource } from './sql-source';
import { renderSqlTemplate } from './sql-template';

export interface SqlSession {
  /**
   * Runs `statements` in order inside one READ ONLY transaction until `limit` rows are read; each builder
   * gets the number of rows still missing.
   */
  readPage(statements: readonly StatementBuilder[], limit: number): Promise<Row[]>;
  /** Streams one statement's rows in batches of `batchSize` from a server-side cursor in a READ ONLY transaction. */
  stream(statement: Statement, batchSize: number, signal: AbortSignal): AsyncGenerator<Row[]>;
}

export async function* readSql(session: SqlSession, source: SqlSource, def: ConnectorDefinition, plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
  const { dialect } = source;
  const limit = plan.batchSize;
  if (!Number.isInteger(limit) || limit < 1) throw new ConnectorError('config', `batch size must be a whole number ≥ 1, got ${limit}`);
  const lastPull = dialect.instantParam(lastPullInstant(def, plan));
  const bindLastPull = (params: SqlParams) => () => params.add(lastPull);
  const head = (params: SqlParams) => `SELECT ${source.select} FROM ${renderSqlTemplate(source.from, bindLastPull(params))}`;
  const where = source.where;
  const userFilters = where ? [(params: SqlParams) => userCondition(where, bindLastPull(params))] : [];

  const cursorColumn = source.cursor;
  if (cursorColumn === null || (source.key.length === 0 && plan.mode === 'full')) {
    const params = new SqlParams(dialect);
    let sql: string;
    if (source.query && !source.where) {
      sql = renderSqlTemplate(source.query, bindLastPull(params));
    } else {
      sql = head(params);
      const conditions = userFilters.map((f) => f(params));
      if (conditions.length) sql += `\nWHERE ${conditions.join(' AND ')}`;
    }
    for await (const rows of session.stream({ sql, values: params.values }, limit, signal)) yield { rows, cursor: null };
    return;
  }
  if (source.key.length === 0) {
    throw new ConnectorError(
      'no_key',
      `${source.label} has no primary key, so rows sharing a "${cursorColumn.name}" value cannot be paged without ` +
        'skipping or repeating some - set cursor.tiebreaker (or primary_key) to column(s) that identify a row, or run full reads only',
    );
  }

  const cursorSql = dialect.quoteIdentifier(cursorColumn.name);
  const keyNames = source.key.map((k) => k.name);
  const resume = plan.cursor;
  if (resume && resume.key.length !== keyNames.length) {
    throw new ConnectorError(
      'config',
      `the committed cursor has ${resume.key.length} key value(s) but the key is now (${keyNames.join(', ')}) - ` +
        'the key or tie-breaker changed since the last run; run a full resync',
    );
  }

  let bound: string | null = null;
  if (isTemporal(cursorColumn.kind)) {
    bound = subtractSeconds(plan.now, effectiveLagSeconds(def.cursor));
  } else if ((def.cursor?.lag_seconds ?? 0) > 0) {
    throw new ConnectorError(
      'config',
      `cursor.lag_seconds applies to timestamp and date cursors, and "${cursorColumn.name}" is ${cursorColumn.type} - remove lag_seconds`,
    );
  }
  const boundFilter = bound === null ? [] : [(params: SqlParams) => `${cursorSql} <= ${params.bind(cursorColumn, bound)}`];
  const initial = resume === null ? (def.cursor?.initial_value ?? null) : null;
  if (initial !== null) checkInitialValue(cursorColumn, initial);
  const order = [cursorColumn, ...source.key];

  const pages = (query: Omit<PageQuery, 'after'>, after: CursorScalar[] | null, afterColumns: readonly SqlColumn[], nullPhase: boolean) =>
    readPages(session, dialect, query, after, afterColumns, nullPhase, cursorColumn.name, keyNames, limit, signal);

  const readNullsFirst = cursorColumn.nullable && (resume === null ? initial === null : resume.value === null);
  if (readNullsFirst) {
    yield* pages(
      { head, filters: [...userFilters, () => `${cursorSql} IS NULL`], order },
      resume?.key ?? null,
      source.key,
      true,
    );
  }
  if (signal.aborted) return;

  const startFilters: Array<(params: SqlParams) => string> = [];
  const after = resume && resume.value !== null ? [resume.value, ...resume.key] : null;
  if (after === null) {
    if (initial !== null) startFilters.push((params) => `${cursorSql} >= ${params.bind(cursorColumn, initial)}`);
    else if (bound === null) startFilters.push(() => `${cursorSql} IS NOT NULL`);
  }
  yield* pages({ head, filters: [...userFilters, ...boundFilter, ...startFilters], order }, after, order, false);
}

async function* readPages(
  session: SqlSession,
  dialect: SqlSource['dialect'],
  query: Omit<PageQuery, 'after'>,
  start: CursorScalar[] | null,
  afterColumns: readonly SqlColumn[],
  nullPhase: boolean,
  cursorName: string,
  keyNames: readonly string[],
  limit: number,
  signal: AbortSignal,
): AsyncGenerator<RowBatch> {
  // Start conditions (`initial_value`, NOT NULL) stay on later pages: redundant there, never wrong.
  let after = start;
  while (!signal.aborted) {
    const statements = pageStatements(dialect, { ...query, after: after && { columns: afterColumns, values: after } });
    const rows = await session.readPage(statements, limit);
    if (rows.length === 0) return;
    const cursor = cursorOf(rows[rows.length - 1] as Row, nullPhase, cursorName, keyNames);
    yield { rows, cursor };
    if (rows.length < limit) return;
    after = nullPhase ? cursor.key : [cursor.value, ...cursor.key];
  }
}

const INTEGER = /^-?\d+$/;
const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;

/** `cursor.initial_value` must fit the cursor column; a database would otherwise coerce it silently (MySQL). */
function checkInitialValue(column: SqlColumn, value: CursorScalar): void {
  const text = String(value);
  const fits =
    isTemporal(column.kind) ? typeof value === 'string' && isIsoTimestamp(value)
    : column.kind === 'integer' ? (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && INTEGER.test(text))
    : column.kind === 'decimal' || column.kind === 'float' ? (typeof value === 'number' || NUMBER.test(text))
    : column.kind === 'boolean' ? typeof value === 'boolean'
    : typeof value === 'string';
  if (!fits) {
    const hint = isTemporal(column.kind) ? 'an ISO 8601 timestamp such as 2024-01-31T00:00:00Z' : `a ${column.kind} value`;
    throw new ConnectorError('config', `cursor.initial_value ${JSON.stringify(value)} does not fit the ${column.type} column "${column.name}" - write ${hint}`);
  }
}

function cursorOf(last: Row, nullPhase: boolean, cursorName: string, keyNames: readonly string[]): Cursor {
  const key = keyNames.map((k) => last[k] as CursorScalar);
  return { value: nullPhase ? null : (last[cursorName] as CursorScalar), key };
}
