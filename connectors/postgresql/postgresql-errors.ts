/**
 * pg and Node errors → `ConnectorError`, by SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html)
 * or Node error code, with a message that says what to check.
 */
import { ConnectorError, networkReason, NETWORK_ERROR_CODES, type ConnectorErrorKind } from '../connector-error';

export interface PgErrorContext {
  /** `host:port/database`, never credentials. */
  target: string;
  host: string;
  secrets: readonly string[];
}

interface DriverError {
  code?: unknown;
  message?: unknown;
  errors?: Array<{ code?: unknown }>;
}

const TLS = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/;

export function toConnectorError(err: unknown, ctx: PgErrorContext): Error {
  if (err instanceof ConnectorError) return err;
  if (!(err instanceof Error)) return new ConnectorError('transient', `PostgreSQL failed: ${String(err)}`, { secrets: ctx.secrets });
  const e = err as Error & DriverError;
  const code = typeof e.code === 'string' ? e.code : typeof e.errors?.[0]?.code === 'string' ? (e.errors[0].code as string) : undefined;
  const message = e.message || code || 'unknown error';
  const make = (kind: ConnectorErrorKind, text: string) => new ConnectorError(kind, text, { code, secrets: ctx.secrets });

  if (code && /^[0-9A-Z]{5}$/.test(code) && !NETWORK_ERROR_CODES.has(code)) return fromSqlState(code, message, ctx, make);
  if (code && NETWORK_ERROR_CODES.has(code)) {
    const reason = networkReason(code, `connection failed (${code})`, ctx.host);
    return make(
      'unreachable',
      `cannot reach PostgreSQL at ${ctx.target}: ${reason} - check host and port in connection_config.dsn and that the server accepts connections from this worker`,
    );
  }
  if (/timeout expired|connection timeout|Connection terminated/i.test(message)) {
    return make('unreachable', `cannot reach PostgreSQL at ${ctx.target}: ${message} - check host and port in connection_config.dsn`);
  }
  if ((code && TLS.test(code)) || /SSL|certificate/i.test(message)) {
    return make(
      'config',
      `TLS connection to ${ctx.target} failed: ${message} - check connection_config.ssl (ca, reject_unauthorized) or the dsn's sslmode`,
    );
  }
  if (/^SASL|password/i.test(message)) {
    return make('auth', `PostgreSQL at ${ctx.target} rejected the login: ${message} - check user and password in connection_config.dsn`);
  }
  return err;
}

function fromSqlState(
  code: string,
  message: string,
  ctx: PgErrorContext,
  make: (kind: ConnectorErrorKind, text: string) => ConnectorError,
): ConnectorError {
  const cls = code.slice(0, 2);
  if (code === '28P01' || code === '28000') {
    return make('auth', `PostgreSQL at ${ctx.target} rejected the login: ${message} - check user and password in connection_config.dsn`);
  }
  if (code === '3D000') return make('not_found', `${message} on ${ctx.target} - check the database name in connection_config.dsn`);
  if (code === '3F000' || code === '42P01' || code === '42703') {
    return make('not_found', `${message} - check the table (schema.table), column and cursor names`);
  }
  if (code === '25006' || (code === '0A000' && /data-modifying/i.test(message))) {
    return make(
      'permission',
      `the connector only reads (READ ONLY transaction) and the database refused a write: ${message} - query mode takes a single SELECT`,
    );
  }
  if (code === '42501') return make('permission', `${message} - grant the connector's user SELECT on what it reads`);
  if (code === '42601' && /multiple commands/.test(message)) {
    return make(
      'syntax',
      `the connector runs one statement at a time and the database refused several (${message}) - remove the ";" and what follows it`,
    );
  }
  // No error position: it counts from the statement the connector wrapped around the user's SQL.
  if (cls === '42') return make('syntax', `the SQL is not valid: ${message} - check query, where and column names`);
  if (code === '25P03' || code === '57P05') return make('transient', `PostgreSQL at ${ctx.target} closed an idle session: ${message}`);
  if (cls === '22')
    return make('config', `${message} - check cursor.initial_value and the committed cursor against the cursor column's type`);
  if (cls === '08') return make('unreachable', `lost the connection to PostgreSQL at ${ctx.target}: ${message}`);
  if (['40', '53', '55', '57', '58', 'XX'].includes(cls))
    return make('transient', `PostgreSQL at ${ctx.target} failed for now: ${message}`);
  return make('config', `PostgreSQL refused the read: ${message}`);
}
