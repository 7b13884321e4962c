/**
 * The one place that validates a connector definition. Every problem is reported with its location and a
 * message that says what to write instead; the result is a normalised definition with defaults applied.
 *
 * Shape (QANATIX compatible, plus extensions):
 * ```
 * { connector_type, connection_config,
 *   query? | table? (or the source's word for it: collection, label),
 *   columns?, where?, cursor?: { column, tiebreaker?, lag_seconds?, initial_value? },
 *   primary_key?, name_column = 'name', source_id?, fields?: { include?, exclude?, rename? }, batch_size = 5000,
 *   deletes?: { mode = 'off', column?, deleted_when = 'not_null', max_fraction = 0.5, sweep_schedule? }, verify_schedule?,
 *   schema_drift = 'warn', notify?: { url, on = ['failed', 'recovered', 'needs_confirmation'] } }
 * ```
 * `connection_config` is checked by the connector type's own validator (see connector-types.ts). The result is
 * frozen and remembered, so `createConnector` can take it without validating it again.
 */
import { ProblemType } from '../src/problem-types';
import type { CursorScalar } from './contract';
import { ConfigError, type ConfigIssue, type IssueReporter } from './config-error';
import { isPlainObject, rejectUnknownKeys, type PlainObject } from './connection-checks';
import type { ConnectorDefinition, CursorConfig, DeletesConfig, FieldsConfig, StoredDefinition } from './connector-definition';
import { connectorTypes, type ConnectorType } from './connector-types';
import { isSourceIdTemplate, parseSourceIdTemplate } from './map-record';
import { notifyOf } from './notify-config';

export type { ConnectorDefinition, CursorConfig, DeletesConfig, FieldsConfig } from './connector-definition';

export const DEFAULT_BATCH_SIZE = 5000;
export const MAX_BATCH_SIZE = 100_000;
const MAX_LAG_SECONDS = 7 * 24 * 3600;

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
  'deletes',
  'verify_schedule',
  'schema_drift',
  'notify',
];
const SCHEMA_DRIFT = ['allow', 'warn', 'fail'] as const;

/** Definitions this module returned: `createConnector` does not validate them again. */
const validated = new WeakSet<object>();

/** True for a definition `validateConnectorConfig` returned (frozen, so it is still exactly what was checked). */
export function isValidatedDefinition(value: unknown): value is ConnectorDefinition {
  return typeof value === 'object' && value !== null && validated.has(value);
}

/** Validates a definition as stored (type, connection and settings apart); see `validateConnectorConfig`. */
export function validateStoredDefinition(stored: StoredDefinition): ConnectorDefinition {
  return validateConnectorConfig({
    connector_type: stored.connector_type,
    connection_config: stored.connection_config,
    ...stored.settings,
  });
}

/**
 * Validates and normalises a connector definition; throws `ConfigError` listing every issue. A normalised
 * definition validates to itself. `types` defaults to the registered connector types; tests pass their own.
 */
