/**
 * The one place that validates a connector definition. Every problem is reported with its location and a
 * message that says what to write instead; the result is a normalised definition with defaults applied.
 *
 * Shape (QANATIX compatible, plus extensions):
 * ```
 * { connector_type, connection_config,
 *   query? | table? (or the source's word for it: collection, label),
 *   columns?, where?, cursor?: { column, tiebreaker?, lag_seconds?, initial_value? },
 *   primary_key?, name_column = 'name', source_id?, fields?: { include?, exclude?, rename? }, batch_size = 5000 }
 * ```
 * `connection_config` is checked by the connector type's own validator (see `registry.ts`).
 */
import type { CursorScalar, ReadPlan } from './contract';
import { EPOCH_ISO, isIsoTimestamp, subtractSeconds } from './iso-time';
import { ConfigError, type ConfigIssue, type IssueReporter } from './config-error';
import { isPlainObject, rejectUnknownKeys, type PlainObject } from './connection-checks';
import { isSourceIdTemplate, parseSourceIdTemplate } from './map-record';
// registry.ts imports this module too; the cycle is harmless (each side uses the other only when called).
import { connectorTypes, type ConnectorType } from './registry';

export const DEFAULT_BATCH_SIZE = 5000;
export const MAX_BATCH_SIZE = 100_000;
/** Lag applied to timestamp cursors and to `:last_pull` when `cursor.lag_seconds` is not set. */
export const DEFAULT_LAG_SECONDS = 60;
const MAX_LAG_SECONDS = 7 * 24 * 3600;

export interface CursorConfig {
  /**
   * The column (field, property) rows are read in order of. Required in table mode; in query mode it may be
   * left out, and then `lag_seconds`/`initial_value` only shape `:last_pull`.
   */
  column: string | null;
  /** Columns that make (column, tiebreaker) unique; defaults to the primary key. */
  tiebreaker: string[] | null;
  /** Explicit lag window in seconds; null means `DEFAULT_LAG_SECONDS` (see `effectiveLagSeconds`). */
  lag_seconds: number | null;
  /** Where reading starts when there is no committed cursor (inclusive); also `:last_pull` before the first run. */
  initial_value: CursorScalar;
}

export interface FieldsConfig {
  /** Only these source columns go into vertical_data (null: all). */
  include: string[] | null;
  /** These source columns stay out of vertical_data. */
  exclude: string[];
  /** Source column → vertical_data key. */
  rename: Record<string, string>;
}

/** A validated connector definition, defaults applied. */
export interface ConnectorDefinition {
  connector_type: string;
  /** Normalised by the connector type's `validateConnection`; holds secrets, never log it. */
  connection_config: Record<string, unknown>;
  /** SQL or Cypher text, or a MongoDB filter document. Exactly one of `query` and `table` is set. */
  query: string | Record<string, unknown> | null;
  /** Table mode: the table, collection or label (whatever key the user wrote it under). */
  table: string | null;
  /** Table mode: the columns to read (the cursor and key columns are always read too); null: all. */
  columns: string[] | null;
  /** Table mode: an extra filter (SQL condition, or a filter document for document sources). */
  where: string | Record<string, unknown> | null;
  cursor: CursorConfig | null;
  primary_key: string[] | null;
  name_column: string;
  /** A column name, a template such as `pg-{id}`, or null for the key columns. */
  source_id: string | null;
  fields: FieldsConfig;
  batch_size: number;
}

const TOP_LEVEL_KEYS = [
  'connector_type',
  'connection_config',
  'query',
  'table',
  'columns',
  'where',
  'cursor',
  'primary_key',
  'name_column',
  'source_id',
  'fields',
  'batch_size',
];

/** The lag a read applies: the explicit setting, else the default. */
export function effectiveLagSeconds(cursor: CursorConfig | null): number {
  return cursor?.lag_seconds ?? DEFAULT_LAG_SECONDS;
}

/**
 * The instant `:last_pull` stands for: the last successful run's source-clock start minus the lag; before
 * the first run, and in full reads, `cursor.initial_value` when it is a timestamp, else the epoch.
 */
