/**
 * `connection_config` of a MongoDB connector:
 * `{ uri: "mongodb://user:password@host:27017/?authSource=admin", database, collection?, read_preference?,
 *    read_concern?, ssl?: true | {…}, connect_timeout_seconds? = 10 }`.
 * `collection` is the collection query mode filters (table mode names it in `collection`/`table`).
 *
 * The URI's options are allow-listed: the driver would otherwise open files (`tlsCAFile`), go through a proxy
 * (`proxyHost`) or fetch credentials from the worker's environment (`authMechanism=MONGODB-AWS`).
 * Certificates go inline in `ssl`.
 */
import { ProblemType } from '../../src/problem-types';
import type { IssueReporter } from '../config-error';
import {
  INLINE_CERTIFICATES,
  optionalSeconds,
  optionalString,
  parseTls,
  refuseOptions,
  rejectUnknownKeys,
  requiredString,
  type PlainObject,
  type TlsOptions,
} from '../connection-checks';
import { isHostName } from '../source-rules';
import type { SourceEndpoint } from '../source-policy';
import type { SourceReach } from '../source-reach';

export const READ_PREFERENCES = ['primary', 'primaryPreferred', 'secondary', 'secondaryPreferred', 'nearest'] as const;
export const READ_CONCERNS = ['local', 'available', 'majority', 'linearizable', 'snapshot'] as const;

export interface MongodbConnection {
  /** A mongodb:// or mongodb+srv:// connection string; may hold the password. */
  uri: string;
  database: string;
  /** Query mode: the collection the filter document applies to. */
  collection: string | null;
  read_preference: (typeof READ_PREFERENCES)[number];
  /** Null: the server's default read concern. */
  read_concern: (typeof READ_CONCERNS)[number] | null;
  ssl: TlsOptions | null;
  connect_timeout_seconds: number;
  /** Set by `createConnector` once the source is checked; the driver resolves names only through it. */
  reach?: SourceReach;
}

