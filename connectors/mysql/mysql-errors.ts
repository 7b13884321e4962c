/**
 * mysql2 and Node errors → `ConnectorError`, by MySQL/MariaDB error name (`err.code`) or Node error code,
 * with a message that says what to check.
 */
import { ConnectorError, networkReason, NETWORK_ERROR_CODES, type ConnectorErrorKind } from '../connector-error';

export interface MysqlErrorContext {
  /** `host:port/database`, never credentials. */
  target: string;
  host: string;
  secrets: readonly string[];
}

const AUTH = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_HOST_NOT_PRIVILEGED',
  'ER_NOT_SUPPORTED_AUTH_MODE',
  'ER_MUST_CHANGE_PASSWORD_LOGIN',
  'ER_ACCOUNT_HAS_BEEN_LOCKED',
]);
const NOT_FOUND = new Set(['ER_BAD_DB_ERROR', 'ER_NO_SUCH_TABLE', 'ER_BAD_FIELD_ERROR', 'ER_BAD_TABLE_ERROR', 'ER_UNKNOWN_TABLE']);
const PERMISSION = new Set([
  'ER_DBACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_PROCACCESS_DENIED_ERROR',
  'ER_KILL_DENIED_ERROR',
]);
const READ_ONLY = new Set(['ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION', 'ER_OPTION_PREVENTS_STATEMENT', 'ER_READ_ONLY_MODE']);
const TRANSIENT = new Set([
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_QUERY_INTERRUPTED',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_STATEMENT_TIMEOUT',
  'ER_QUERY_TIMEOUT',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  'ER_OUT_OF_RESOURCES',
  'ER_LOCK_TABLE_FULL',
  'ER_CHECKREAD',
  'ER_NET_READ_INTERRUPTED',
  'ER_NET_WRITE_INTERRUPTED',
  'ER_MAX_PREPARED_STMT_COUNT_REACHED',
]);
const NETWORK = new Set([...NETWORK_ERROR_CODES, 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_NET_PACKETS_OUT_OF_ORDER']);

interface DriverError {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  sqlMessage?: unknown;
  errors?: Array<{ code?: unknown }>;
  fatal?: unknown;
}

export function toConnectorError(err: unknown, ctx: MysqlErrorContext): Error {
  if (err instanceof ConnectorError) return err;
  if (!(err instanceof Error)) return new ConnectorError('transient', `MySQL failed: ${String(err)}`, { secrets: ctx.secrets });
  const e = err as Error & DriverError;
  const code = typeof e.code === 'string' ? e.code : typeof e.errors?.[0]?.code === 'string' ? (e.errors[0].code as string) : undefined;
  const message = typeof e.sqlMessage === 'string' ? e.sqlMessage : e.message || code || 'unknown error';
  const make = (kind: ConnectorErrorKind, text: string) => new ConnectorError(kind, text, { code, secrets: ctx.secrets });

  if (code === undefined) return err;
  if (AUTH.has(code))
    return make('auth', `MySQL at ${ctx.target} rejected the login: ${message} - check user and password in connection_config`);
  if (code === 'ER_BAD_DB_ERROR') return make('not_found', `${message} on ${ctx.target} - check the database in connection_config`);
  if (NOT_FOUND.has(code)) return make('not_found', `${message} - check the table (database.table), column and cursor names`);
  if (READ_ONLY.has(code)) {
    return make(
      'permission',
      `the connector only reads (READ ONLY transaction) and the database refused a write: ${message} - query mode takes a single SELECT`,
    );
  }
  if (PERMISSION.has(code)) return make('permission', `${message} - grant the connector's user SELECT on what it reads`);
  if (code === 'ER_PARSE_ERROR' || code === 'ER_SYNTAX_ERROR' || e.sqlState === '42000') {
    return make('syntax', `the SQL is not valid: ${message} - check query, where and column names`);
  }
  if (TRANSIENT.has(code)) return make('transient', `MySQL at ${ctx.target} failed for now: ${message}`);
  if (NETWORK.has(code)) {
    const reason = networkReason(code, `connection failed (${code})`, ctx.host);
    return make(
      'unreachable',
      `cannot reach MySQL at ${ctx.target}: ${reason} - check host and port in connection_config and that the server accepts connections from this worker`,
    );
  }
  if (code.startsWith('HANDSHAKE') || /SSL|TLS|CERT/.test(code)) {
    return make('config', `TLS connection to ${ctx.target} failed: ${message} - check connection_config.ssl`);
  }
  if (typeof e.sqlState === 'string' && e.sqlState.startsWith('22')) {
    return make('config', `${message} - check cursor.initial_value and the committed cursor against the cursor column's type`);
  }
  if (code.startsWith('ER_')) return make('config', `MySQL refused the read: ${message}`);
  return err;
}
