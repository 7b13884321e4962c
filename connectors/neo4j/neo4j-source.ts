/**
 * What a Neo4j connector reads, resolved once: a label (label mode) or a Cypher query, the cursor and key
 * with the Cypher expressions that read them and the kinds of their values, and the key that identifies a
 * row. Label mode discovers the key from the label's uniqueness (or node key) constraint, else uses
 * `elementId(n)`.
 */
import neo4j from 'neo4j-driver';
import type { SourceTable } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import { ConnectorError } from '../connector-error';
import { columnsToRead, readKey, rowKey } from '../source-key';
import { EPOCH_ISO } from '../iso-time';
import { checkPlan, type Neo4jPlan } from './neo4j-read-only';
import { isoToDateTime, neo4jKind, type Neo4jKind } from './neo4j-types';

/** How a config names the node's element id as a key (`primary_key`, `cursor.tiebreaker`). */
export const ELEMENT_ID_KEY = 'elementId(n)';
/** The row field that carries the element id when it is the key. */
export const ELEMENT_ID_FIELD = 'element_id';
/** Nodes `describe`/`discover` look at to list a label's properties. */
export const SAMPLE_SIZE = 100;

export interface Neo4jField {
  /** The row field. */
  name: string;
  /** Cypher reading it: ``n.`updated_at` `` (label mode), `` `updated_at` `` (query mode), `elementId(n)`. */
  expr: string;
  /** Kind of the first non-null value found; null when there is none yet. */
  kind: Neo4jKind | null;
}

export interface Neo4jSource {
  /** Label mode: the label; null in query mode. */
  label: string | null;
  query: string | null;
  /** Label mode: the user's extra condition on `n`. */
  where: string | null;
  /** Label mode: the Cypher map a row is (`properties(n)`, or a map projection of the configured columns). */
  rowExpr: string;
  /** Label mode: rows carry `element_id`. */
  withElementId: boolean;
  /** Label mode: an online RANGE index on the cursor property alone, named in every page's MATCH as a hint. */
  cursorIndex: boolean;
  cursor: Neo4jField | null;
  key: Neo4jField[];
  primaryKey: string[];
  columns: SourceTable['columns'];
  /** False while the label (or query) returns nothing: kinds are unknown, so resolve again next time. */
  settled: boolean;
  description: string;
}

/** Runs one read statement and returns its records as plain objects of driver values, and its plan. */
export type RunRead = (
  cypher: string,
  params?: Record<string, unknown>,
  /** The server ends the transaction after this long. */
  timeoutMs?: number,
) => Promise<{ rows: Array<Record<string, unknown>>; keys: string[]; plan: Neo4jPlan }>;