export function lastPullInstant(def: ConnectorDefinition, plan: Pick<ReadPlan, 'mode' | 'lastPull'>): string {
  if (plan.mode === 'incremental' && plan.lastPull !== null) return subtractSeconds(plan.lastPull, effectiveLagSeconds(def.cursor));
  const initial = def.cursor?.initial_value;
  return typeof initial === 'string' && isIsoTimestamp(initial) ? initial : EPOCH_ISO;
}

/**
 * Validates and normalises a connector definition; throws `ConfigError` listing every issue. A normalised
 * definition validates to itself. `types` defaults to the registered connector types; tests pass their own.
 */
export function validateConnectorConfig(raw: unknown, types: Readonly<Record<string, ConnectorType>> = connectorTypes): ConnectorDefinition {
  const issues: ConfigIssue[] = [];
  const report: IssueReporter = (loc, msg, type = 'invalid_value') => issues.push({ loc, msg, type });
  if (!isPlainObject(raw)) throw new ConfigError([{ loc: [], msg: 'the connector config must be a JSON object', type: 'invalid_type' }]);

  const type = connectorTypeOf(raw, types, report);
  const tableKey = type?.tableAlias ?? 'table';
  rejectUnknownKeys(raw, type?.tableAlias ? [...TOP_LEVEL_KEYS, type.tableAlias] : TOP_LEVEL_KEYS, report);

  let connection: Record<string, unknown> = {};
  if (!isPlainObject(raw.connection_config)) {
    report(['connection_config'], raw.connection_config === undefined ? 'is required' : 'must be an object', raw.connection_config === undefined ? 'missing' : 'invalid_type');
  } else if (type) {
    connection = type.validateConnection(raw.connection_config, (loc, msg, t) => report(['connection_config', ...loc], msg, t));
  }

  const { query, table } = sourceOf(raw, type, tableKey, report);
  // A filter document cannot select fields: document sources take `columns` (their projection) in query mode too.
  const columns =
    table !== null || type?.queryKind === 'document' ? nameList(raw, 'columns', report, { unique: true }) : rejectInQueryMode(raw, 'columns', report, 'select the columns in the query instead');
  const where = table !== null ? textOrDocument(raw.where, ['where'], type, report, false) : rejectInQueryMode(raw, 'where', report, 'put the condition in the query instead');
  const cursor = cursorOf(raw.cursor, query !== null, report);
  const primary_key = nameList(raw, 'primary_key', report, { unique: true });
  const name_column = nameSetting(raw, 'name_column', 'name', report);
  const source_id = sourceIdOf(raw.source_id, report);
  const fields = fieldsOf(raw.fields, report);
  const batch_size = batchSizeOf(raw.batch_size, report);

  const definition: ConnectorDefinition = {
    connector_type: raw.connector_type as string,
    connection_config: connection,
    query,
    table,
    columns,
    where,
    cursor,
    primary_key,
    name_column,
    source_id,
    fields,
    batch_size,
  };
  if (type?.readOnlyIssues) issues.push(...type.readOnlyIssues(definition));
  if (issues.length) throw new ConfigError(issues);
  return definition;
}

function connectorTypeOf(raw: PlainObject, types: Readonly<Record<string, ConnectorType>>, report: IssueReporter): ConnectorType | undefined {
  const names = Object.keys(types).join(', ');
  const value = raw.connector_type;
  if (value === undefined || value === null) {
    report(['connector_type'], `is required - one of ${names}`, 'missing');
    return undefined;
  }
  if (typeof value !== 'string' || !Object.hasOwn(types, value)) {
    report(['connector_type'], `unknown connector type ${JSON.stringify(value)} - use one of ${names}`, 'invalid_value');
    return undefined;
  }
  return types[value];
}

