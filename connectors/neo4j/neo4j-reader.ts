/**
 * How Neo4j is read: the keyset planner's phases (keyset-plan.ts) in Cypher, one statement per page in its own
 * read transaction.
 *
 * Label mode writes "strictly after (c0, k0)" as the planner's branches joined by UNION ALL, so that no branch
 * holds an OR (which Neo4j's planner answers with a scan of the whole label):
 *   CALL () {
 *     MATCH (n:`Product`) USING INDEX n:`Product`(`updated_at`)
 *     WHERE n.`updated_at` <= datetime($p0) AND n.`updated_at` = datetime($p1) AND n.`id` > $p2
 *     RETURN n ORDER BY n.`updated_at`, n.`id` LIMIT $limit
 *     UNION ALL
 *     MATCH (n:`Product`) USING INDEX n:`Product`(`updated_at`)
 *     WHERE n.`updated_at` <= datetime($p0) AND n.`updated_at` > datetime($p1)
 *     RETURN n ORDER BY n.`updated_at`, n.`id` LIMIT $limit
 *   }
 *   RETURN properties(n) AS row ORDER BY n.`updated_at`, n.`id` LIMIT $limit
 * (the hint when a range index on the cursor property exists). Query mode wraps the query:
 * `CALL () { <query> } WITH * WHERE <the branches joined by OR> RETURN * ORDER BY … LIMIT $limit` (a query's
 * rows have no index to lose). A streamed read runs the label or the query in one auto-commit READ
 * transaction, `fetch_size` records per pull.
 */
import neo4j from 'neo4j-driver';
import type { CursorScalar, ReadPlan, Row, RowBatch } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import { isIsoTimestamp } from '../iso-time';
import { afterBranches, checkBatchSize, pages, planRead, rebatch, unfitValue, type Condition, type KeysetColumn, type Phase } from '../keyset-plan';
import { keysetSettings, lastPullInstant } from '../read-window';
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

type Field = Neo4jField & KeysetColumn;

const TEMPORAL: ReadonlySet<Neo4jKind> = new Set(['datetime', 'localdatetime', 'date']);

/** A property as the planner sees it: any node may lack it (a property set to null does not exist). */
function keysetField(field: Neo4jField): Field {
  return { ...field, type: field.kind ?? 'unknown', temporal: field.kind === null ? null : TEMPORAL.has(field.kind), nullable: true };
}

/** Collects parameters and renders a value of a field's kind as Cypher (temporal values parsed server-side, nanoseconds kept). */
class Params {
  readonly values: Record<string, unknown> = {};
  private n = 0;

  bind(value: CursorScalar, field: Field, what: string): string {
    const name = `p${this.n++}`;
    this.values[name] = paramValue(value, field, what);
    switch (field.kind) {
      case 'datetime':
      case 'localdatetime':
      case 'date':
      case 'time':
      case 'localtime':
        return `${field.kind}($${name})`;
      default:
        return `$${name}`;
    }
  }
}

function paramValue(value: CursorScalar, field: Field, what: string): unknown {
  if (value === null) return null;
  const fail = (expected: string): never => {
    throw unfitValue(what, value, field, expected);
  };
  const timestamp = typeof value === 'string' && isIsoTimestamp(value);
  switch (field.kind) {
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return neo4j.int(value);
      if (typeof value === 'string' && /^-?\d+$/.test(value)) return neo4j.int(value);
      return fail('an integer');
    case 'float':
      return typeof value === 'number' ? value : Number.isFinite(Number(value)) ? Number(value) : fail('a number');
    case 'datetime':
      return timestamp ? value : fail('an ISO 8601 timestamp such as 2024-01-31T00:00:00Z');
    case 'localdatetime':
      return timestamp ? value.replace(/(Z|[+-]\d{2}:?\d{2})$/i, '') : fail('an ISO 8601 timestamp such as 2024-01-31T00:00:00');
    case 'date':
      return timestamp ? value.slice(0, value.indexOf('-', 1) + 6) : fail('a date such as 2024-01-31');
    default:
      return value;
  }
}

