/**
 * How Neo4j is read (the same algorithm as the SQL reader, in Cypher).
 *
 * Label mode, with a cursor property, one statement per page in its own read transaction, "after (c0, k0)"
 * written as one branch per key position so that no branch holds an OR (which the planner answers with a
 * scan of the whole label):
 *   CALL () {
 *     MATCH (n:`Product`) USING INDEX n:`Product`(`updated_at`)
 *     WHERE n.`updated_at` <= datetime($bound) AND n.`updated_at` = datetime($c0) AND n.`id` > $c1
 *     RETURN n ORDER BY n.`updated_at`, n.`id` LIMIT $limit
 *     UNION ALL
 *     MATCH (n:`Product`) USING INDEX n:`Product`(`updated_at`)
 *     WHERE n.`updated_at` <= datetime($bound) AND n.`updated_at` > datetime($c0)
 *     RETURN n ORDER BY n.`updated_at`, n.`id` LIMIT $limit
 *   }
 *   RETURN properties(n) AS row ORDER BY n.`updated_at`, n.`id` LIMIT $limit
 * (the hint when a range index on the cursor property exists). Query mode wraps the query:
 * `CALL () { <query> } WITH * WHERE <the branches joined by OR> RETURN * ORDER BY … LIMIT $limit` (a query's
 * rows have no index to lose).
 * Rows whose cursor is null come first in a run from the beginning, by key; without a cursor the label or
 * the query streams through one auto-commit READ transaction, `fetch_size` records per pull.
 */
import neo4j from 'neo4j-driver';
import type { Cursor, CursorScalar, ReadPlan, Row, RowBatch } from '../contract';
import { effectiveLagSeconds, lastPullInstant, type ConnectorDefinition } from '../connector-config';
import { ConnectorError } from '../connector-error';
import { isIsoTimestamp, subtractSeconds } from '../iso-time';
import { bareQuery, ELEMENT_ID_FIELD, quoteName, userCondition, type Neo4jField, type Neo4jSource } from './neo4j-source';
import { fromMap, isoToDateTime, isoToTemporal, type Neo4jKind } from './neo4j-types';

export interface Neo4jStatement {
  cypher: string;
  params: Record<string, unknown>;
}

export interface Neo4jReadSession {
  /** One statement in its own read transaction (`executeRead`), all records at once. */
  page(statement: Neo4jStatement): Promise<Array<Record<string, unknown>>>;
  /** One statement in an auto-commit READ transaction, streamed `batchSize` records at a time. */
  stream(statement: Neo4jStatement, batchSize: number, signal: AbortSignal): AsyncGenerator<Array<Record<string, unknown>>>;
}

const TEMPORAL: ReadonlySet<Neo4jKind> = new Set(['datetime', 'localdatetime', 'date']);

/** Collects parameters and renders a value of `kind` as Cypher (temporal values parsed server-side, nanoseconds kept). */
class Params {
  readonly values: Record<string, unknown> = {};
  private n = 0;

  bind(value: CursorScalar, kind: Neo4jKind | null, what: string): string {
    const name = `p${this.n++}`;
    this.values[name] = paramValue(value, kind, what);
    switch (kind) {
      case 'datetime':
        return `datetime($${name})`;
      case 'localdatetime':
        return `localdatetime($${name})`;
      case 'date':
        return `date($${name})`;
      case 'time':
        return `time($${name})`;
      case 'localtime':
        return `localtime($${name})`;
      default:
        return `$${name}`;
    }
  }
}

function paramValue(value: CursorScalar, kind: Neo4jKind | null, what: string): unknown {
  if (value === null) return null;
  const fail = (expected: string): never => {
    throw new ConnectorError('config', `${what} ${JSON.stringify(value)} is not ${expected} - check cursor.initial_value, or run a full resync`);
  };
  switch (kind) {
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return neo4j.int(value);
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return neo4j.int(value);
      return fail('an integer');
    case 'float':
      return typeof value === 'number' ? value : Number.isFinite(Number(value)) ? Number(value) : fail('a number');
    case 'datetime':
      return typeof value === 'string' && isIsoTimestamp(value) ? value : fail('an ISO 8601 timestamp');
    case 'localdatetime':
      return typeof value === 'string' && isIsoTimestamp(value) ? value.replace(/(Z|[+-]\d{2}:?\d{2})$/i, '') : fail('an ISO 8601 timestamp');
    case 'date':
      return typeof value === 'string' && isIsoTimestamp(value) ? value.slice(0, value.indexOf('-', 1) + 6) : fail('a date');
    default:
      return value;
  }
}

