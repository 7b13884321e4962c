/**
 * MySQL/MariaDB values → JSON, exactly. mysql2 runs with `supportBigNumbers` (BIGINT as a number while
 * exact, else a string), `dateStrings` (temporal values as the server's text), DECIMAL as strings and JSON
 * parsed (MySQL's JSON type, and MariaDB's JSON alias through its extended metadata). What is left is done
 * here, per column, only for the columns that need it:
 *
 * | MySQL / MariaDB                         | JSON                                                   |
 * |-----------------------------------------|--------------------------------------------------------|
 * | TINYINT…INT, YEAR                       | number (TINYINT(1) too: MySQL has no boolean)          |
 * | BIGINT [UNSIGNED]                       | number when |v| ≤ 2^53−1, else the exact decimal string |
 * | DECIMAL                                 | string, exactly as stored                              |
 * | FLOAT, DOUBLE                           | number                                                 |
 * | TIMESTAMP(n)                            | `YYYY-MM-DDTHH:MM:SS.ffffffZ` (session time zone UTC)  |
 * | DATETIME(n)                             | `YYYY-MM-DDTHH:MM:SS.ffffff` (no zone: as stored)      |
 * | DATE / TIME(n)                          | `YYYY-MM-DD` / `[-]HHH:MM:SS[.f…]` with n fractional digits |
 * | BINARY, VARBINARY, BLOB                 | base64                                                 |
 * | BIT(n)                                  | `'0101'` (n characters)                                |
 * | JSON                                    | parsed JSON                                            |
 * | CHAR, VARCHAR, TEXT, ENUM, SET, UUID, INET6 | string (SET as `'a,b'`)                            |
 * | GEOMETRY                                | mysql2's parsed form (`{x, y}`, arrays of points, …)   |
 * Zero dates (`0000-00-00`) keep their zeros: `0000-00-00T00:00:00.000000`.
 */
import type { ColumnKind, SqlColumn } from '../sql/sql-dialect';

/** The parts of a mysql2 field description used here. */
export interface MysqlField {
  name: string;
  columnType?: number;
  characterSet?: number;
  columnLength?: number;
  decimals: number;
  flags: number | string[];
  extendedFormat?: string;
  extendedTypeName?: string;
}

// mysql2/lib/constants/types.js
const T = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  VECTOR: 242,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;

const TYPE_NAMES: Record<number, string> = {
  [T.DECIMAL]: 'decimal',
  [T.TINY]: 'tinyint',
  [T.SHORT]: 'smallint',
  [T.LONG]: 'int',
  [T.FLOAT]: 'float',
  [T.DOUBLE]: 'double',
  [T.NULL]: 'null',
  [T.TIMESTAMP]: 'timestamp',
  [T.LONGLONG]: 'bigint',
  [T.INT24]: 'mediumint',
  [T.DATE]: 'date',
  [T.TIME]: 'time',
  [T.DATETIME]: 'datetime',
  [T.YEAR]: 'year',
  [T.NEWDATE]: 'date',
  [T.VARCHAR]: 'varchar',
  [T.BIT]: 'bit',
  [T.VECTOR]: 'vector',
  [T.JSON]: 'json',
  [T.NEWDECIMAL]: 'decimal',
  [T.ENUM]: 'enum',
  [T.SET]: 'set',
  [T.TINY_BLOB]: 'tinyblob',
  [T.MEDIUM_BLOB]: 'mediumblob',
  [T.LONG_BLOB]: 'longblob',
  [T.BLOB]: 'blob',
  [T.VAR_STRING]: 'varchar',
  [T.STRING]: 'char',
  [T.GEOMETRY]: 'geometry',
};

const BINARY_CHARSET = 63;
const FLAG_NOT_NULL = 1;
const FLAG_UNSIGNED = 32;
const FLAG_ENUM = 256;
const FLAG_SET = 2048;

const INTEGER_TYPES = new Set<number>([T.TINY, T.SHORT, T.LONG, T.INT24, T.LONGLONG, T.YEAR]);
const STRING_TYPES = new Set<number>([T.VARCHAR, T.VAR_STRING, T.STRING, T.TINY_BLOB, T.MEDIUM_BLOB, T.LONG_BLOB, T.BLOB]);

function flagsOf(field: MysqlField): number {
  return typeof field.flags === 'number' ? field.flags : 0;
}

function isBinaryString(field: MysqlField): boolean {
  return STRING_TYPES.has(field.columnType ?? -1) && field.characterSet === BINARY_CHARSET && field.extendedFormat !== 'json';
}

