/**
 * `connection_config` of a PostgreSQL connector:
 * `{ dsn: "postgres://user:password@host:5432/database?sslmode=…", ssl?: true | {…}, connect_timeout_seconds?: 10 }`.
 */
import type { IssueReporter } from '../config-error';
import { optionalSeconds, parseDsn, parseTls, rejectUnknownKeys, type PlainObject, type TlsOptions } from '../connection-checks';

export interface PostgresqlConnection {
  /** A postgres:// URL; holds the password. */
  dsn: string;
  ssl: TlsOptions | null;
  connect_timeout_seconds: number;
}

export function validatePostgresqlConnection(value: PlainObject, report: IssueReporter): PostgresqlConnection {
  rejectUnknownKeys(value, ['dsn', 'ssl', 'connect_timeout_seconds'], report);
  const url = value.dsn === undefined ? undefined : parseDsn(value.dsn, ['postgres', 'postgresql'], report);
  if (value.dsn === undefined) report(['dsn'], 'is required - a URL such as postgres://user:password@host:5432/database', 'missing');
  else if (url && url.pathname.replace(/^\//, '') === '') report(['dsn'], 'must name a database after the host, such as …@host:5432/mydb', 'invalid_value');
  return {
    dsn: url ? String(value.dsn) : '',
    ssl: parseTls(value.ssl, report),
    connect_timeout_seconds: optionalSeconds(value, 'connect_timeout_seconds', report, 10),
  };
}

/** Where a DSN points, for messages (never the credentials), and the password to keep out of them. */
export function describeDsn(dsn: string): { target: string; host: string; secrets: string[] } {
  try {
    const url = new URL(dsn);
    const password = url.password;
    const secrets = password ? [password, decodeURIComponent(password)] : [];
    const host = url.hostname;
    return { target: `${host}:${url.port || '5432'}${url.pathname}`, host, secrets };
  } catch {
    return { target: 'the configured server', host: '', secrets: [] };
  }
}
