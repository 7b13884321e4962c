/**
 * What PostgreSQL refuses in `query` and `where` beyond what its READ ONLY transactions refuse. Measured on
 * PostgreSQL 15 in a READ ONLY transaction: nextval(), setval(), SELECT INTO, writing CTEs and functions that
 * write are refused by the server; set_config(), advisory locks, lo_create(), pg_notify(),
 * pg_logical_emit_message(), pg_terminate_backend() and dblink_exec() (a second connection, which wrote) are
 * not, so they are refused here. LOCK TABLE … ACCESS EXCLUSIVE passes too; it is a statement of its own, refused
 * like every statement that does not start like a read.
 */
import type { SqlReadOnlyRules } from '../sql/sql-read-only';
import { postgresqlDialect } from './postgresql-dialect';

const SERVER = 'acts on the server or on other sessions';
const FILES = "reaches the server's files";

export const postgresqlReadOnly: SqlReadOnlyRules = {
  // The session pins standard_conforming_strings on (postgresql-session.ts): '…' has no backslash escapes.
  lexings: [postgresqlDialect.lexer],
  starts: ['select', 'with', 'values', 'table'],
  functions: [
    ['set_config', 'changes settings of the session beyond the read'],
    ['pg_advisory_*', 'takes a lock that can outlive the read'],
    ['pg_try_advisory_*', 'takes a lock that can outlive the read'],
    ['dblink*', 'opens a connection of its own, which is not read-only'],
    ['lo_*', 'reads or writes large objects, which a read-only transaction allows'],
    ['lowrite', 'writes large objects, which a read-only transaction allows'],
    ['pg_notify', 'sends notifications to other sessions'],
    ['pg_logical_emit_message', 'writes to the write-ahead log'],
    ['pg_read_*', FILES],
    ['pg_ls_*', FILES],
    ['pg_stat_file', FILES],
    ['pg_file_*', FILES],
    ['pg_terminate_backend', SERVER],
    ['pg_cancel_backend', SERVER],
    ['pg_reload_conf', SERVER],
    ['pg_rotate_logfile', SERVER],
    ['pg_promote', SERVER],
    ['pg_switch_wal', SERVER],
    ['pg_create_*', SERVER],
    ['pg_drop_replication_slot', SERVER],
    ['pg_replication_*', SERVER],
    ['pg_stat_reset*', SERVER],
    ['pg_log_backend_memory_contexts', SERVER],
    ['query_to_xml*', 'runs SQL text that cannot be checked'],
    ['ts_stat', 'runs SQL text that cannot be checked'],
    ['pg_sleep*', 'only keeps the source busy'],
  ],
  words: [],
};
