/**
 * The keyset planner's phases (keyset-plan.ts) as Cypher: conditions and "strictly after" branches rendered,
 * committed values bound by the kind of value their property holds (Integers exactly, temporal values parsed
 * by Cypher, nanoseconds kept).
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
 * rows have no index to lose).
 */
import neo4j from 'neo4j-driver';
import type { CursorScalar, KeysetColumn } from '../contract';
import { isIsoTimestamp } from '../iso-time';
import { afterBranches, unfitValue, type Condition, type Phase } from '../keyset-plan';
import { bareQuery, ELEMENT_ID_FIELD, quoteName, userCondition, type Neo4jField, type Neo4jSource } from './neo4j-source';
import { isoToTemporal, type Neo4jKind } from './neo4j-types';

/** Cypher and its parameters; `$limit`, `$last_pull` and the query's own parameters are added by the reader. */
export interface Neo4jStatement {
  cypher: string;
  params: Record<string, unknown>;
}

export type Field = Neo4jField & KeysetColumn;

const TEMPORAL: ReadonlySet<Neo4jKind> = new Set(['datetime', 'localdatetime', 'date']);

/** A property as the planner sees it: any node may lack it (a property set to null does not exist). */
export function keysetField(field: Neo4jField): Field {
  return { ...field, type: field.kind ?? 'unknown', temporal: field.kind === null ? null : TEMPORAL.has(field.kind), nullable: true };
}

/** Collects parameters and renders a value of a field's kind as Cypher (temporal values parsed server-side, nanoseconds kept). */
export class Params {
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

/** The page of `phase` strictly after `after` (null: from the phase's start) as one statement. */
export function pageStatement(source: Neo4jSource, phase: Phase<Field>, after: CursorScalar[] | null): Neo4jStatement {
  const params = new Params();
  const conditions = phase.conditions.map((c) => cypherCondition(c, params));
  // Each committed value is bound once and named in every branch that compares with it.
  const refs = after?.map((value, i) => params.bind(value, phase.order[i] as Field, 'the committed cursor'));
  const branches = refs?.length
    ? afterBranches(phase.order, refs).map((b) => [
        ...b.equal.map((e) => `${e.column.expr} = ${e.value}`),
        `${b.greater.column.expr} > ${b.greater.value}`,
      ])
    : null;
  const statement =
    source.label !== null
      ? labelStatement(
          source,
          conditions,
          phase.order,
          params,
          branches,
          !phase.nulls && source.cursorIndex && phase.cursor.name === source.cursor?.name,
        )
      : queryStatement(
          source,
          branches ? [...conditions, `(${branches.map((b) => b.join(' AND ')).join(' OR ')})`] : conditions,
          phase.order,
          params,
        );
  return { cypher: statement.cypher, params: { ...statement.params, ...userParams(phase, after) } };
}

/** The whole label, or the query as written, for a streamed read. */
export function streamStatement(source: Neo4jSource): Neo4jStatement {
  const statement = source.label !== null ? labelStatement(source, [], [], null) : { cypher: source.query as string, params: {} };
  return { cypher: statement.cypher, params: { ...statement.params, cursor: null, cursor_key: null } };
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
    case '<':
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
  return typeof bound === 'string' && (kind === 'datetime' || kind === 'localdatetime' || kind === 'date')
    ? isoToTemporal(bound, kind)
    : bound;
}

/** The label's nodes matching `conditions` and, when given, one of `branches`, in `order` (a page when ordered). */
function labelStatement(
  source: Neo4jSource,
  conditions: string[],
  order: readonly Neo4jField[],
  params: Params | null,
  branches: string[][] | null = null,
  hinted = false,
): Neo4jStatement {
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
