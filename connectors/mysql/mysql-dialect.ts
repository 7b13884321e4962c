import type { CursorScalar } from '../contract';
import { toUtcIso } from '../iso-time';
import { tableQuoter, type SqlColumn, type SqlDialect, type SqlParams } from '../sql/sql-dialect';

function quoteIdentifier(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

const ZONED = /(?:[zZ]|[+-]\d\d(?::?\d\d)?)$/;

/** An ISO timestamp as MySQL's `YYYY-MM-DD HH:MM:SS.ffffff` (UTC when the ISO text has a zone). */
export function mysqlTimestamp(iso: string): string {
  const utc = iso.length > 10 && ZONED.test(iso) ? toUtcIso(iso).slice(0, -1) : iso;
  return utc.replace('T', ' ');
}

/**
 * MySQL/MariaDB: `backtick` identifiers, `?` placeholders (see mysql-session.ts for how they are filled),
 * values cast to the compared column's type where MySQL would otherwise compare a string with a number as
 * doubles (BIGINT beyond 2^53, DECIMAL), and split keyset statements: measured on MariaDB 10.11, neither
 * `(c, k) > (?, ?)` nor its `c > ? OR (c = ? AND k > ?)` expansion is planned as one index range (the first
 * scans, the second falls back to a full scan + filesort on large runs of equal cursor values).
 * Equality prefixes are written `c >= ? AND c <= ?` so the optimiser uses the (c, k) range instead of a
 * `ref` lookup on c that re-scans the whole run of equal values on every page.
 */
export const mysqlDialect: SqlDialect = {
  name: 'MySQL',
  lexer: {
    backslashInSingle: true,
    backslashInDouble: true,
    escapeStrings: false,
    doubledQuotes: true,
    doubleQuotes: 'identifier',
    backticks: true,
    dollarQuotes: false,
    nestedComments: false,
    dashComments: 'before-space',
    hashComments: true,
    slashComments: false,
    executableComments: true,
    unicodeEscapes: false,
    placeholders: true,
  },
  keyset: 'split',
  quoteIdentifier,
  quoteTable: tableQuoter(quoteIdentifier),
  placeholder: () => '?',
  toParam(column: SqlColumn, value: CursorScalar): unknown {
    if (value === null) return null;
    switch (column.kind) {
      case 'integer':
      case 'decimal':
        return String(value);
      case 'float':
        return Number(value);
      case 'timestamptz':
      case 'timestamp':
      case 'date':
        return typeof value === 'string' ? mysqlTimestamp(value) : value;
      case 'binary':
        return typeof value === 'string' ? Buffer.from(value, 'base64') : value;
      default:
        return typeof value === 'boolean' ? Number(value) : value;
    }
  },
  instantParam: (iso) => mysqlTimestamp(iso),
  equals: (columnSql, bind) => `${columnSql} >= ${bind()} AND ${columnSql} <= ${bind()}`,
  limit: (params: SqlParams, rows: number) => `LIMIT ${params.add(Math.trunc(rows))}`,
};
