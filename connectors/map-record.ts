/**
 * Rows → records `{ name, source_id, vertical_data }`, the shape the ingestion core takes.
 *
 * `compileRecordMapper` does all the thinking once per connector (templates parsed, include/exclude/rename
 * turned into lookups); the function it returns runs per row and only copies values. A row that cannot
 * become a record (no usable name or source_id) yields a `RowMappingError` instead of throwing, so the pull
 * can send that row to the ingestion's DLQ and carry on.
 *
 * Rules
 * - `name`: the `name_column` value; strings are kept as they are, numbers and booleans become strings;
 *   null, missing, empty or non-scalar values are a row error.
 * - `source_id`: a column (`"id"`), a template (`"pg-{id}"`, `{{`/`}}` for literal braces), or by default the
 *   key columns (primary key or tie-breaker): one column's value as a string, several joined by `:` with
 *   `%` and `:` inside each value percent-encoded so different keys never collide. No key: no source_id
 *   (the core then deduplicates by content hash).
 * - `vertical_data`: every other column of the row (the name column is consumed), restricted by
 *   `fields.include` or `fields.exclude` (source column names) and renamed by `fields.rename`.
 */
import type { Row, SourceTable } from './contract';
import type { DeletesConfig, FieldsConfig } from './connector-definition';
import { ConnectorError } from './connector-error';
import { setOwn } from './own-key';

export interface SourceRecord {
  name: string;
  source_id?: string;
  vertical_data: Record<string, unknown>;
}

/** Why one row could not become a record; not an `Error` (no stack trace per rejected row). */
export class RowMappingError {
  readonly message: string;
  /** The column the mapping needs and the row does not have at all: when every row lacks it, the mapping is wrong. */
  readonly missingColumn: string | null;
  constructor(message: string, missingColumn: string | null = null) {
    this.message = message;
    this.missingColumn = missingColumn;
  }
}

export type RecordMapper = (row: Row) => SourceRecord | RowMappingError;

/** The parts of the definition the mapping needs. */
export interface RecordMappingConfig {
  name_column: string;
  source_id: string | null;
  fields: FieldsConfig;
}

export type SourceIdPart = string | { column: string };

/** Parses `pg-{id}`-style templates; literal braces are written `{{` and `}}`. */
export function parseSourceIdTemplate(template: string): { parts: SourceIdPart[] } | { error: string } {
  const parts: SourceIdPart[] = [];
  let literal = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i];
    if (ch === '{' && template[i + 1] === '{') {
      literal += '{';
      i++;
    } else if (ch === '}' && template[i + 1] === '}') {
      literal += '}';
      i++;
    } else if (ch === '{') {
      const end = template.indexOf('}', i + 1);
      if (end < 0) return { error: `unclosed "{" at position ${i + 1} - write {column}, or {{ for a literal brace` };
      const column = template.slice(i + 1, end).trim();
      if (!column) return { error: `empty "{}" at position ${i + 1} - name a column inside the braces` };
      if (literal) parts.push(literal);
      literal = '';
      parts.push({ column });
      i = end;
    } else if (ch === '}') {
      return { error: `unmatched "}" at position ${i + 1} - write }} for a literal brace` };
    } else {
      literal += ch;
    }
  }
  if (literal) parts.push(literal);
  if (!parts.some((p) => typeof p !== 'string')) return { error: 'a template must reference at least one {column}' };
  return { parts };
}

/** Whether a `source_id` setting is a template rather than a column name. */
export function isSourceIdTemplate(sourceId: string): boolean {
  return sourceId.includes('{') || sourceId.includes('}');
}

/**
 * Builds the per-row mapper. `keyColumns` is the source's key (`SourceConnector.describe().primaryKey`),
 * used for the default source_id.
 */
export function compileRecordMapper(config: RecordMappingConfig, keyColumns: readonly string[]): RecordMapper {
  const nameColumn = config.name_column;
  const sourceIdOf = compileSourceId(config.source_id, keyColumns);
  const verticalDataOf = compileVerticalData(config.fields, nameColumn);

  return (row) => {
    const rawName = row[nameColumn];
    let name: string;
    if (typeof rawName === 'string') name = rawName;
    else if (typeof rawName === 'number' || typeof rawName === 'boolean' || typeof rawName === 'bigint') name = String(rawName);
    else return new RowMappingError(describeBadName(row, nameColumn, rawName, sourceIdOf), rawName === undefined ? nameColumn : null);
    // Only a name that starts with whitespace can be blank: no trim() (a copy) for the usual row.
    const first = name.charCodeAt(0);
    if (name === '' || ((first <= 32 || first >= 128) && name.trim() === ''))
      return new RowMappingError(describeBadName(row, nameColumn, rawName, sourceIdOf));

    const vertical_data = verticalDataOf(row);
    if (sourceIdOf === null) return { name, vertical_data };
    const source_id = sourceIdOf(row);
    if (source_id instanceof RowMappingError) return source_id;
    return { name, source_id, vertical_data };
  };
}