function sourceOf(
  raw: PlainObject,
  type: ConnectorType | undefined,
  tableKey: string,
  report: IssueReporter,
): { query: string | Record<string, unknown> | null; table: string | null } {
  const tableKeys = tableKey === 'table' ? ['table'] : ['table', tableKey];
  const givenTableKeys = tableKeys.filter((k) => raw[k] !== undefined && raw[k] !== null);
  const hasQuery = raw.query !== undefined && raw.query !== null;
  if (givenTableKeys.length > 1) {
    report([tableKey], `cannot specify both table and ${tableKey} - choose one`, 'conflict');
    return { query: null, table: null };
  }
  const givenTableKey = givenTableKeys[0];
  if (hasQuery && givenTableKey) {
    report(['query'], `cannot specify both query and ${givenTableKey} - choose one`, 'conflict');
    return { query: null, table: null };
  }
  if (!hasQuery && !givenTableKey) {
    report([], `specify either query or ${tableKey}`, 'missing');
    return { query: null, table: null };
  }
  if (hasQuery) return { query: textOrDocument(raw.query, ['query'], type, report, true), table: null };
  const table = raw[givenTableKey as string];
  if (typeof table !== 'string' || table.trim() === '') {
    report([givenTableKey as string], `must be a non-empty ${tableKey} name`, 'invalid_type');
    return { query: null, table: null };
  }
  return { query: null, table: table.trim() };
}

function textOrDocument(
  value: unknown,
  loc: string[],
  type: ConnectorType | undefined,
  report: IssueReporter,
  required: boolean,
): string | Record<string, unknown> | null {
  if (value === undefined || value === null) {
    if (required) report(loc, 'is required', 'missing');
    return null;
  }
  if (type?.queryKind === 'document') {
    if (isPlainObject(value)) return value;
    if (typeof value === 'string') {
      try {
        const parsed: unknown = JSON.parse(value);
        if (isPlainObject(parsed)) return parsed;
      } catch {
        // reported below
      }
    }
    report(loc, 'must be a filter document (a JSON object)', 'invalid_type');
    return null;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    report(loc, 'must be a non-empty string', 'invalid_type');
    return null;
  }
  return value;
}

function rejectInQueryMode(raw: PlainObject, key: string, report: IssueReporter, hint: string): null {
  if (raw[key] !== undefined && raw[key] !== null && raw.query !== undefined && raw.query !== null) {
    report([key], `applies to table mode only - ${hint}`, 'conflict');
  }
  return null;
}

function nameList(raw: PlainObject, key: string, report: IssueReporter, opts: { unique: boolean }): string[] | null {
  return parseNameList(raw[key], [key], report, opts);
}

function parseNameList(value: unknown, loc: string[], report: IssueReporter, opts: { unique: boolean }): string[] | null {
  if (value === undefined || value === null) return null;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || !list.every((v) => typeof v === 'string' && v.trim() !== '')) {
    report(loc, 'must be a column name or a non-empty list of column names', 'invalid_type');
    return null;
  }
  const names = list as string[];
  if (opts.unique) {
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) {
      report(loc, `lists "${dup}" twice`, 'invalid_value');
      return null;
    }
  }
  return names;
}

function nameSetting(raw: PlainObject, key: string, fallback: string, report: IssueReporter): string {
  const value = raw[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || value.trim() === '') {
    report([key], 'must be a non-empty column name', 'invalid_type');
    return fallback;
  }
  return value;
}

