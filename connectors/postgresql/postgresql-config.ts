/**
 * `connection_config` of a PostgreSQL connector:
 * `{ dsn: "postgres://user:password@host:5432/database?sslmode=…", ssl?: true | {…}, connect_timeout_seconds?: 10 }`.
 *
 * The DSN is parsed here, once, and pg gets its parts (never the DSN): pg's own parser reads any query option as
 * a setting (`host=` replaces the URL's host, `sslrootcert=` opens a file), and pg fills a missing password from
 * the worker's PGPASSWORD or ~/.pgpass. The only option read is `sslmode`; certificates go inline in `ssl`.
 */
import { ProblemType } from '../../src/problem-types';
import type { IssueReporter } from '../config-error';
import {
  decodeComponent,
  INLINE_CERTIFICATES,
  nodeTlsOptions,
  optionalSeconds,
  parseDsn,
  parseTls,
  refuseOptions,
  rejectUnknownKeys,
  urlHost,
  type PlainObject,
  type TlsOptions,
} from '../connection-checks';
import type { SourceEndpoint } from '../source-policy';
import type { SourceReach } from '../source-reach';

export interface PostgresqlConnection {
  /** A postgres:// URL; holds the password. */
  dsn: string;
  ssl: TlsOptions | null;
  connect_timeout_seconds: number;
  /** Set by `createConnector` once the source is checked; the driver connects only where it allows. */
  reach?: SourceReach;
}

const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

const OPTION_HINTS: ReadonlyArray<readonly [readonly string[], string]> = [
  [['sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'sslcrldir', 'sslpassword', 'sslcertmode'], INLINE_CERTIFICATES],
  [['passfile', 'service', 'servicefile'], 'write the user and password in the dsn itself: files on the server are never read'],
  [['host', 'hostaddr', 'port', 'dbname', 'user', 'password'], 'write it in the URL itself: postgres://user:password@host:port/database'],
  [['connect_timeout'], 'set connection_config.connect_timeout_seconds instead'],
  [['ssl'], 'use sslmode, or connection_config.ssl'],
];

/** A DSN's parts, decoded; `undefined` fields were reported. */
interface DsnParts {
  host: string | undefined;
  port: number;
  database: string | undefined;
  user: string | undefined;
  password: string | undefined;
  sslmode: string | undefined;
}

export function validatePostgresqlConnection(value: PlainObject, report: IssueReporter): PostgresqlConnection {
  rejectUnknownKeys(value, ['dsn', 'ssl', 'connect_timeout_seconds'], report);
  const url = value.dsn === undefined ? undefined : parseDsn(value.dsn, ['postgres', 'postgresql'], report);
  if (value.dsn === undefined)
    report(['dsn'], 'is required - a URL such as postgres://user:password@host:5432/database', ProblemType.settingMissing);
  const parts = url ? dsnParts(url, report) : undefined;
  const ssl = parseTls(value.ssl, report);
  return {
    dsn: url ? String(value.dsn) : '',
    ssl: parts ? tlsFor(parts.sslmode, ssl, value.ssl === false, report) : ssl,
    connect_timeout_seconds: optionalSeconds(value, 'connect_timeout_seconds', report, 10),
  };
}

/** The server a validated connection opens. */
export function postgresqlEndpoints(connection: PlainObject): SourceEndpoint[] {
  const parts = dsnParts(new URL(String(connection.dsn)), () => {});
  return [{ field: 'dsn', host: parts.host as string, port: parts.port, database: parts.database as string }];
}

/** pg client settings for a validated connection: its parts, TLS as configured, and the checked socket. */
export function postgresqlClientConfig(connection: PostgresqlConnection) {
  const parts = dsnParts(new URL(connection.dsn), () => {});
  const password = parts.password ?? '';
  return {
    host: parts.host as string,
    port: parts.port,
    database: parts.database as string,
    user: parts.user ?? '',
    // A function, so that an empty password stays empty instead of falling back to PGPASSWORD or ~/.pgpass.
    password: () => password,
    ssl: connection.ssl ? nodeTlsOptions(connection.ssl) : (false as const),
    ...(connection.reach ? { stream: () => (connection.reach as SourceReach).socket() } : {}),
  };
}

/** Where a DSN points, for messages (never the credentials), and the password to keep out of them. */
export function describeDsn(dsn: string): { target: string; host: string; secrets: string[] } {
  try {
    const url = new URL(dsn);
    const password = url.password;
    const secrets = password ? [password, decodeComponent(password) ?? password] : [];
    const host = url.hostname;
    return { target: `${host}:${url.port || '5432'}${url.pathname}`, host, secrets };
  } catch {
    return { target: 'the configured server', host: '', secrets: [] };
  }
}

function dsnParts(url: URL, report: IssueReporter): DsnParts {
  refuseOptions(url.searchParams.keys(), ['sslmode'], OPTION_HINTS, report, ['dsn']);
  const sslmode = url.searchParams.getAll('sslmode').at(-1);
  if (sslmode !== undefined && !SSL_MODES.includes(sslmode))
    report(['dsn'], `sslmode must be one of ${SSL_MODES.join(', ')}`, ProblemType.settingValue);
  const database = decodeComponent(url.pathname.replace(/^\//, ''));
  if (database === '') report(['dsn'], 'must name a database after the host, such as …@host:5432/mydb', ProblemType.settingValue);
  const user = decodeComponent(url.username);
  const password = decodeComponent(url.password);
  if (database === undefined || user === undefined || password === undefined) {
    report(['dsn'], 'is not percent-encoded correctly - write % as %25 in the user, password and database', ProblemType.settingValue);
  }
  const port = url.port ? Number(url.port) : 5432;
  if (port === 0) report(['dsn'], 'must name a port between 1 and 65535, or none for 5432', ProblemType.settingValue);
  return {
    host: urlHost(url, report, ['dsn']),
    port,
    database: database || undefined,
    user,
    password,
    sslmode,
  };
}

/** `sslmode` folded into `ssl`: pg verifies the certificate for every mode but `disable` and `no-verify`. */
function tlsFor(sslmode: string | undefined, ssl: TlsOptions | null, sslOff: boolean, report: IssueReporter): TlsOptions | null {
  if (sslmode === undefined || !SSL_MODES.includes(sslmode)) return ssl;
  if (sslmode === 'disable' ? ssl !== null : sslOff) {
    report(['ssl'], `contradicts sslmode=${sslmode} in the dsn - choose one`, ProblemType.settingConflict);
    return ssl;
  }
  if (sslmode === 'disable') return null;
  if (sslmode === 'no-verify') return { ...(ssl ?? {}), reject_unauthorized: false };
  return ssl ?? { reject_unauthorized: true };
}