export function quoteName(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** The user's query without a trailing `;` (it is wrapped in `CALL () { … }`). */
export function bareQuery(query: string): string {
  return query.trim().replace(/;\s*$/, '');
}

export async function resolveNeo4jSource(run: RunRead, def: ConnectorDefinition): Promise<Neo4jSource> {
  return def.table !== null ? resolveLabel(run, def, def.table) : resolveQuery(run, def, def.query as string);
}

async function resolveLabel(run: RunRead, def: ConnectorDefinition, label: string): Promise<Neo4jSource> {
  const description = `label "${label}"`;
  const { rows: labels } = await run('CALL db.labels() YIELD label WHERE label = $label RETURN label', { label });
  if (labels.length === 0)
    throw new ConnectorError('not_found', `label "${label}" does not exist in the database - check the label and its case`);
  const { rows: constraints } = await run(
    "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type, entityType WHERE entityType = 'NODE' AND type IN ['UNIQUENESS', 'NODE_KEY'] AND labelsOrTypes = [$label] RETURN properties",
    { label },
  );
  const discovered = constraints.length === 1 ? (constraints[0] as { properties: string[] }).properties : [];
  const n = `(n:${quoteName(label)})`;
  if (typeof def.where === 'string') {
    const explained = await run(`EXPLAIN MATCH ${n} WHERE ${userCondition(def.where)} RETURN n`, placeholderParams());
    checkPlan(explained.plan, await homeDatabase(run), 'where');
  }
  const { rows: sample } = await run(`MATCH ${n} RETURN properties(n) AS p LIMIT ${SAMPLE_SIZE}`);
  const props = sample.map((r) => r.p as Record<string, unknown>);
  const empty = props.length === 0;

  const field = async (name: string, setting: string): Promise<Neo4jField> => {
    if (name === ELEMENT_ID_KEY) return { name: ELEMENT_ID_FIELD, expr: 'elementId(n)', kind: 'string' };
    const expr = `n.${quoteName(name)}`;
    let value = props.find((p) => p[name] !== undefined && p[name] !== null)?.[name];
    if (value === undefined && !empty) value = (await run(`MATCH ${n} WHERE ${expr} IS NOT NULL RETURN ${expr} AS v LIMIT 1`)).rows[0]?.v;
    if (value === undefined && !empty) {
      throw new ConnectorError(
        'not_found',
        `${setting} "${name}" is a property of no node of ${description} - check the property name and its case`,
      );
    }
    return { name, expr, kind: value === undefined ? null : neo4jKind(value) };
  };

  const cursorName = def.cursor?.column ?? null;
  if (cursorName === ELEMENT_ID_KEY)
    throw new ConnectorError('config', 'cursor.column must be a property - elementId(n) has no order in time; use it as the tie-breaker');
  const cursor = cursorName !== null ? await field(cursorName, 'cursor.column') : null;
  const keyNames = readKey(def, discovered.length ? discovered : [ELEMENT_ID_KEY], 'key property');
  const key: Neo4jField[] = [];
  for (const name of keyNames.names) key.push(name === cursorName && cursor ? cursor : await field(name, keyNames.setting));
  const primaryKey = rowKey(def, discovered, [ELEMENT_ID_KEY]).map((k) => (k === ELEMENT_ID_KEY ? ELEMENT_ID_FIELD : k));
  const withElementId = primaryKey.includes(ELEMENT_ID_FIELD) || key.some((k) => k.name === ELEMENT_ID_FIELD);
  // Without the hint the planner scans the whole label and sorts it on every page (its estimate of a range on a
  // parameter); with it a page reads about `limit` index entries. Only a single-property index: a composite one
  // leaves out the nodes missing any of its other properties.
  const cursorIndex =
    cursorName !== null &&
    (
      await run(
        "SHOW RANGE INDEXES YIELD labelsOrTypes, properties, entityType, state WHERE entityType = 'NODE' AND labelsOrTypes = [$label] AND properties = [$cursor] AND state = 'ONLINE' RETURN properties",
        { label, cursor: cursorName },
      )
    ).rows.length > 0;

  // The element id is not a property: rows carry it beside them (`withElementId`).
  const properties = (names: string[]) => names.filter((n) => n !== ELEMENT_ID_FIELD);
  const names = columnsToRead(def, properties(key.map((k) => k.name)), properties(primaryKey));
  const rowExpr = names ? `n {${names.map((c) => `.${quoteName(c)}`).join(', ')}}` : 'properties(n)';
  return {
    label,
    query: null,
    where: typeof def.where === 'string' ? def.where : null,
    rowExpr,
    withElementId,
    cursorIndex,
    cursor,
    key,
    primaryKey,
    columns: sampleColumns(props, primaryKey),
    settled: !empty,
    description,
  };
}

async function resolveQuery(run: RunRead, def: ConnectorDefinition, query: string): Promise<Neo4jSource> {
  const explained = await run(`EXPLAIN ${query}`, placeholderParams());
  checkPlan(explained.plan, await homeDatabase(run), 'query');
  const keys = explained.keys;
  const find = (name: string, setting: string) => {
    if (!keys.includes(name))
      throw new ConnectorError(
        'not_found',
        `${setting} "${name}" is not a column the query returns (${keys.join(', ')}) - return it from the query`,
      );
  };
  const cursorName = def.cursor?.column ?? null;
  if (cursorName !== null) find(cursorName, 'cursor.column');
  // QANATIX queries return `id`: it is the key unless the config names one.
  const idKey = keys.includes('id') ? ['id'] : [];
  const keyNames = readKey(def, idKey, 'key column');
  for (const name of keyNames.names) find(name, keyNames.setting);
  const primaryKey = rowKey(def, [], idKey);

  let settled = true;
  const kindOf = async (name: string): Promise<Neo4jKind | null> => {
    if (cursorName === null) return null;
    const { rows } = await run(
      `CALL () {\n${bareQuery(query)}\n}\nWITH * WHERE ${quoteName(name)} IS NOT NULL\nRETURN ${quoteName(name)} AS v LIMIT 1`,
      placeholderParams(),
    );
    if (rows.length === 0) settled = false;
    return rows.length ? neo4jKind(rows[0]?.v) : null;
  };
  const cursor = cursorName !== null ? { name: cursorName, expr: quoteName(cursorName), kind: await kindOf(cursorName) } : null;
  const key: Neo4jField[] = [];
  for (const name of keyNames.names)
    key.push(name === cursorName && cursor ? cursor : { name, expr: quoteName(name), kind: await kindOf(name) });
  return {
    label: null,
    query,
    where: null,
    rowExpr: '',
    withElementId: false,
    cursorIndex: false,
    cursor,
    key,
    primaryKey,
    columns: keys.map((name) => ({ name, type: 'ANY', nullable: true })),
    settled,
    description: 'the query',
  };
}

/**
 * The user's `where` as one condition. The line break keeps a trailing `// comment` from hiding the closing
 * parenthesis; the text itself cannot close it (its brackets are balanced: see neo4j-read-only.ts).
 */
export function userCondition(where: string): string {
  return `(${where}\n)`;
}

/** The database the connector's statements run on (connection_config.database, or the user's home database). */
async function homeDatabase(run: RunRead): Promise<string | undefined> {
  return (await run('EXPLAIN RETURN 1 AS home')).plan.database;
}

/** Parameters a query may use, bound to "from the beginning" values for EXPLAIN and sampling. */
function placeholderParams(): Record<string, unknown> {
  return { last_pull: isoToDateTime(EPOCH_ISO), cursor: null, cursor_key: null, limit: neo4j.int(1) };
}

/** Properties of sampled nodes: the key first, then the rest by name (properties have no order). */
export function sampleColumns(props: Array<Record<string, unknown>>, primaryKey: readonly string[]): SourceTable['columns'] {
  const columns = new Map<string, { name: string; type: string; nullable: boolean }>();
  for (const p of props) {
    for (const [name, value] of Object.entries(p)) {
      if (!columns.has(name)) columns.set(name, { name, type: neo4jKind(value).toUpperCase(), nullable: false });
    }
  }
  for (const column of columns.values())
    if (props.some((p) => p[column.name] === undefined || p[column.name] === null)) column.nullable = true;
  const rank = (name: string) => (primaryKey.includes(name) ? primaryKey.indexOf(name) : primaryKey.length);
  return [...columns.values()].sort((a, b) => rank(a.name) - rank(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