const URI = /^mongodb(\+srv)?:\/\/[^/?#]+/;
// The driver's own split of a connection string (mongodb-connection-string-url), so both read the same hosts.
const PARTS = /^(?<protocol>[^/]+):\/\/(?:(?<username>[^:@]*)(?::(?<password>[^@]*))?@)?(?<hosts>(?!:)[^/?@]*)(?<rest>.*)/;

const URI_OPTIONS = [
  'authSource',
  'authMechanism',
  'replicaSet',
  'tls',
  'ssl',
  'tlsAllowInvalidCertificates',
  'tlsAllowInvalidHostnames',
  'tlsInsecure',
  'retryWrites',
  'retryReads',
  'w',
  'appName',
  'directConnection',
  'loadBalanced',
];
/** Password mechanisms; the others read the worker's environment, files or metadata service (AWS, OIDC, GSSAPI). */
const AUTH_MECHANISMS = ['DEFAULT', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'PLAIN', 'MONGODB-X509'];

const OPTION_HINTS: ReadonlyArray<readonly [readonly string[], string]> = [
  [
    [
      'tlsCAFile',
      'tlsCertificateKeyFile',
      'tlsCertificateKeyFilePassword',
      'tlsCRLFile',
      'sslCA',
      'sslCert',
      'sslKey',
      'sslPass',
      'sslCRL',
    ],
    INLINE_CERTIFICATES,
  ],
  [
    ['proxyHost', 'proxyPort', 'proxyUsername', 'proxyPassword'],
    'proxies are not accepted: the worker connects to the servers the uri names',
  ],
  [['authMechanismProperties'], `authenticate with ${AUTH_MECHANISMS.slice(1).join(', ')} instead`],
  [['connectTimeoutMS', 'serverSelectionTimeoutMS', 'socketTimeoutMS'], 'set connection_config.connect_timeout_seconds instead'],
  [
    ['readPreference', 'readPreferenceTags', 'maxStalenessSeconds', 'readConcernLevel'],
    'set connection_config.read_preference or read_concern instead',
  ],
];

export function validateMongodbConnection(value: PlainObject, report: IssueReporter): MongodbConnection {
  rejectUnknownKeys(value, ['uri', 'database', 'collection', 'read_preference', 'read_concern', 'ssl', 'connect_timeout_seconds'], report);
  const uri = requiredString(value, 'uri', report);
  // Never echo the URI: it may hold a password.
  if (uri !== undefined && !URI.test(uri))
    report(['uri'], 'must be a connection string such as mongodb://user:password@host:27017/?authSource=admin', ProblemType.settingValue);
  else if (uri !== undefined) uriEndpoints(uri, report);
  const database = requiredString(value, 'database', report);
  const collection = optionalString(value, 'collection', report) ?? null;
  const ssl = parseTls(value.ssl, report);
  if (ssl?.servername !== undefined) {
    report(
      ['ssl', 'servername'],
      'is not used for MongoDB: each server is verified by the name the uri (or the replica set) gives it',
      ProblemType.settingValue,
    );
  }
  return {
    uri: uri ?? '',
    database: database ?? '',
    collection,
    read_preference: oneOf(value, 'read_preference', READ_PREFERENCES, report) ?? 'primary',
    read_concern: oneOf(value, 'read_concern', READ_CONCERNS, report) ?? null,
    ssl,
    connect_timeout_seconds: optionalSeconds(value, 'connect_timeout_seconds', report, 10),
  };
}

/** The servers a validated connection string names (for `mongodb+srv://`, the SRV record that lists them). */
export function mongodbEndpoints(connection: PlainObject): SourceEndpoint[] {
  return uriEndpoints(String(connection.uri), () => {});
}

/** MongoClient settings the connection adds: names resolved only through the source check, certificates inline. */
export function mongodbClientOptions(connection: MongodbConnection) {
  const tls = connection.ssl;
  return {
    ...(connection.reach ? { lookup: connection.reach.lookup } : {}),
    ...(tls
      ? {
          tls: true,
          tlsAllowInvalidCertificates: !tls.reject_unauthorized,
          ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
          ...(tls.cert !== undefined ? { cert: tls.cert, key: tls.key } : {}),
        }
      : {}),
  };
}

function uriEndpoints(uri: string, report: IssueReporter): SourceEndpoint[] {
  const parts = PARTS.exec(uri)?.groups;
  if (!parts) {
    report(['uri'], 'must be a connection string such as mongodb://user:password@host:27017/?authSource=admin', ProblemType.settingValue);
    return [];
  }
  const srv = parts.protocol === 'mongodb+srv';
  const query = new URLSearchParams(/\?([^#]*)/.exec(parts.rest ?? '')?.[1] ?? '');
  refuseOptions(query.keys(), URI_OPTIONS, OPTION_HINTS, report, ['uri'], true);
  for (const [name, mechanism] of query) {
    if (name.toLowerCase() === 'authmechanism' && !AUTH_MECHANISMS.includes(mechanism.toUpperCase())) {
      report(
        ['uri'],
        `authMechanism must be one of ${AUTH_MECHANISMS.join(', ')}: the others read the worker's own credentials`,
        ProblemType.settingValue,
      );
    }
  }
  const endpoints: SourceEndpoint[] = [];
  for (const text of (parts.hosts ?? '').split(',')) {
    const m = /^(?:\[([^\]]*)\]|([^:]*))(?::(\d{1,5}))?$/.exec(text);
    const host = m?.[1] ?? m?.[2] ?? '';
    const port = m?.[3] === undefined ? 27017 : Number(m[3]);
    if (!m || !isHostName(host) || /\.sock$/i.test(host) || port < 1 || port > 65535 || (srv && m[3] !== undefined)) {
      const why =
        'must name each server by DNS name or IP address and port (mongodb+srv:// takes one name and no port; unix sockets are not accepted)';
      report(['uri'], why, ProblemType.settingValue);
      return [];
    }
    endpoints.push(srv ? { field: 'uri', host, port: null, srv: true } : { field: 'uri', host, port });
  }
  if (srv && endpoints.length !== 1) report(['uri'], 'mongodb+srv:// takes exactly one host name', ProblemType.settingValue);
  return endpoints;
}

function oneOf<T extends string>(value: PlainObject, key: string, allowed: readonly T[], report: IssueReporter): T | undefined {
  const given = value[key];
  if (given === undefined || given === null) return undefined;
  if (typeof given !== 'string' || !(allowed as readonly string[]).includes(given)) {
    report([key], `must be one of ${allowed.join(', ')}`, ProblemType.settingValue);
    return undefined;
  }
  return given as T;
}

/** Where a connection string points, for messages (never the credentials), and the password to keep out of them. */
export function describeMongodbUri(uri: string, database: string): { target: string; secrets: string[] } {
  const m = /^mongodb(?:\+srv)?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)/.exec(uri);
  if (!m) return { target: `the configured server/${database}`, secrets: [] };
  const password = m[2] ?? '';
  const secrets = password ? [password, safeDecode(password)] : [];
  return { target: `${m[3]}/${database}`, secrets };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
