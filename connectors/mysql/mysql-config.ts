/**
 * `connection_config` of a MySQL/MariaDB connector, either
 * `{ host, port = 3306, user, password, database }` or `{ dsn: "mysql://user:password@host:3306/database" }`,
 * plus `ssl?: true | {…}` and `connect_timeout_seconds?: 10`.
 *
 * A DSN carries no options: TLS settings and certificates go in `ssl`, and nothing reaches the worker's files
 * (mysql2 never reads a file for `LOAD DATA LOCAL INFILE`, and the capability is not even offered to the server).
 */
import { ProblemType } from '../../src/problem-types';
import type { IssueReporter } from '../config-error';
import {
  decodeComponent,
  INLINE_CERTIFICATES,
  optionalPort,
  optionalSeconds,
  parseDsn,
  parseTls,
  refuseOptions,
  rejectUnknownKeys,
  requiredString,
  urlHost,
  type PlainObject,
  type TlsOptions,
} from '../connection-checks';
import { isHostName } from '../source-rules';
import type { SourceEndpoint } from '../source-policy';
import type { SourceReach } from '../source-reach';

export interface MysqlConnection {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  ssl: TlsOptions | null;
  connect_timeout_seconds: number;
  /** Set by `createConnector` once the source is checked; the driver connects only where it allows. */
  reach?: SourceReach;
}

const OPTION_HINTS: ReadonlyArray<readonly [readonly string[], string]> = [
  [
    [
      'ssl-ca',
      'ssl-cert',
      'ssl-key',
      'ssl-capath',
      'ssl-crl',
      'ssl-crlpath',
      'sslca',
      'sslcert',
      'sslkey',
      'ssl_ca',
      'ssl_cert',
      'ssl_key',
    ],
    INLINE_CERTIFICATES,
  ],
  [['ssl', 'ssl-mode', 'sslmode', 'ssl_mode', 'tls'], 'put TLS settings in connection_config.ssl'],
  [
    ['local-infile', 'local_infile', 'localinfile', 'allowloadlocalinfile'],
    'LOAD DATA LOCAL INFILE is never enabled: connectors only read',
  ],
  [['socket', 'socketpath', 'socket_path'], 'unix sockets are not accepted - name the server by host and port'],
];

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
      report([mixed[0] as string], `cannot specify both dsn and ${mixed[0]} - choose one`, ProblemType.settingConflict);
      return empty;
    }
    const url = parseDsn(value.dsn, ['mysql', 'mariadb'], report);
    return url ? { ...dsnParts(url, report), ...common } : empty;
  }
  const host = requiredString(value, 'host', report);
  if (host !== undefined && !isHostName(host)) {
    report(['host'], 'must name the server by DNS name or IP address (unix sockets are not accepted)', ProblemType.settingValue);
  }
  const user = requiredString(value, 'user', report);
  const database = requiredString(value, 'database', report);
  let password = '';
  if (value.password !== undefined && value.password !== null) {
    if (typeof value.password !== 'string') report(['password'], 'must be a string', ProblemType.settingType);
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

/** The server a validated connection (as given, or normalised) opens. */
export function mysqlEndpoints(connection: PlainObject): SourceEndpoint[] {
  if (typeof connection.dsn === 'string') {
    const { host, port } = dsnParts(new URL(connection.dsn), () => {});
    return [{ field: 'dsn', host, port }];
  }
  return [
    {
      field: 'host',
      host: String(connection.host),
      port: typeof connection.port === 'number' ? connection.port : Number(connection.port ?? 3306),
    },
  ];
}

/** mysql2 settings the source check adds: the checked socket, and no `LOCAL INFILE` capability. */
export function mysqlReachOptions(connection: MysqlConnection) {
  const reach = connection.reach;
  return {
    flags: ['-LOCAL_FILES'],
    ...(reach ? { stream: (opts: { config: { port: number; host: string } }) => reach.connect(opts.config.port, opts.config.host) } : {}),
  };
}

function dsnParts(url: URL, report: IssueReporter): Omit<MysqlConnection, 'ssl' | 'connect_timeout_seconds'> {
  refuseOptions(url.searchParams.keys(), [], OPTION_HINTS, report, ['dsn'], true);
  const database = decodeComponent(url.pathname.replace(/^\//, ''));
  const user = decodeComponent(url.username);
  const password = decodeComponent(url.password);
  if (database === undefined || user === undefined || password === undefined) {
    report(['dsn'], 'is not percent-encoded correctly - write % as %25 in the user, password and database', ProblemType.settingValue);
  }
  if (database === '') report(['dsn'], 'must name a database after the host, such as …@host:3306/mydb', ProblemType.settingValue);
  if (!url.username) report(['dsn'], 'must name a user, such as mysql://user:password@host/db', ProblemType.settingValue);
  return {
    host: urlHost(url, report, ['dsn']) ?? '',
    port: url.port ? Number(url.port) : 3306,
    user: user ?? '',
    password: password ?? '',
    database: database ?? '',
  };
}
