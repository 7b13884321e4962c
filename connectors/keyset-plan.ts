/**
 * The keyset planner: the one place that decides how a source is read so that no row is skipped or read twice.
 * Each source renders the plan (predicates → SQL, a filter document, Cypher) and fetches pages; the rules live
 * here only.
 *
 * With a cursor column, rows come in (cursor, key) order up to the lag bound `cursor <= source now − lag`
 * (timestamp and date cursors), in at most two phases:
 * 1. `nulls`: a run that starts from nothing (no committed cursor, no `initial_value`) first reads the rows
 *    whose cursor is NULL, in key order; their positions carry `value: null`;
 * 2. every other row after the committed position (or from `initial_value`, inclusive).
 * A phase continues strictly after the (cursor, key) of the last row read. Sources that cannot compare row
 * values in one predicate use `afterBranches`: the same set as OR-free alternatives, deepest first.
 *
 * Key rule, the same for every source: the tie-breaker is `cursor.tiebreaker`, else `primary_key`, else the
 * discovered key, without the cursor column. When that key is the cursor column alone, cursor values are
 * unique and the cursor pages by itself (an auto-increment id). When there is no key at all, rows sharing a
 * cursor value cannot be paged exactly: an incremental read is refused, a full read streams the source whole.
 * Without a cursor column every read streams the source whole.
 */
import type { Cursor, CursorScalar, KeysetColumn, ReadPlan, Row, RowBatch } from './contract';
import { ConnectorError } from './connector-error';
import { subtractSeconds } from './iso-time';

export interface KeysetSource<C extends KeysetColumn> {
  cursor: C | null;
  /** The key columns as configured or discovered, in order; the cursor column may be among them. */
  key: readonly C[];
  /** For messages: `table "public.products"`, `the query`, `collection "orders"`. */
  label: string;
}

/** The connector settings that shape a read. */
export interface KeysetSettings {
  /** `cursor.lag_seconds` as configured (null: the default applies to temporal cursors). */
  lagSeconds: number | null;
  /** The lag applied when `lagSeconds` is null. */
  defaultLagSeconds: number;
  /** `cursor.initial_value`: where a read without a committed cursor starts (inclusive). */
  initialValue: CursorScalar;
}

/** One condition of a phase, ANDed with the others and with the source's own filter. */
export type Condition<C> =
  | { op: 'is-null'; column: C }
  | { op: 'not-null'; column: C }
  | { op: '<='; column: C; value: CursorScalar; what: 'the lag bound' }
  | { op: '>='; column: C; value: CursorScalar; what: 'cursor.initial_value' | 'backfill from' }
  | { op: '<'; column: C; value: CursorScalar; what: 'backfill to' };

export interface Phase<C> {
  /** The NULL-cursor phase: rows whose cursor is NULL, by key. */
  nulls: boolean;
  /** ORDER BY these columns, ascending; positions are their values. */
  order: readonly C[];
  conditions: ReadonlyArray<Condition<C>>;
  /** Start strictly after these values of `order`; null: from the first row. */
  after: CursorScalar[] | null;
  /** The tie-breaker columns (the cursor column excluded): a position's `key`. */
  key: readonly C[];
  /** The cursor column; in the NULL phase it is not part of `order`. */
  cursor: C;
}

/** `stream`: read the source whole, batches carry `cursor: null`. `keyset`: read the phases in order. */
export type KeysetRead<C> = { kind: 'stream' } | { kind: 'keyset'; phases: Array<Phase<C>> };