export async function* readNeo4j(session: Neo4jReadSession, source: Neo4jSource, def: ConnectorDefinition, plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
  const limit = plan.batchSize;
  if (!Number.isInteger(limit) || limit < 1) throw new ConnectorError('config', `batch size must be a whole number ≥ 1, got ${limit}`);
  const lastPull = isoToDateTime(lastPullInstant(def, plan));
  const toRow = source.label !== null ? labelRow : (record: Record<string, unknown>) => fromMap(record);
  const cursorField = source.cursor;

  if (cursorField === null) {
    const statement = source.label !== null ? labelStatement(source, [], [], null) : { cypher: source.query as string, params: {} };
    statement.params = { ...statement.params, last_pull: lastPull, cursor: null, cursor_key: null, limit: neo4j.int(limit) };
    for await (const records of session.stream(statement, limit, signal)) yield { rows: records.map(toRow), cursor: null };
    return;
  }
  const key = source.key;
  if (key.length === 0 && !source.primaryKey.includes(cursorField.name)) {
    throw new ConnectorError(
      'no_key',
      `${source.description} has no key, so rows sharing a "${cursorField.name}" value cannot be paged without skipping or repeating some - ` +
        'set cursor.tiebreaker (or primary_key) to the column(s) that identify a row, or run full reads only',
    );
  }
  const resume = plan.cursor;
  if (resume && resume.key.length !== key.length) {
    throw new ConnectorError('config', `the committed cursor has ${resume.key.length} key value(s) but the key is now (${key.map((k) => k.name).join(', ')}) - the key or tie-breaker changed since the last run; run a full resync`);
  }

  const c = cursorField.expr;
  let bound: string | null = null;
  if (cursorField.kind !== null && TEMPORAL.has(cursorField.kind)) {
    bound = subtractSeconds(plan.now, effectiveLagSeconds(def.cursor));
  } else if ((def.cursor?.lag_seconds ?? 0) > 0 && cursorField.kind !== null) {
    throw new ConnectorError('config', `cursor.lag_seconds applies to temporal cursors, and "${cursorField.name}" holds ${cursorField.kind} values - remove lag_seconds`);
  }
  const initial = resume === null ? (def.cursor?.initial_value ?? null) : null;
  const userParams = (after: CursorScalar[] | null, nullPhase: boolean) => ({
    last_pull: lastPull,
    cursor: after && !nullPhase ? userValue(after[0] ?? null, cursorField.kind) : null,
    cursor_key: after ? userKey(after.slice(nullPhase ? 0 : 1), key) : null,
    limit: neo4j.int(limit),
  });

  const run = async function* (filters: Array<(p: Params) => string>, order: readonly Neo4jField[], start: CursorScalar[] | null, nullPhase: boolean): AsyncGenerator<RowBatch> {
    let after = start;
    while (!signal.aborted) {
      const params = new Params();
      const conditions = filters.map((f) => f(params));
      const statement =
        source.label !== null
          ? labelStatement(source, conditions, order, params, after && afterBranches(order, after, params), !nullPhase && source.cursorIndex)
          : queryStatement(source, after ? [...conditions, `(${afterBranches(order, after, params).map((b) => b.join(' AND ')).join(' OR ')})`] : conditions, order, params);
      statement.params = { ...statement.params, ...userParams(after, nullPhase), limit: neo4j.int(limit) };
      const rows = (await session.page(statement)).map(toRow);
      if (rows.length === 0) return;
      const last = rows[rows.length - 1] as Row;
      const cursor: Cursor = { value: nullPhase ? null : ((last[cursorField.name] ?? null) as CursorScalar), key: key.map((k) => (last[k.name] ?? null) as CursorScalar) };
      yield { rows, cursor };
      if (rows.length < limit) return;
      after = nullPhase ? cursor.key : [cursor.value, ...cursor.key];
    }
  };

  if (key.length > 0 && (resume === null ? initial === null : resume.value === null)) {
    yield* run([() => `${c} IS NULL`], key, resume ? resume.key : null, true);
  }
  if (signal.aborted) return;
  const filters: Array<(p: Params) => string> = [];
  if (bound !== null) filters.push((p) => `${c} <= ${p.bind(bound, cursorField.kind, 'the lag bound')}`);
  const after = resume && resume.value !== null ? [resume.value, ...resume.key] : null;
  if (after === null) {
    if (initial !== null) filters.push((p) => `${c} >= ${p.bind(initial, cursorField.kind, 'cursor.initial_value')}`);
    else if (bound === null) filters.push(() => `${c} IS NOT NULL`);
  }
  yield* run(filters, [cursorField, ...key], after, false);
}

