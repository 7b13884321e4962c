/**
 * PostgreSQL values → JSON, exactly. Every value arrives as PostgreSQL's text form (the session settings
 * below fix that form); the parsers here turn it into the JSON form of connectors/README.md:
 *
 * | PostgreSQL                     | JSON                                                        |
 * |--------------------------------|-------------------------------------------------------------|
 * | smallint, integer, oid         | number                                                      |
 * | bigint                         | number when |v| ≤ 2^53−1, else the exact decimal string       |
 * | numeric                        | string, exactly as stored (`NaN` too)                       |
 * | real, double precision         | number; `NaN`/`Infinity`/`-Infinity` as strings              |
 * | boolean                        | true/false                                                  |
 * | timestamptz                    | `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, six fractional digits)   |
 * | timestamp                      | `YYYY-MM-DDTHH:MM:SS.ffffff` (no zone: as stored)            |
 * | date                           | `YYYY-MM-DD`                                                |
 * | time, timetz                   | PostgreSQL text (`HH:MM:SS[.ffffff][+zz]`)                   |
 * | interval                       | ISO 8601 duration (`P1Y2M3DT4H5M6.789S`)                     |
 * | bytea                          | base64                                                      |
 * | json, jsonb                    | parsed JSON (a jsonb object: its text, when the read asks) |
 * | arrays                         | arrays of the element's JSON form (NULL → null)             |
 * | bit, varbit                    | `'0101'`                                                    |
 * | uuid, text, enums, inet, …     | string                                                      |
 * `infinity` timestamps and dates stay the strings `infinity`/`-infinity`; BC years use ISO expanded years.
 *
 * Parsers are registered per pg client (the pool's `types` option), never on pg's global registry.
 */
import type { ColumnKind } from '../sql/sql-dialect';
import { toUtcIso } from '../iso-time';
import { JsonText } from '../../src/core/json-text';
import { parsePgArray } from './postgresql-array';

/** Run at the start of every transaction: the text forms the parsers below expect. */
export const SESSION_SETTINGS =
  "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'iso_8601'; " +
  "SET LOCAL bytea_output = 'hex'; SET LOCAL extra_float_digits = 3";

export type TextParser = (text: string) => unknown;

const identity: TextParser = (text) => text;

const parseInteger: TextParser = (text) => Number(text);

/** bigint: a number while exact, else the decimal string. */
export const parseInt8: TextParser = (text) => {
  if (text.length < 16) return Number(text);
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
};

const parseFloat: TextParser = (text) => {
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
};

const parseBool: TextParser = (text) => text === 't';

const parseBytea: TextParser = (text) => Buffer.from(text.slice(2), 'hex').toString('base64');

const parseJson: TextParser = (text) => JSON.parse(text);

const ZEROS = '000000';

/** `2026-01-02 03:04:05.123+00` → `2026-01-02T03:04:05.123000Z` (session time zone UTC). */
export const parseTimestamptz: TextParser = (text) => {
  const len = text.length;
  // Fast path: 4-digit year, '+00' offset, AD.
  if (text.charCodeAt(10) === 32 && text.charCodeAt(len - 3) === 43 && text.charCodeAt(len - 2) === 48 && text.charCodeAt(len - 1) === 48) {
    const time = text.slice(11, len - 3);
    return `${text.slice(0, 10)}T${time.length === 8 ? `${time}.${ZEROS}` : time + ZEROS.slice(0, 15 - time.length)}Z`;
  }
  return timestampSlow(text, true);
};

/** `2026-01-02 03:04:05.5` → `2026-01-02T03:04:05.500000` (no zone: the value as stored). */
export const parseTimestamp: TextParser = (text) => {
  const len = text.length;
  if (text.charCodeAt(10) === 32 && text.charCodeAt(len - 1) !== 67 /* C of BC */) {
    const time = text.slice(11);
    return `${text.slice(0, 10)}T${time.length === 8 ? `${time}.${ZEROS}` : time + ZEROS.slice(0, 15 - time.length)}`;
  }
  return timestampSlow(text, false);
};

const SLOW = /^(\d{4,})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?([+-]\d\d(?::\d\d){0,2})?( BC)?$/;

function timestampSlow(text: string, zoned: boolean): string {
  const m = SLOW.exec(text);
  if (!m) return text; // infinity, -infinity
  const [, y, mo, d, hms, frac = '', offset, bc] = m;
  const year = bc ? 1 - Number(y) : Number(y);
  const yearText =
    year >= 0 && year <= 9999 ? String(year).padStart(4, '0') : (year < 0 ? '-' : '+') + String(Math.abs(year)).padStart(6, '0');
  const local = `${yearText}-${mo}-${d}T${hms}.${(frac + ZEROS).slice(0, 6)}`;
  if (!zoned) return local;
  return toUtcIso(`${local}${offset ?? 'Z'}`);
}

