/**
 * What MySQL and MariaDB refuse in `query` and `where` beyond what their READ ONLY transactions refuse.
 * Measured on MariaDB 10.11 in a READ ONLY transaction: writes to tables, and functions that write, are refused
 * by the server; SELECT … INTO OUTFILE (it wrote the file), LOAD_FILE() and GET_LOCK() (held after COMMIT) are
 * not, so they are refused here. User variables (`@x := …`) only live in the connector's own session.
 */
import type { SqlReadOnlyRules } from '../sql/sql-read-only';
import { mysqlDialect } from './mysql-dialect';

const FILES = "reaches the server's files";

export const mysqlReadOnly: SqlReadOnlyRules = {
  // The server's sql_mode decides whether backslashes escape in '…' and "…" (NO_BACKSLASH_ESCAPES) and whether
  // "…" is a string or a name (ANSI_QUOTES): the text must pass every way it can be read.
  lexings: [
    mysqlDialect.lexer,
    { ...mysqlDialect.lexer, backslashInSingle: false, backslashInDouble: false },
    { ...mysqlDialect.lexer, backslashInDouble: false },
  ],
  starts: ['select', 'with', 'values', 'table'],
  functions: [
    ['load_file', FILES],
    ['get_lock', 'takes a lock that outlives the read'],
    ['sleep', 'only keeps the source busy'],
    ['benchmark', 'only keeps the source busy'],
  ],
  words: [
    ['outfile', 'writes a file on the server'],
    ['dumpfile', 'writes a file on the server'],
  ],
};