/** How a described column orders and binds back, and its type name. */
export function mysqlColumn(field: MysqlField): SqlColumn {
  const type = field.columnType ?? T.VAR_STRING;
  const flags = flagsOf(field);
  const unsigned = (flags & FLAG_UNSIGNED) !== 0;
  let kind: ColumnKind = 'text';
  let paramCast: string | null = null;
  let name = field.extendedTypeName ?? (field.extendedFormat === 'json' ? 'json' : (TYPE_NAMES[type] ?? `type ${type}`));
  if (type === T.TIMESTAMP) kind = 'timestamptz';
  else if (type === T.DATETIME) kind = 'timestamp';
  else if (type === T.DATE || type === T.NEWDATE) kind = 'date';
  else if (INTEGER_TYPES.has(type)) {
    kind = 'integer';
    paramCast = unsigned ? 'UNSIGNED' : 'SIGNED';
  } else if (type === T.DECIMAL || type === T.NEWDECIMAL) {
    kind = 'decimal';
    const scale = Math.min(field.decimals, 30);
    const precision = Math.max(1, Math.min(65, (field.columnLength ?? 66) - (field.decimals > 0 ? 1 : 0) - (unsigned ? 0 : 1)));
    paramCast = `DECIMAL(${Math.max(precision, scale)},${scale})`;
    name = `decimal(${precision},${scale})`;
  } else if (type === T.FLOAT || type === T.DOUBLE) kind = 'float';
  else if (type === T.JSON || type === T.GEOMETRY || type === T.BIT || type === T.VECTOR || field.extendedFormat === 'json')
    kind = 'unordered';
  else if ((flags & (FLAG_ENUM | FLAG_SET)) !== 0)
    kind = 'unordered'; // ordered by position, compared as text
  else if (isBinaryString(field)) {
    kind = 'binary';
    name = type === T.STRING ? 'binary' : type === T.VAR_STRING || type === T.VARCHAR ? 'varbinary' : name;
  }
  if ((type === T.TIMESTAMP || type === T.DATETIME || type === T.TIME) && field.decimals > 0 && field.decimals <= 6)
    name += `(${field.decimals})`;
  if (unsigned && kind === 'integer') name += ' unsigned';
  return { name: field.name, type: name, kind, nullable: (flags & FLAG_NOT_NULL) === 0, paramCast };
}

type Convert = (value: never) => unknown;

const ZEROS = '000000';

/** `2026-01-02 03:04:05.5` → `2026-01-02T03:04:05.500000`. */
export const datetimeToIso = (text: string): string => {
  const time = text.slice(11);
  return `${text.slice(0, 10)}T${time.length === 8 ? `${time}.${ZEROS}` : time + ZEROS.slice(0, 15 - time.length)}`;
};

/** TIMESTAMP in a UTC session: `…Z`. */
export const timestampToIso = (text: string): string => `${datetimeToIso(text)}Z`;

const toBase64 = (value: Buffer): string => value.toString('base64');

/** TIME(n) with exactly n fractional digits, as the text protocol prints it (the binary one trims zeros). */
function timeWithDigits(digits: number): (text: string) => string {
  const zeros = '0'.repeat(digits);
  return (text) => {
    const dot = text.indexOf('.');
    if (dot < 0) return `${text}.${zeros}`;
    const fraction = text.length - dot - 1;
    return fraction >= digits ? text : text + zeros.slice(fraction);
  };
}

function bitsOf(width: number): (value: Buffer) => string {
  return (value) => {
    let bits = '';
    for (const byte of value) bits += byte.toString(2).padStart(8, '0');
    return bits.length > width ? bits.slice(bits.length - width) : bits.padStart(width, '0');
  };
}

/**
 * Converts mysql2 rows in place for the given result fields; null when no column needs converting.
 * Built once per result set, then a loop over the few converted columns per row.
 */
export function rowConverter(fields: readonly MysqlField[]): ((rows: Array<Record<string, unknown>>) => void) | null {
  const names: string[] = [];
  const converts: Convert[] = [];
  for (const field of fields) {
    const type = field.columnType;
    let convert: Convert | null = null;
    if (type === T.DATETIME) convert = datetimeToIso;
    else if (type === T.TIMESTAMP) convert = timestampToIso;
    else if (type === T.TIME && field.decimals > 0 && field.decimals <= 6) convert = timeWithDigits(field.decimals);
    else if (type === T.BIT) convert = bitsOf(field.columnLength ?? 1);
    else if (isBinaryString(field)) convert = toBase64;
    if (convert) {
      names.push(field.name);
      converts.push(convert);
    }
  }
  const count = names.length;
  if (count === 0) return null;
  return (rows) => {
    for (const row of rows) {
      for (let i = 0; i < count; i++) {
        const name = names[i] as string;
        const value = row[name];
        if (value !== null && value !== undefined) row[name] = (converts[i] as (v: unknown) => unknown)(value);
      }
    }
  };
}