/** Plans one read of `source` from the committed position in `plan`. Throws `ConnectorError` on configs that cannot read exactly. */
export function planRead<C extends KeysetColumn>(
  source: KeysetSource<C>,
  settings: KeysetSettings,
  plan: Pick<ReadPlan, 'mode' | 'cursor' | 'now' | 'range'>,
): KeysetRead<C> {
  if (plan.mode === 'keys') return keyOrderRead(source, plan.cursor);
  const cursor = source.cursor;
  const range = plan.range ?? null;
  if (range && (cursor === null || keysetOrder(source) === null)) {
    throw new ConnectorError(
      'config',
      `a backfill reads a range of cursor values in (cursor, key) order, and ${source.label} has ${cursor === null ? 'no cursor column' : 'no key'} - ` +
        (cursor === null ? 'set cursor.column' : 'set cursor.tiebreaker (or primary_key)'),
    );
  }
  if (cursor === null) return { kind: 'stream' };
  const order = keysetOrder(source);
  if (order === null) {
    if (plan.mode === 'full') return { kind: 'stream' };
    throw new ConnectorError(
      'no_key',
      `${source.label} has no key, so rows sharing a "${cursor.name}" value cannot be paged without skipping or repeating some - ` +
        'with no primary key or unique constraint to go by, set cursor.tiebreaker (or primary_key) to the column(s) that identify a row, ' +
        'or run full reads only',
    );
  }
  const key = order.slice(1);
  const cursorIsKey = key.length === 0;

  const resume = plan.cursor;
  if (resume && resume.key.length !== key.length) {
    throw new ConnectorError(
      'config',
      `the committed cursor has ${resume.key.length} key value(s) but the key is now (${key.map((k) => k.name).join(', ') || `${cursor.name} alone`}) - ` +
        'the key or tie-breaker changed since the last run; run a full resync',
    );
  }

  const bound = lagBound(cursor, settings, plan.now);
  if (cursor.temporal === false && (settings.lagSeconds ?? 0) > 0) {
    throw new ConnectorError(
      'config',
      `cursor.lag_seconds applies to timestamp and date cursors, and "${cursor.name}" is ${cursor.type} - remove lag_seconds`,
    );
  }
  const initial = resume === null && !range ? settings.initialValue : null;

  const phases: Array<Phase<C>> = [];
  // A key column holds no NULLs, so a cursor that is the key has no NULL phase; a backfill's range holds no NULL.
  if (cursor.nullable && !cursorIsKey && !range && (resume === null ? initial === null : resume.value === null)) {
    phases.push({
      nulls: true,
      order: key,
      conditions: [{ op: 'is-null', column: cursor }],
      after: resume ? [...resume.key] : null,
      key,
      cursor,
    });
  }
  const conditions: Array<Condition<C>> = [];
  if (bound !== null) conditions.push({ op: '<=', column: cursor, value: bound, what: 'the lag bound' });
  if (range) {
    conditions.push({ op: '>=', column: cursor, value: range.from, what: 'backfill from' });
    conditions.push({ op: '<', column: cursor, value: range.to, what: 'backfill to' });
  }
  const after = resume && resume.value !== null ? [resume.value, ...resume.key] : null;
  if (after === null) {
    if (initial !== null) conditions.push({ op: '>=', column: cursor, value: initial, what: 'cursor.initial_value' });
    else if (bound === null && !range) conditions.push({ op: 'not-null', column: cursor });
  }
  phases.push({ nulls: false, order: [cursor, ...key], conditions, after, key, cursor });
  return { kind: 'keyset', phases };
}

/** The newest cursor value a read takes (`cursor <= bound`): source now − lag for temporal cursors, else none. */
export function lagBound(cursor: KeysetColumn, settings: KeysetSettings, now: string): CursorScalar {
  return cursor.temporal === true ? subtractSeconds(now, settings.lagSeconds ?? settings.defaultLagSeconds) : null;
}

/**
 * Every row in key order, after `resume` (a position in key order: the first key column's value, then the
 * others'). A key sweep and a verify read this way: keys never move, so a row updated while they read is neither
 * skipped nor read twice (a cursor column moves, and the lag window hides the newest rows).
 */
function keyOrderRead<C extends KeysetColumn>(source: KeysetSource<C>, resume: Cursor | null): KeysetRead<C> {
  const [first, ...rest] = source.key;
  if (first === undefined) {
    throw new ConnectorError(
      'no_key',
      `${source.label} has no key, so its rows cannot be compared with the entities - set primary_key to the column(s) that identify a row`,
    );
  }
  if (resume && resume.key.length !== rest.length) {
    throw new ConnectorError('config', 'the key changed since this sweep started - start a new sweep');
  }
  const phase: Phase<C> = {
    nulls: false,
    order: source.key,
    conditions: [],
    after: resume ? [resume.value, ...resume.key] : null,
    key: rest,
    cursor: first,
  };
  return { kind: 'keyset', phases: [phase] };
}

/**
 * The order a keyset read of `source` pages in: the cursor column, then the tie-breaker (the key without the
 * cursor column; nothing when the key is the cursor alone). Null without a cursor column or without a key.
 */
export function keysetOrder<C extends { name: string }>(source: { cursor: C | null; key: readonly C[] }): C[] | null {
  const cursor = source.cursor;
  if (cursor === null || source.key.length === 0) return null;
  return [cursor, ...source.key.filter((k) => k.name !== cursor.name)];
}