/** A committed value as a user's query receives it: temporal values as driver temporals, comparable with properties. */
function userValue(value: CursorScalar, kind: Neo4jKind | null): unknown {
  const bound = paramValue(value, kind, 'the committed cursor');
  if (typeof bound === 'string' && (kind === 'datetime' || kind === 'localdatetime' || kind === 'date')) return isoToTemporal(bound, kind);
  return bound;
}

/** `$cursor_key` for a user's query: the key value, or the list of them for a composite key. */
function userKey(values: readonly CursorScalar[], key: readonly Neo4jField[]): unknown {
  const bound = values.map((v, i) => userValue(v, (key[i] as Neo4jField).kind));
  return bound.length === 1 ? bound[0] : bound;
}

/** "Strictly after `after` in `order`" as alternatives without OR: `(c = v0 AND k > v1)`, then `(c > v0)`. */
function afterBranches(order: readonly Neo4jField[], after: readonly CursorScalar[], params: Params): string[][] {
  const refs = order.map((f, i) => params.bind(after[i] ?? null, f.kind, 'the committed cursor'));
  const branches: string[][] = [];
  for (let i = order.length - 1; i >= 0; i--) {
    branches.push([...order.slice(0, i).map((f, j) => `${f.expr} = ${refs[j]}`), `${(order[i] as Neo4jField).expr} > ${refs[i]}`]);
  }
  return branches;
}

/** The label's nodes matching `conditions` and, when given, one of `branches`, in `order` (a page when ordered). */
function labelStatement(source: Neo4jSource, conditions: string[], order: readonly Neo4jField[], params: Params | null, branches: string[][] | null = null, hinted = false): Neo4jStatement {
  const label = quoteName(source.label as string);
  const shared = source.where ? [userCondition(source.where), ...conditions] : conditions;
  const byOrder = order.length ? `\nORDER BY ${order.map((f) => f.expr).join(', ')}\nLIMIT $limit` : '';
  const match = (extra: string[]) => {
    const all = [...shared, ...extra];
    let cypher = `MATCH (n:${label})`;
    if (hinted) cypher += ` USING INDEX n:${label}(${quoteName((source.cursor as Neo4jField).name)})`;
    if (all.length) cypher += `\nWHERE ${all.join('\n  AND ')}`;
    return cypher;
  };
  const row = `RETURN ${source.rowExpr} AS row${source.withElementId ? `, elementId(n) AS ${ELEMENT_ID_FIELD}` : ''}`;
  const cypher =
    branches === null || branches.length === 0
      ? `${match([])}\n${row}${byOrder}`
      : `CALL () {\n${branches.map((b) => `${match(b)}\nRETURN n${byOrder}`).join('\nUNION ALL\n')}\n}\n${row}${byOrder}`;
  return { cypher, params: params?.values ?? {} };
}

function queryStatement(source: Neo4jSource, conditions: string[], order: readonly Neo4jField[], params: Params): Neo4jStatement {
  let cypher = `CALL () {\n${bareQuery(source.query as string)}\n}`;
  if (conditions.length) cypher += `\nWITH * WHERE ${conditions.join('\n  AND ')}`;
  cypher += `\nRETURN * ORDER BY ${order.map((f) => f.expr).join(', ')}\nLIMIT $limit`;
  return { cypher, params: params.values };
}

function labelRow(record: Record<string, unknown>): Row {
  const row = fromMap(record.row as Record<string, unknown>);
  if (ELEMENT_ID_FIELD in record) row[ELEMENT_ID_FIELD] = record[ELEMENT_ID_FIELD];
  return row;
}