function cursorOf(value: unknown, queryMode: boolean, report: IssueReporter): CursorConfig | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.trim() !== '') return { column: value, tiebreaker: null, lag_seconds: null, initial_value: null };
  if (!isPlainObject(value)) {
    report(['cursor'], 'must be an object such as {"column": "updated_at"}', 'invalid_type');
    return null;
  }
  rejectUnknownKeys(value, ['column', 'tiebreaker', 'lag_seconds', 'initial_value'], report, ['cursor']);
  let column: string | null = null;
  if (value.column === undefined || value.column === null) {
    if (!queryMode) report(['cursor', 'column'], 'is required - the column rows are read in order of, such as updated_at', 'missing');
  } else if (typeof value.column !== 'string' || value.column.trim() === '') {
    report(['cursor', 'column'], 'must be a non-empty column name', 'invalid_type');
  } else {
    column = value.column;
  }
  const tiebreaker = parseNameList(value.tiebreaker, ['cursor', 'tiebreaker'], report, { unique: true });
  if (tiebreaker && column !== null && tiebreaker.includes(column)) {
    report(['cursor', 'tiebreaker'], `must not repeat the cursor column "${column}"`, 'invalid_value');
  }
  if (tiebreaker && column === null) report(['cursor', 'tiebreaker'], 'needs cursor.column', 'conflict');
  let lag_seconds: number | null = null;
  if (value.lag_seconds !== undefined && value.lag_seconds !== null) {
    const lag = value.lag_seconds;
    if (typeof lag !== 'number' || !Number.isFinite(lag) || lag < 0 || lag > MAX_LAG_SECONDS) {
      report(['cursor', 'lag_seconds'], `must be a number of seconds between 0 and ${MAX_LAG_SECONDS}`, 'invalid_value');
    } else {
      lag_seconds = lag;
    }
  }
  let initial_value: CursorScalar = null;
  const initial = value.initial_value;
  if (initial !== undefined && initial !== null) {
    if (typeof initial === 'string' || typeof initial === 'boolean' || (typeof initial === 'number' && Number.isFinite(initial))) {
      initial_value = initial;
    } else {
      report(['cursor', 'initial_value'], 'must be a string, number or boolean in the cursor column type (timestamps as ISO 8601)', 'invalid_type');
    }
  }
  return { column, tiebreaker, lag_seconds, initial_value };
}

function sourceIdOf(value: unknown, report: IssueReporter): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.trim() === '') {
    report(['source_id'], 'must be a column name or a template such as "pg-{id}"', 'invalid_type');
    return null;
  }
  if (isSourceIdTemplate(value)) {
    const parsed = parseSourceIdTemplate(value);
    if ('error' in parsed) report(['source_id'], parsed.error, 'invalid_value');
  }
  return value;
}

function fieldsOf(value: unknown, report: IssueReporter): FieldsConfig {
  const fields: FieldsConfig = { include: null, exclude: [], rename: {} };
  if (value === undefined || value === null) return fields;
  if (!isPlainObject(value)) {
    report(['fields'], 'must be an object with include, exclude and/or rename', 'invalid_type');
    return fields;
  }
  rejectUnknownKeys(value, ['include', 'exclude', 'rename'], report, ['fields']);
  const include = parseNameList(value.include, ['fields', 'include'], report, { unique: true });
  const exclude = Array.isArray(value.exclude) && value.exclude.length === 0 ? null : parseNameList(value.exclude, ['fields', 'exclude'], report, { unique: true });
  if (include && exclude) report(['fields'], 'cannot specify both include and exclude - choose one', 'conflict');
  fields.include = include;
  fields.exclude = exclude ?? [];
  if (value.rename !== undefined && value.rename !== null) {
    if (!isPlainObject(value.rename)) {
      report(['fields', 'rename'], 'must map source column names to new names, such as {"sku": "product_code"}', 'invalid_type');
    } else {
      const targets = new Map<string, string>();
      for (const [from, to] of Object.entries(value.rename)) {
        if (typeof to !== 'string' || to.trim() === '') {
          report(['fields', 'rename', from], 'must be a non-empty name', 'invalid_type');
          continue;
        }
        const clash = targets.get(to);
        if (clash !== undefined) report(['fields', 'rename', from], `renames to "${to}" like "${clash}" - give each a distinct name`, 'conflict');
        targets.set(to, from);
        fields.rename[from] = to;
      }
    }
  }
  return fields;
}

function batchSizeOf(value: unknown, report: IssueReporter): number {
  if (value === undefined || value === null) return DEFAULT_BATCH_SIZE;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_BATCH_SIZE) {
    report(['batch_size'], `must be a whole number between 1 and ${MAX_BATCH_SIZE}`, 'invalid_value');
    return DEFAULT_BATCH_SIZE;
  }
  return value;
}