type SourceIdOf = (row: Row) => string | RowMappingError;

/**
 * The columns the mapping reads that `table` does not have: a mapping that cannot work, found before any row is
 * read. Only for sources whose columns are known (`table.sampled` unset); documents may lack a field in a sample.
 */
function missingMappedColumns(config: RecordMappingConfig, table: SourceTable): string[] {
  if (table.sampled || table.columns.length === 0) return [];
  const have = new Set(table.columns.map((c) => c.name));
  const needed = [config.name_column];
  if (config.source_id !== null) {
    if (!isSourceIdTemplate(config.source_id)) needed.push(config.source_id);
    else {
      const parsed = parseSourceIdTemplate(config.source_id);
      if ('parts' in parsed) for (const part of parsed.parts) if (typeof part !== 'string') needed.push(part.column);
    }
  }
  return [...new Set(needed.filter((c) => !have.has(c)))];
}

/** Throws a `config` ConnectorError when the mapping reads columns `table` does not have (see `missingMappedColumns`). */
export function checkMapping(config: RecordMappingConfig, table: SourceTable): void {
  const missing = missingMappedColumns(config, table);
  if (missing.length === 0) return;
  throw new ConnectorError(
    'config',
    `the mapping reads ${missing.map((c) => `"${c}"`).join(', ')}, which ${table.name} does not have ` +
      `(columns: ${table.columns.map((c) => c.name).join(', ')}) - set name_column (and source_id) to columns of the source`,
  );
}

function compileSourceId(setting: string | null, keyColumns: readonly string[]): SourceIdOf | null {
  if (setting !== null && isSourceIdTemplate(setting)) {
    const parsed = parseSourceIdTemplate(setting);
    if ('error' in parsed) throw new Error(`source_id template ${JSON.stringify(setting)}: ${parsed.error}`);
    const parts = parsed.parts;
    return (row) => {
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          out += part;
          continue;
        }
        const text = scalarText(row[part.column]);
        if (text === null)
          return new RowMappingError(
            `source_id template needs column "${part.column}", which is ${describeValue(row[part.column])}`,
            row[part.column] === undefined ? part.column : null,
          );
        out += text;
      }
      return out;
    };
  }
  const columns = setting !== null ? [setting] : keyColumns;
  if (columns.length === 0) return null;
  if (columns.length === 1) {
    const column = columns[0] as string;
    return (row) => {
      const text = scalarText(row[column]);
      return (
        text ??
        new RowMappingError(`source_id column "${column}" is ${describeValue(row[column])}`, row[column] === undefined ? column : null)
      );
    };
  }
  return (row) => {
    const parts: string[] = [];
    for (const column of columns) {
      const text = scalarText(row[column]);
      if (text === null) {
        const missing = row[column] === undefined ? column : null;
        return new RowMappingError(`key column "${column}" is ${describeValue(row[column])}, so the row has no source_id`, missing);
      }
      parts.push(text);
    }
    return joinKeyParts(parts);
  };
}

function compileVerticalData(fields: FieldsConfig, nameColumn: string): (row: Row) => Record<string, unknown> {
  const renames = new Map(Object.entries(fields.rename));
  if (fields.include !== null) {
    const sources = fields.include.filter((c) => c !== nameColumn);
    const targets = sources.map((c) => renames.get(c) ?? c);
    const count = sources.length;
    return (row) => {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) {
        const value = row[sources[i] as string];
        if (value !== undefined) setOwn(out, targets[i] as string, value);
      }
      return out;
    };
  }
  const skip = new Set([...fields.exclude, nameColumn]);
  if (renames.size === 0 && skip.size === 1) {
    return (row) => {
      const out: Record<string, unknown> = {};
      for (const key in row) {
        if (key !== nameColumn) setOwn(out, key, row[key]);
      }
      return out;
    };
  }
  return (row) => {
    const out: Record<string, unknown> = {};
    for (const key in row) {
      if (skip.has(key)) continue;
      setOwn(out, renames.get(key) ?? key, row[key]);
    }
    return out;
  };
}

function scalarText(value: unknown): string | null {
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return null;
}

function escapeKeyPart(text: string): string {
  return text.includes('%') || text.includes(':') ? text.replaceAll('%', '%25').replaceAll(':', '%3A') : text;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (value === '') return 'empty';
  return `not a scalar (${Array.isArray(value) ? 'array' : typeof value})`;
}