export function validateConnectorConfig(
  raw: unknown,
  types: Readonly<Record<string, ConnectorType>> = connectorTypes,
  /** Fields of the same body that the caller validates (the API's name, schedule, …): named in unknown-field help. */
  otherFields: readonly string[] = [],
): ConnectorDefinition {
  const issues: ConfigIssue[] = [];
  const report: IssueReporter = (loc, msg, type = ProblemType.settingValue) => issues.push({ loc, msg, type });
  if (!isPlainObject(raw))
    throw new ConfigError([{ loc: [], msg: 'the connector config must be a JSON object', type: ProblemType.settingType }]);

  const type = connectorTypeOf(raw, types, report);
  const tableKey = type?.tableAlias ?? 'table';
  rejectUnknownKeys(raw, [...otherFields, ...TOP_LEVEL_KEYS, ...(type?.tableAlias ? [type.tableAlias] : [])], report);

  let connection: object = {};
  if (!isPlainObject(raw.connection_config)) {
    report(
      ['connection_config'],
      raw.connection_config === undefined ? 'is required' : 'must be an object',
      raw.connection_config === undefined ? ProblemType.settingMissing : ProblemType.settingType,
    );
  } else if (type) {
    connection = type.validateConnection(raw.connection_config, (loc, msg, t) => report(['connection_config', ...loc], msg, t));
  }

  const { query, table } = sourceOf(raw, type, tableKey, report);
  // A filter document cannot select fields: document sources take `columns` (their projection) in query mode too.
  const columns =
    table !== null || type?.queryKind === 'document'
      ? nameList(raw, 'columns', report, { unique: true })
      : rejectInQueryMode(raw, 'columns', report, 'select the columns in the query instead');
  const where =
    table !== null
      ? textOrDocument(raw.where, ['where'], type, report, false)
      : rejectInQueryMode(raw, 'where', report, 'put the condition in the query instead');
  const cursor = cursorOf(raw.cursor, query !== null, report);
  const primary_key = nameList(raw, 'primary_key', report, { unique: true });
  const name_column = nameSetting(raw, 'name_column', 'name', report);
  const source_id = sourceIdOf(raw.source_id, report);
  const fields = fieldsOf(raw.fields, report);
  const batch_size = batchSizeOf(raw.batch_size, report);
  const deletes = deletesOf(raw.deletes, report);
  const verify_schedule = patternOf(raw.verify_schedule, ['verify_schedule'], report);
  const schema_drift = raw.schema_drift ?? 'warn';
  if (!(SCHEMA_DRIFT as readonly unknown[]).includes(schema_drift))
    report(['schema_drift'], `must be one of ${SCHEMA_DRIFT.join(', ')} (default warn)`, ProblemType.settingValue);
  const notify = notifyOf(raw.notify, report);

  // The entry registered under `connector_type` returned `connection`: the pair is one of ConnectorDefinition's.
  const definition = Object.freeze({
    connector_type: raw.connector_type,
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
    deletes,
    verify_schedule,
    schema_drift,
    notify,
  }) as ConnectorDefinition;
  if (type?.readOnlyIssues) issues.push(...type.readOnlyIssues(definition));
  if (issues.length) throw new ConfigError(issues);
  validated.add(definition);
  return definition;
}

function connectorTypeOf(
  raw: PlainObject,
  types: Readonly<Record<string, ConnectorType>>,
  report: IssueReporter,
): ConnectorType | undefined {
  const names = Object.keys(types).join(', ');
  const value = raw.connector_type;
  if (value === undefined || value === null) {
    report(['connector_type'], `is required - one of ${names}`, ProblemType.settingMissing);
    return undefined;
  }
  if (typeof value !== 'string' || !Object.hasOwn(types, value)) {
    report(['connector_type'], `unknown connector type ${JSON.stringify(value)} - use one of ${names}`, ProblemType.settingValue);
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
    report([tableKey], `cannot specify both table and ${tableKey} - choose one`, ProblemType.settingConflict);
    return { query: null, table: null };
  }
  const givenTableKey = givenTableKeys[0];
  if (hasQuery && givenTableKey) {
    report(['query'], `cannot specify both query and ${givenTableKey} - choose one`, ProblemType.settingConflict);
    return { query: null, table: null };
  }
  if (!hasQuery && !givenTableKey) {
    report([], `specify either query or ${tableKey}`, ProblemType.settingMissing);
    return { query: null, table: null };
  }
  if (hasQuery) return { query: textOrDocument(raw.query, ['query'], type, report, true), table: null };
  const table = raw[givenTableKey as string];
  if (typeof table !== 'string' || table.trim() === '') {
    report([givenTableKey as string], `must be a non-empty ${tableKey} name`, ProblemType.settingType);
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
    if (required) report(loc, 'is required', ProblemType.settingMissing);
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
    report(loc, 'must be a filter document (a JSON object)', ProblemType.settingType);
    return null;
  }
  if (typeof value !== 'string' || value.trim() === '') {
    report(loc, 'must be a non-empty string', ProblemType.settingType);
    return null;
  }
  return value;
}

function rejectInQueryMode(raw: PlainObject, key: string, report: IssueReporter, hint: string): null {
  if (raw[key] !== undefined && raw[key] !== null && raw.query !== undefined && raw.query !== null) {
    report([key], `applies to table mode only - ${hint}`, ProblemType.settingConflict);
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
    report(loc, 'must be a column name or a non-empty list of column names', ProblemType.settingType);
    return null;
  }
  const names = list as string[];
  if (opts.unique) {
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined) {
      report(loc, `lists "${dup}" twice`, ProblemType.settingValue);
      return null;
    }
  }
  return names;
}