/** A jsonb value as a read that splices JSON wants it: an object as its text (see `pgTypesKeepingJson`), else parsed. */
const keepJsonbText: TextParser = (text) => (text.charCodeAt(0) === 0x7b ? new JsonText(text) : parseJson(text));

/**
 * How a type's text is written into a JSON document straight from the wire (postgresql-copy-records.ts), by its parser:
 * a number as it is written, a string quoted, and so on. A type whose parser is not here (arrays, json) is not.
 */
export type WireKind = 'integer' | 'int8' | 'float' | 'boolean' | 'string' | 'timestamptz' | 'timestamp' | 'bytea' | 'jsonb';

const WIRE_KINDS = new Map<TextParser, WireKind>([
  [identity, 'string'],
  [parseInteger, 'integer'],
  [parseInt8, 'int8'],
  [parseFloat, 'float'],
  [parseBool, 'boolean'],
  [parseTimestamptz, 'timestamptz'],
  [parseTimestamp, 'timestamp'],
  [parseBytea, 'bytea'],
  [keepJsonbText, 'jsonb'],
]);

export function wireKindOf(parse: TextParser): WireKind | undefined {
  return WIRE_KINDS.get(parse);
}

interface BuiltinType {
  name: string;
  kind: ColumnKind;
  parse: TextParser;
}

const SCALARS: Record<number, BuiltinType> = {
  16: { name: 'boolean', kind: 'boolean', parse: parseBool },
  17: { name: 'bytea', kind: 'binary', parse: parseBytea },
  18: { name: '"char"', kind: 'text', parse: identity },
  19: { name: 'name', kind: 'text', parse: identity },
  20: { name: 'bigint', kind: 'integer', parse: parseInt8 },
  21: { name: 'smallint', kind: 'integer', parse: parseInteger },
  23: { name: 'integer', kind: 'integer', parse: parseInteger },
  25: { name: 'text', kind: 'text', parse: identity },
  26: { name: 'oid', kind: 'integer', parse: parseInteger },
  114: { name: 'json', kind: 'unordered', parse: parseJson },
  142: { name: 'xml', kind: 'unordered', parse: identity },
  650: { name: 'cidr', kind: 'text', parse: identity },
  700: { name: 'real', kind: 'float', parse: parseFloat },
  701: { name: 'double precision', kind: 'float', parse: parseFloat },
  774: { name: 'macaddr8', kind: 'text', parse: identity },
  790: { name: 'money', kind: 'text', parse: identity },
  829: { name: 'macaddr', kind: 'text', parse: identity },
  869: { name: 'inet', kind: 'text', parse: identity },
  1042: { name: 'character', kind: 'text', parse: identity },
  1043: { name: 'character varying', kind: 'text', parse: identity },
  1082: { name: 'date', kind: 'date', parse: identity },
  1083: { name: 'time without time zone', kind: 'text', parse: identity },
  1114: { name: 'timestamp without time zone', kind: 'timestamp', parse: parseTimestamp },
  1184: { name: 'timestamp with time zone', kind: 'timestamptz', parse: parseTimestamptz },
  1186: { name: 'interval', kind: 'text', parse: identity },
  1266: { name: 'time with time zone', kind: 'text', parse: identity },
  1560: { name: 'bit', kind: 'text', parse: identity },
  1562: { name: 'bit varying', kind: 'text', parse: identity },
  1700: { name: 'numeric', kind: 'decimal', parse: identity },
  2950: { name: 'uuid', kind: 'text', parse: identity },
  3614: { name: 'tsvector', kind: 'unordered', parse: identity },
  3802: { name: 'jsonb', kind: 'unordered', parse: parseJson },
};

/** Array type OID → element type OID, for the element types above. */
const ARRAYS: Record<number, number> = {
  1000: 16,
  1001: 17,
  1002: 18,
  1003: 19,
  1016: 20,
  1005: 21,
  1007: 23,
  1009: 25,
  1028: 26,
  199: 114,
  143: 142,
  651: 650,
  1021: 700,
  1022: 701,
  775: 774,
  791: 790,
  1040: 829,
  1041: 869,
  1014: 1042,
  1015: 1043,
  1182: 1082,
  1183: 1083,
  1115: 1114,
  1185: 1184,
  1187: 1186,
  1270: 1266,
  1561: 1560,
  1563: 1562,
  1231: 1700,
  2951: 2950,
  3643: 3614,
  3807: 3802,
};

