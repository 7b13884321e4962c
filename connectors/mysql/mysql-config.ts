/**
 * `connection_config` of a MySQL/MariaDB connector, either
 * `{ host, port = 3306, user, password, database }` or `{ dsn: "mysql://user:password@host:3306/database" }`,
 * plus `ssl?: true | {…}` and `connect_timeout_seconds?: 10`.
 */
import type { IssueReporter } from '../config-error';
import {
  optionalPort,
  optionalSeconds,
  parseDsn,
  parseTls,
  rejectUnknownKeys,
  requiredString,
  type PlainObject,
  type TlsOptions,
} from '../connection-checks';

export interface MysqlConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  ssl: TlsOptions | null;
  connect_timeout_seconds: number;
}

const PART_KEYS = ['host', 'port', 'user', 'password', 'database'];

export function validateMysqlConnection(value: PlainObject, report: IssueReporter): MysqlConnection {
  rejectUnknownKeys(value, ['dsn', ...PART_KEYS, 'ssl', 'connect_timeout_seconds'], report);
  const common = {
    ssl: parseTls(value.ssl, report),
    connect_timeout_seconds: optionalSeconds(value, 'connect_timeout_seconds', report, 10),
  };
  const empty = { host: '', port: 3306, user: '', password: '', database: '', ...common };
  if (value.dsn !== undefined && value.dsn !== null) {
    const mixed = PART_KEYS.filter((k) => value[k] !== undefined);
    if (mixed.length) {
      report([mixed[0] as string], `cannot specify both dsn and ${mixed[0]} - choose one`, 'conflict');
      return empty;
    }
    const url = parseDsn(value.dsn, ['mysql', 'mariadb'], report);
    if (!url) return empty;
    if (url.search) report(['dsn'], 'query parameters are not read from the dsn - put TLS settings in connection_config.ssl', 'invalid_value');
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (!database) report(['dsn'], 'must name a database after the host, such as …@host:3306/mydb', 'invalid_value');
    if (!url.username) report(['dsn'], 'must name a user, such as mysql://user:password@host/db', 'invalid_value');
    return {
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : 3306,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database,
      ...common,
    };
  }
  const host = requiredString(value, 'host', report);
  const user = requiredString(value, 'user', report);
  const database = requiredString(value, 'database', report);
  let password = '';
  if (value.password !== undefined && value.password !== null) {
    if (typeof value.password !== 'string') report(['password'], 'must be a string', 'invalid_type');
    else password = value.password;
  }
  return {
    host: host ?? '',
    port: optionalPort(value, 'port', report, 3306),
    user: user ?? '',
    password,
    database: database ?? '',
    ...common,
  };
}