export async function* readNeo4j(session: Neo4jReadSession, source: Neo4jSource, def: ConnectorDefinition, plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
  const limit = checkBatchSize(plan.batchSize);
  const lastPull = isoToDateTime(lastPullInstant(def, plan));
  const toRow = source.label !== null ? labelRow : (record: Record<string, unknown>) => fromMap(record);

  const keyset = { cursor: source.cursor && keysetField(source.cursor), key: source.key.map(keysetField), label: source.description };
  const read = planRead(keyset, keysetSettings(def), plan);
  if (read.kind === 'stream') {
    const statement = source.label !== null ? labelStatement(source, [], [], null) : { cypher: source.query as string, params: {} };
    statement.params = { ...statement.params, last_pull: lastPull, cursor: null, cursor_key: null, limit: neo4j.int(limit) };
    yield* rebatch(mapChunks(session.stream(statement, limit, signal), toRow), limit, () => null, signal);
    return;
  }
  for (const phase of read.phases) {
    if (signal.aborted) return;
    const fetchPage = async (after: CursorScalar[] | null, rows: number): Promise<Row[]> => {
      const params = new Params();
      const conditions = phase.conditions.map((c) => cypherCondition(c, params));
      // Each committed value is bound once and named in every branch that compares with it.
      const refs = after?.map((value, i) => params.bind(value, phase.order[i] as Field, 'the committed cursor'));
      const branches = refs?.length
        ? afterBranches(phase.order, refs).map((b) => [...b.equal.map((e) => `${e.column.expr} = ${e.value}`), `${b.greater.column.expr} > ${b.greater.value}`])
        : null;
      const statement =
        source.label !== null
          ? labelStatement(source, conditions, phase.order, params, branches, !phase.nulls && source.cursorIndex)
          : queryStatement(source, branches ? [...conditions, `(${branches.map((b) => b.join(' AND ')).join(' OR ')})`] : conditions, phase.order, params);
      statement.params = { ...statement.params, ...userParams(phase, after), last_pull: lastPull, limit: neo4j.int(rows) };
      return (await session.page(statement)).map(toRow);
    };
    yield* pages(phase, fetchPage, (row, field) => row[field.name], limit, signal);
  }
}

function cypherCondition(condition: Condition<Field>, params: Params): string {
  const expr = condition.column.expr;
  switch (condition.op) {
    case 'is-null':
      return `${expr} IS NULL`;
    case 'not-null':
      return `${expr} IS NOT NULL`;
    case '<=':
    case '>=':
      return `${expr} ${condition.op} ${params.bind(condition.value, condition.column, condition.what)}`;
  }
}

/** `$cursor` and `$cursor_key` for a user's query: where the page starts, null on a first read. */
function userParams(phase: Phase<Field>, after: CursorScalar[] | null): { cursor: unknown; cursor_key: unknown } {
  if (after === null) return { cursor: null, cursor_key: null };
  const keyValues = phase.nulls ? after : after.slice(1);
  const key = keyValues.map((v, i) => userValue(v, phase.key[i] as Field));
  // The key value, or the list of them for a composite key.
  return { cursor: phase.nulls ? null : userValue(after[0] ?? null, phase.cursor), cursor_key: key.length === 1 ? key[0] : key };
}

/** A committed value as a user's query receives it: temporal values as driver temporals, comparable with properties. */
function userValue(value: CursorScalar, field: Field): unknown {
  const bound = paramValue(value, field, 'the committed cursor');
  const kind = field.kind;
  return typeof bound === 'string' && (kind === 'datetime' || kind === 'localdatetime' || kind === 'date') ? isoToTemporal(bound, kind) : bound;
}

async function* mapChunks<T>(chunks: AsyncIterable<T[]>, map: (item: T) => Row): AsyncGenerator<Row[]> {
  for await (const chunk of chunks) yield chunk.map(map);
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
