import type { CursorScalar } from '../contract';
import { tableQuoter, type SqlColumn, type SqlDialect, type SqlParams } from '../sql/sql-dialect';

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * A timestamp in its JSON form as PostgreSQL reads it. The JSON form writes a year outside 0001–9999 as ISO 8601 does
 * (`0000` for 1 BC, `-000043` for 44 BC, `+010000`), which PostgreSQL refuses; it reads its own form instead
 * (`0044-03-15 00:00:00+00 BC`, `10000-01-01 …`). Without this a cursor holding such a value could not be resumed from.
 */
export function pgTimestamp(iso: string): string {
  const m = /^([+-]?)(\d{4,6})-(\d\d-\d\d)T([^Z+-]*)(Z?)$/.exec(iso);
  if (!m) return iso;
  const [, sign, digits, monthDay, time, zulu] = m;
  const year = sign === '-' ? -Number(digits) : Number(digits);
  if (year >= 1 && year <= 9999 && sign === '') return iso;
  const zone = zulu ? '+00' : '';
  return year >= 1 ? `${year}-${monthDay} ${time}${zone}` : `${String(1 - year).padStart(4, '0')}-${monthDay} ${time}${zone} BC`;
}

/**
 * PostgreSQL: "quoted" identifiers, `$n` placeholders whose types the server infers from the compared
 * column, and row-value keyset predicates (one index range on an index over (cursor, key…)).
 */
export const postgresqlDialect: SqlDialect = {
  name: 'PostgreSQL',
  lexer: {
    backslashInSingle: false,
    backslashInDouble: false,
    escapeStrings: true,
    doubledQuotes: true,
    doubleQuotes: 'identifier',
    backticks: false,
    dollarQuotes: true,
    nestedComments: true,
    dashComments: 'always',
    hashComments: false,
    slashComments: false,
    executableComments: false,
    unicodeEscapes: false,
    placeholders: true,
  },
  keyset: 'row-value',
  quoteIdentifier,
  quoteTable: tableQuoter(quoteIdentifier),
  placeholder: (index) => `$${index}`,
  toParam(column: SqlColumn, value: CursorScalar): unknown {
    if (typeof value !== 'string') return value;
    if (column.kind === 'binary') return Buffer.from(value, 'base64');
    return column.kind === 'timestamptz' || column.kind === 'timestamp' ? pgTimestamp(value) : value;
  },
  instantParam: (iso) => iso,
  equals: (columnSql, bind) => `${columnSql} = ${bind()}`,
  limit: (_params: SqlParams, rows: number) => `LIMIT ${Math.trunc(rows)}`,
};
