import type { CursorScalar } from '../contract';
import { tableQuoter, type SqlColumn, type SqlDialect, type SqlParams } from '../sql/sql-dialect';

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
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
    return column.kind === 'binary' && typeof value === 'string' ? Buffer.from(value, 'base64') : value;
  },
  instantParam: (iso) => iso,
  equals: (columnSql, bind) => `${columnSql} = ${bind()}`,
  limit: (_params: SqlParams, rows: number) => `LIMIT ${Math.trunc(rows)}`,
};