/**
 * The error for a value that cannot be bound to the column it is compared with (`what`: `cursor.initial_value`,
 * `the committed cursor`), in the same words on every source. `expected` says what would fit.
 */
export function unfitValue(what: string, value: unknown, column: KeysetColumn, expected: string): ConnectorError {
  const fix =
    what === 'the committed cursor'
      ? 'the column no longer holds the values it held - run a full resync, or set the position again'
      : what.startsWith('backfill')
        ? `give ${expected}`
        : `write ${expected}`;
  return new ConnectorError('config', `${what} ${JSON.stringify(value)} does not fit the ${column.type} column "${column.name}" - ${fix}`);
}

/** Reads a column of a row (documents read dotted paths). */
export type ValueOf<C> = (row: Row, column: C) => unknown;

/** The committed position after `row` in `phase`, and the values the next page starts after. */
export function positionAfter<C extends KeysetColumn>(
  phase: Phase<C>,
  row: Row,
  valueOf: ValueOf<C>,
): { cursor: Cursor; after: CursorScalar[] } {
  const key = phase.key.map((k) => (valueOf(row, k) ?? null) as CursorScalar);
  if (phase.nulls) return { cursor: { value: null, key }, after: key };
  const value = (valueOf(row, phase.cursor) ?? null) as CursorScalar;
  return { cursor: { value, key }, after: [value, ...key] };
}

/** One alternative of "strictly after": equal on the leading columns, greater on the next one. */
export interface AfterBranch<C, V = CursorScalar> {
  equal: Array<{ column: C; value: V }>;
  greater: { column: C; value: V };
}

/**
 * "Strictly after `after` in `order`" as OR-free alternatives, deepest first:
 * `(c0 = v0 AND c1 = v1 AND c2 > v2)`, `(c0 = v0 AND c1 > v1)`, `(c0 > v0)`. Read in that order, their rows
 * follow each other in `order`, and each is one index range.
 */
export function afterBranches<C, V = CursorScalar>(order: readonly C[], after: readonly V[]): Array<AfterBranch<C, V>> {
  const branches: Array<AfterBranch<C, V>> = [];
  for (let depth = order.length - 1; depth >= 0; depth--) {
    branches.push({
      equal: order.slice(0, depth).map((column, i) => ({ column, value: after[i] as V })),
      greater: { column: order[depth] as C, value: after[depth] as V },
    });
  }
  return branches;
}

/**
 * Reads a phase page by page: `fetchPage(after, limit)` returns at most `limit` rows of the phase strictly after
 * `after` (null: from its start), in order. Each page is a batch carrying the position after its last row.
 */
export async function* pages<C extends KeysetColumn>(
  phase: Phase<C>,
  fetchPage: (after: CursorScalar[] | null, limit: number) => Promise<Row[]>,
  valueOf: ValueOf<C>,
  limit: number,
  signal: AbortSignal,
): AsyncGenerator<RowBatch> {
  let after = phase.after;
  while (!signal.aborted) {
    const rows = await fetchPage(after, limit);
    if (rows.length === 0) return;
    const position = positionAfter(phase, rows[rows.length - 1] as Row, valueOf);
    yield { rows, cursor: position.cursor };
    if (rows.length < limit) return;
    after = position.after;
  }
}

/**
 * Cuts a stream of rows (or of driver-sized chunks of rows) into batches of `size`, each with `cursorOf` its
 * last row (null for a stream that cannot resume). Stops between batches when `signal` aborts.
 */
export async function* rebatch(
  rows: AsyncIterable<Row | Row[]>,
  size: number,
  cursorOf: (last: Row) => Cursor | null,
  signal: AbortSignal,
): AsyncGenerator<RowBatch> {
  let batch: Row[] = [];
  for await (const item of rows) {
    for (const row of Array.isArray(item) ? item : [item]) {
      batch.push(row);
      if (batch.length < size) continue;
      yield { rows: batch, cursor: cursorOf(row) };
      batch = [];
      if (signal.aborted) return;
    }
  }
  if (batch.length && !signal.aborted) yield { rows: batch, cursor: cursorOf(batch[batch.length - 1] as Row) };
}

/** The batch size as a read uses it. */
export function checkBatchSize(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new ConnectorError('config', `batch size must be a whole number ≥ 1, got ${limit}`);
  return limit;
}