function describeBadName(row: Row, nameColumn: string, value: unknown, sourceIdOf: SourceIdOf | null): string {
  const id = sourceIdOf ? sourceIdOf(row) : null;
  const which = typeof id === 'string' ? ` (source_id ${JSON.stringify(id)})` : '';
  const what = typeof value === 'string' ? 'blank' : describeValue(value);
  return `row${which} has no usable name: column "${nameColumn}" is ${what} - set name_column to a column that always has a value`;
}

/**
 * The mapping in the terms a source needs to make records itself (`ReadPlan.readyRecords`): the name column, the columns
 * whose values make the source_id (one, or the key's, joined as `compileSourceId` joins them) and the fields. Null for a
 * mapping no source makes itself: a source_id template, or no source_id at all (the core then keys by content).
 */
export interface RecordShape {
  nameColumn: string;
  sourceIdColumns: readonly string[];
  fields: FieldsConfig;
}

export function recordShape(config: RecordMappingConfig, keyColumns: readonly string[]): RecordShape | null {
  if (config.source_id !== null && isSourceIdTemplate(config.source_id)) return null;
  const sourceIdColumns = config.source_id !== null ? [config.source_id] : keyColumns;
  return sourceIdColumns.length ? { nameColumn: config.name_column, sourceIdColumns, fields: config.fields } : null;
}

/** A source_id made of several key values (`compileSourceId`): each with `%` and `:` percent-encoded, joined by `:`. */
export function joinKeyParts(parts: readonly string[]): string {
  let out = '';
  for (let i = 0; i < parts.length; i++) out += (i ? ':' : '') + escapeKeyPart(parts[i]!);
  return out;
}

/**
 * The source_id alone, as the mapper computes it (a key sweep needs no more of a row); null when the row has none.
 * `columns` are the row's columns it reads.
 */
export function compileSourceIdOf(
  config: Pick<RecordMappingConfig, 'source_id'>,
  keyColumns: readonly string[],
): { sourceIdOf: (row: Row) => string | null; columns: string[] } {
  const of = compileSourceId(config.source_id, keyColumns);
  const setting = config.source_id;
  let columns: string[];
  if (setting !== null && isSourceIdTemplate(setting)) {
    const parsed = parseSourceIdTemplate(setting);
    columns = 'parts' in parsed ? parsed.parts.flatMap((p) => (typeof p === 'string' ? [] : [p.column])) : [];
  } else {
    columns = setting !== null ? [setting] : [...keyColumns];
  }
  return {
    sourceIdOf: (row) => {
      const id = of ? of(row) : null;
      return typeof id === 'string' ? id : null;
    },
    columns,
  };
}

/** Whether a row is one the source marks deleted (`deletes.column`); null when the connector has no such column. */
export function compileDeletedTest(deletes: Pick<DeletesConfig, 'column' | 'deleted_when'>): ((row: Row) => boolean) | null {
  const column = deletes.column;
  if (column === null) return null;
  const when = deletes.deleted_when;
  if (when === 'not_null') return (row) => row[column] !== null && row[column] !== undefined;
  // Sources spell booleans their own way (MySQL's TINYINT(1) reads as 1): true matches 1, false matches 0.
  const alike = typeof when === 'boolean' ? [when, when ? 1 : 0, String(when)] : [when, String(when)];
  return (row) => {
    const value = row[column];
    return value !== null && value !== undefined && (alike.includes(value as never) || alike.includes(String(value) as never));
  };
}

/**
 * Whether two connectors' source_id settings can never produce the same source_id: both are templates whose
 * leading literal texts (or trailing ones) differ so that neither starts (ends) the other, such as `pg-{id}` and
 * `my-{id}`. Anything else (a column, the default key, templates without distinct literals) may collide.
 */
export function sourceIdsDisjoint(a: string | null, b: string | null): boolean {
  const literals = (setting: string | null) => {
    if (setting === null || !isSourceIdTemplate(setting)) return null;
    const parsed = parseSourceIdTemplate(setting);
    if ('error' in parsed) return null;
    const first = parsed.parts[0];
    const last = parsed.parts[parsed.parts.length - 1];
    return { head: typeof first === 'string' ? first : '', tail: typeof last === 'string' ? last : '' };
  };
  const x = literals(a);
  const y = literals(b);
  if (!x || !y) return false;
  const apart = (p: string, q: string, cmp: (s: string, t: string) => boolean) => p !== '' && q !== '' && !cmp(p, q) && !cmp(q, p);
  return apart(x.head, y.head, (s, t) => s.startsWith(t)) || apart(x.tail, y.tail, (s, t) => s.endsWith(t));
}