function nameSetting(raw: PlainObject, key: string, fallback: string, report: IssueReporter): string {
  const value = raw[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || value.trim() === '') {
    report([key], 'must be a non-empty column name', ProblemType.settingType);
    return fallback;
  }
  return value;
}

function cursorOf(value: unknown, queryMode: boolean, report: IssueReporter): CursorConfig | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.trim() !== '') return { column: value, tiebreaker: null, lag_seconds: null, initial_value: null };
  if (!isPlainObject(value)) {
    report(['cursor'], 'must be an object such as {"column": "updated_at"}', ProblemType.settingType);
    return null;
  }
  rejectUnknownKeys(value, ['column', 'tiebreaker', 'lag_seconds', 'initial_value'], report, ['cursor']);
  let column: string | null = null;
  if (value.column === undefined || value.column === null) {
    if (!queryMode)
      report(['cursor', 'column'], 'is required - the column rows are read in order of, such as updated_at', ProblemType.settingMissing);
  } else if (typeof value.column !== 'string' || value.column.trim() === '') {
    report(['cursor', 'column'], 'must be a non-empty column name', ProblemType.settingType);
  } else {
    column = value.column;
  }
  const tiebreaker = parseNameList(value.tiebreaker, ['cursor', 'tiebreaker'], report, { unique: true });
  // The cursor alone is a tie-breaker: it says the cursor is unique (an auto-increment id); beside others it adds nothing.
  if (tiebreaker && column !== null && tiebreaker.length > 1 && tiebreaker.includes(column)) {
    const hint = `write "tiebreaker": "${column}" alone when the cursor is unique`;
    report(['cursor', 'tiebreaker'], `must not repeat the cursor column "${column}" - ${hint}`, ProblemType.settingValue);
  }
  if (tiebreaker && column === null) report(['cursor', 'tiebreaker'], 'needs cursor.column', ProblemType.settingConflict);
  let lag_seconds: number | null = null;
  if (value.lag_seconds !== undefined && value.lag_seconds !== null) {
    const lag = value.lag_seconds;
    if (typeof lag !== 'number' || !Number.isFinite(lag) || lag < 0 || lag > MAX_LAG_SECONDS) {
      report(['cursor', 'lag_seconds'], `must be a number of seconds between 0 and ${MAX_LAG_SECONDS}`, ProblemType.settingValue);
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
      report(
        ['cursor', 'initial_value'],
        'must be a string, number or boolean in the cursor column type (timestamps as ISO 8601)',
        ProblemType.settingType,
      );
    }
  }
  return { column, tiebreaker, lag_seconds, initial_value };
}

function sourceIdOf(value: unknown, report: IssueReporter): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.trim() === '') {
    report(['source_id'], 'must be a column name or a template such as "pg-{id}"', ProblemType.settingType);
    return null;
  }
  if (isSourceIdTemplate(value)) {
    const parsed = parseSourceIdTemplate(value);
    if ('error' in parsed) report(['source_id'], parsed.error, ProblemType.settingValue);
  }
  return value;
}