interface PgType {
  name: string;
  kind: ColumnKind;
  parse: TextParser;
  /** jsonb's (and a domain's over it): its objects as `JsonText`, for a read that splices them (`pgTypesKeepingJson`). */
  keepText?: TextParser;
}

/** A row of `pg_type` as `resolve` reads it. */
interface PgTypeRow {
  oid: number;
  name: string;
  typtype: string;
  category: string;
  elem: number;
  base: number;
}

const TYPE_QUERY =
  'SELECT t.oid::int AS oid, format_type(t.oid, NULL) AS name, t.typtype::text AS typtype, t.typcategory::text AS category, ' +
  't.typelem::int AS elem, t.typbasetype::int AS base FROM pg_catalog.pg_type t WHERE t.oid = ANY($1::oid[])';

/**
 * The type parsers of one connector. Built-in types are known up front; enums, domains and arrays of them
 * are looked up in `pg_type` once (`resolve`) before the first query that returns them.
 */
export class PgTypes {
  private readonly types = new Map<number, PgType>();

  /** The pg `types` option: text values through our parsers, unknown types as text. */
  readonly pgTypes = {
    getTypeParser: (oid: number, format?: string): TextParser =>
      format === 'binary' ? identity : (this.types.get(oid)?.parse ?? identity),
  };

  /**
   * The `types` option of a read for a caller that splices JSON (`ReadPlan.jsonText`): a jsonb object comes as its text.
   * PostgreSQL wrote it as valid JSON with unique keys; parsing it into objects only for the core to stringify them again
   * is the largest part of such a column's cost. A domain over jsonb is jsonb; jsonb arrays, arrays of a domain over it,
   * `jsonb[]` and json (kept as sent) are parsed as ever.
   */
  readonly pgTypesKeepingJson = {
    getTypeParser: (oid: number, format?: string): TextParser => {
      const type = format === 'binary' ? undefined : this.types.get(oid);
      return type?.keepText ?? this.pgTypes.getTypeParser(oid, format);
    },
  };

  constructor() {
    for (const [oid, t] of Object.entries(SCALARS)) this.types.set(Number(oid), t);
    for (const [oid, elem] of Object.entries(ARRAYS)) this.types.set(Number(oid), arrayOf(SCALARS[elem] as BuiltinType));
    const jsonb = SCALARS[3802] as BuiltinType;
    this.types.set(3802, { ...jsonb, keepText: keepJsonbText });
  }

  kindOf(oid: number): ColumnKind {
    return this.types.get(oid)?.kind ?? 'text';
  }

  nameOf(oid: number): string {
    return this.types.get(oid)?.name ?? `oid ${oid}`;
  }

  /** Learns the types of `oids` not known yet (enums, domains, arrays, extension types) from `pg_type`. */
  async resolve(oids: readonly number[], query: (sql: string, values: unknown[]) => Promise<PgTypeRow[]>): Promise<void> {
    let missing = [...new Set(oids)].filter((oid) => !this.types.has(oid));
    const rows = new Map<number, PgTypeRow>();
    for (let round = 0; missing.length && round < 4; round++) {
      for (const row of await query(TYPE_QUERY, [missing])) rows.set(row.oid, row);
      missing = [...rows.values()].flatMap((r) => [r.elem, r.base]).filter((oid) => oid !== 0 && !this.types.has(oid) && !rows.has(oid));
    }
    const define = (oid: number, depth = 0): PgType => {
      const known = this.types.get(oid);
      if (known) return known;
      const row = rows.get(oid);
      let type: PgType;
      if (!row || depth > 8) type = { name: `oid ${oid}`, kind: 'text', parse: identity };
      else if (row.typtype === 'd' && row.base) type = { ...define(row.base, depth + 1), name: row.name };
      else if (row.category === 'A' && row.elem) type = { ...arrayOf(define(row.elem, depth + 1)), name: row.name };
      else if (row.typtype === 'e' || row.typtype === 'b') type = { name: row.name, kind: 'text', parse: identity };
      else type = { name: row.name, kind: 'unordered', parse: identity };
      this.types.set(oid, type);
      return type;
    };
    for (const oid of oids) define(oid);
  }
}

function arrayOf(element: PgType): PgType {
  const parseElement = element.parse;
  return { name: `${element.name}[]`, kind: 'unordered', parse: (text) => parsePgArray(text, parseElement) };
}
