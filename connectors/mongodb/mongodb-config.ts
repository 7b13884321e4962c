/**
 * `connection_config` of a MongoDB connector:
 * `{ uri: "mongodb://user:password@host:27017/?authSource=admin", database, collection?, read_preference?,
 *    read_concern?, connect_timeout_seconds? = 10 }`.
 * `collection` is the collection query mode filters (table mode names it in `collection`/`table`).
 */
import type { IssueReporter } from '../config-error';
import { optionalSeconds, optionalString, rejectUnknownKeys, requiredString, type PlainObject } from '../connection-checks';

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
  connect_timeout_seconds: number;
}

const URI = /^mongodb(\+srv)?:\/\/[^/?#]+/;

export function validateMongodbConnection(value: PlainObject, report: IssueReporter): MongodbConnection {
  rejectUnknownKeys(value, ['uri', 'database', 'collection', 'read_preference', 'read_concern', 'connect_timeout_seconds'], report);
  const uri = requiredString(value, 'uri', report);
  // Never echo the URI: it may hold a password.
  if (uri !== undefined && !URI.test(uri)) report(['uri'], 'must be a connection string such as mongodb://user:password@host:27017/?authSource=admin', 'invalid_value');
  const database = requiredString(value, 'database', report);
  const collection = optionalString(value, 'collection', report) ?? null;
  return {
    uri: uri ?? '',
    database: database ?? '',
    collection,
    read_preference: oneOf(value, 'read_preference', READ_PREFERENCES, report) ?? 'primary',
    read_concern: oneOf(value, 'read_concern', READ_CONCERNS, report) ?? null,
    connect_timeout_seconds: optionalSeconds(value, 'connect_timeout_seconds', report, 10),
  };
}

function oneOf<T extends string>(value: PlainObject, key: string, allowed: readonly T[], report: IssueReporter): T | undefined {
  const given = value[key];
  if (given === undefined || given === null) return undefined;
  if (typeof given !== 'string' || !(allowed as readonly string[]).includes(given)) {
    report([key], `must be one of ${allowed.join(', ')}`, 'invalid_value');
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