function fieldsOf(value: unknown, report: IssueReporter): FieldsConfig {
  const fields: FieldsConfig = { include: null, exclude: [], rename: {} };
  if (value === undefined || value === null) return fields;
  if (!isPlainObject(value)) {
    report(['fields'], 'must be an object with include, exclude and/or rename', ProblemType.settingType);
    return fields;
  }
  rejectUnknownKeys(value, ['include', 'exclude', 'rename'], report, ['fields']);
  const include = parseNameList(value.include, ['fields', 'include'], report, { unique: true });
  const exclude =
    Array.isArray(value.exclude) && value.exclude.length === 0
      ? null
      : parseNameList(value.exclude, ['fields', 'exclude'], report, { unique: true });
  if (include && exclude) report(['fields'], 'cannot specify both include and exclude - choose one', ProblemType.settingConflict);
  fields.include = include;
  fields.exclude = exclude ?? [];
  if (value.rename !== undefined && value.rename !== null) {
    if (!isPlainObject(value.rename)) {
      report(['fields', 'rename'], 'must map source column names to new names, such as {"sku": "product_code"}', ProblemType.settingType);
    } else {
      const targets = new Map<string, string>();
      for (const [from, to] of Object.entries(value.rename)) {
        if (typeof to !== 'string' || to.trim() === '') {
          report(['fields', 'rename', from], 'must be a non-empty name', ProblemType.settingType);
          continue;
        }
        const clash = targets.get(to);
        if (clash !== undefined)
          report(['fields', 'rename', from], `renames to "${to}" like "${clash}" - give each a distinct name`, ProblemType.settingConflict);
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
    report(['batch_size'], `must be a whole number between 1 and ${MAX_BATCH_SIZE}`, ProblemType.settingValue);
    return DEFAULT_BATCH_SIZE;
  }
  return value;
}

export const DEFAULT_MAX_DELETE_FRACTION = 0.5;

function deletesOf(value: unknown, report: IssueReporter): DeletesConfig {
  const deletes: DeletesConfig = {
    mode: 'off',
    column: null,
    deleted_when: 'not_null',
    max_fraction: DEFAULT_MAX_DELETE_FRACTION,
    sweep_schedule: null,
  };
  if (value === undefined || value === null) return deletes;
  if (!isPlainObject(value)) {
    report(['deletes'], 'must be an object such as {"mode": "soft"}', ProblemType.settingType);
    return deletes;
  }
  rejectUnknownKeys(value, ['mode', 'column', 'deleted_when', 'max_fraction', 'sweep_schedule'], report, ['deletes']);
  const mode = value.mode ?? 'off';
  if (mode !== 'off' && mode !== 'soft' && mode !== 'hard') {
    report(['deletes', 'mode'], `must be "off", "soft" or "hard", got ${JSON.stringify(mode)}`, ProblemType.settingValue);
  } else {
    deletes.mode = mode;
  }
  if (value.column !== undefined && value.column !== null) {
    if (typeof value.column !== 'string' || value.column.trim() === '') {
      report(['deletes', 'column'], 'must be the name of the column the source marks deleted rows with', ProblemType.settingType);
    } else {
      deletes.column = value.column;
    }
  }
  const when = value.deleted_when;
  if (when !== undefined && when !== null && when !== 'not_null') {
    if (deletes.column === null) {
      report(['deletes', 'deleted_when'], 'needs deletes.column', ProblemType.settingConflict);
    } else if (typeof when === 'string' || typeof when === 'boolean' || (typeof when === 'number' && Number.isFinite(when))) {
      deletes.deleted_when = when;
    } else {
      report(
        ['deletes', 'deleted_when'],
        'must be "not_null" or the value that marks a deleted row (true, 1, "Y")',
        ProblemType.settingType,
      );
    }
  }
  if (value.max_fraction !== undefined && value.max_fraction !== null) {
    const f = value.max_fraction;
    if (typeof f !== 'number' || !Number.isFinite(f) || f <= 0 || f > 1) {
      report(
        ['deletes', 'max_fraction'],
        'must be a share above 0 and at most 1 (1: never ask for confirmation)',
        ProblemType.settingValue,
      );
    } else {
      deletes.max_fraction = f;
    }
  }
  deletes.sweep_schedule = patternOf(value.sweep_schedule, ['deletes', 'sweep_schedule'], report);
  if (deletes.mode === 'off') {
    for (const key of ['column', 'sweep_schedule'] as const) {
      if (deletes[key] !== null)
        report(['deletes', key], 'has no effect while deletes.mode is "off" - set mode to "soft" or "hard"', ProblemType.settingConflict);
    }
  }
  return deletes;
}

/** A cron pattern's shape; the API checks it as a schedule (jobs/schedule.ts) with the connector's timezone. */
function patternOf(value: unknown, loc: string[], report: IssueReporter): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.trim() === '') {
    report(loc, 'must be a cron pattern such as "0 3 * * *", or null', ProblemType.settingType);
    return null;
  }
  return value;
}
