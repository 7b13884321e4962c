/**
 * `connection_config` of a Neo4j connector:
 * `{ uri: "neo4j://host:7687" | "bolt://…" | "neo4j+s://…", user, password, database?, connect_timeout_seconds? = 10,
 *    fetch_size? = 1000 }`. `database` defaults to the server's default database.
 *
 * The URI carries no options (a routing context would only be passed to the server). The driver reads custom
 * certificates only from files, which are never given: `neo4j+s://` verifies against the system's CAs,
 * `neo4j+ssc://` accepts the server's own certificate.
 */
import { ProblemType } from '../../src/problem-types';
import type { IssueReporter } from '../config-error';
import {
  optionalSeconds,
  optionalString,
  refuseOptions,
  rejectUnknownKeys,
  requiredString,
  urlHost,
  type PlainObject,
} from '../connection-checks';
import type { SourceEndpoint } from '../source-policy';

export const DEFAULT_FETCH_SIZE = 1000;
const MAX_FETCH_SIZE = 10_000;

export interface Neo4jConnection {
  uri: string;
  user: string;
  password: string;
  /** Null: the server's default database. */
  database: string | null;
  connect_timeout_seconds: number;
  /** Records the driver pulls per round trip (bounds memory of streamed reads). */
  fetch_size: number;
}

const URI = /^(neo4j|bolt)(\+s|\+ssc)?:\/\/[^/?#]+/;

export function validateNeo4jConnection(value: PlainObject, report: IssueReporter): Neo4jConnection {
  rejectUnknownKeys(value, ['uri', 'user', 'password', 'database', 'connect_timeout_seconds', 'fetch_size'], report);
  const uri = requiredString(value, 'uri', report);
  if (uri !== undefined && !URI.test(uri))
    report(['uri'], 'must be a URL such as neo4j://host:7687 or bolt://host:7687 (neo4j+s:// for TLS)', ProblemType.settingValue);
  if (uri !== undefined && /^[a-z+]+:\/\/[^/@]*@/.test(uri))
    report(['uri'], 'must not hold credentials - set user and password instead', ProblemType.settingValue);
  else if (uri !== undefined && URI.test(uri)) uriEndpoint(uri, report);
  const user = requiredString(value, 'user', report);
  if (value.password === undefined || value.password === null) report(['password'], 'is required', ProblemType.settingMissing);
  else if (typeof value.password !== 'string') report(['password'], 'must be a string', ProblemType.settingType);
  let fetch_size = DEFAULT_FETCH_SIZE;
  if (value.fetch_size !== undefined && value.fetch_size !== null) {
    const size = value.fetch_size;
    if (typeof size !== 'number' || !Number.isInteger(size) || size < 1 || size > MAX_FETCH_SIZE)
      report(['fetch_size'], `must be a whole number between 1 and ${MAX_FETCH_SIZE}`, ProblemType.settingValue);
    else fetch_size = size;
  }
  return {
    uri: uri ?? '',
    user: user ?? '',
    password: typeof value.password === 'string' ? value.password : '',
    database: optionalString(value, 'database', report) ?? null,
    connect_timeout_seconds: optionalSeconds(value, 'connect_timeout_seconds', report, 10),
    fetch_size,
  };
}

/** The server a validated connection's URI names (with `neo4j://`, the first router: the others it names are the driver's). */
export function neo4jEndpoints(connection: PlainObject): SourceEndpoint[] {
  return uriEndpoint(String(connection.uri), () => {});
}

function uriEndpoint(uri: string, report: IssueReporter): SourceEndpoint[] {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    report(['uri'], 'is not a valid URL - expected neo4j://host:7687', ProblemType.settingValue);
    return [];
  }
  refuseOptions(url.searchParams.keys(), [], [], report, ['uri']);
  const host = urlHost(url, report, ['uri']);
  return host === undefined ? [] : [{ field: 'uri', host, port: url.port ? Number(url.port) : 7687 }];
}
