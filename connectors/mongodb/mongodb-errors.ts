/**
 * MongoDB driver and server errors → `ConnectorError`, by server error code
 * (https://www.mongodb.com/docs/manual/reference/error-codes/) or driver error class.
 */
import { ConnectorError, networkReason, type ConnectorErrorKind } from '../connector-error';

export interface MongodbErrorContext {
  /** `host:port/database`, never credentials. */
  target: string;
  secrets: readonly string[];
}

const AUTH = new Set([18, 11]); // AuthenticationFailed, UserNotFound
const UNAUTHORIZED = new Set([13, 8000]); // Unauthorized, Atlas AtlasError (no privilege)
const NOT_FOUND = new Set([26]); // NamespaceNotFound
const SYNTAX = new Set([2, 9, 14, 17, 28, 51091, 31249, 31254, 40352]); // BadValue, FailedToParse, TypeMismatch, …
// Network, shutdown and election errors; CursorNotFound and CursorKilled (43, 237) when the server restarted or dropped
// an idle cursor under a read: the retry reopens it from the committed cursor.
const TRANSIENT = new Set([6, 7, 89, 91, 189, 262, 11600, 11602, 13435, 13436, 10107, 50, 112, 117, 134, 43, 237]);

interface DriverError {
  name?: unknown;
  code?: unknown;
  codeName?: unknown;
  message?: unknown;
  cause?: unknown;
}

export function toConnectorError(err: unknown, ctx: MongodbErrorContext): Error {
  if (err instanceof ConnectorError) return err;
  if (!(err instanceof Error)) return new ConnectorError('transient', `MongoDB failed: ${String(err)}`, { secrets: ctx.secrets });
  const e = err as Error & DriverError;
  const code = typeof e.code === 'number' ? e.code : undefined;
  const codeText =
    typeof e.codeName === 'string' ? e.codeName : typeof e.code === 'string' ? e.code : code !== undefined ? String(code) : undefined;
  const message = e.message || codeText || 'unknown error';
  const make = (kind: ConnectorErrorKind, text: string) => new ConnectorError(kind, text, { code: codeText, secrets: ctx.secrets });
  const name = typeof e.name === 'string' ? e.name : '';

  if (code !== undefined && AUTH.has(code)) {
    return make(
      'auth',
      `MongoDB at ${ctx.target} rejected the login: ${message} - check user, password and authSource in connection_config.uri`,
    );
  }
  if (name === 'MongoParseError' || name === 'MongoInvalidArgumentError') {
    return make('config', `connection_config.uri is not usable: ${message}`);
  }
  if (name === 'MongoServerSelectionError' || name.startsWith('MongoNetwork') || name === 'MongoTopologyClosedError') {
    if (/auth/i.test(message) && /fail/i.test(message)) {
      return make(
        'auth',
        `MongoDB at ${ctx.target} rejected the login: ${message} - check user, password and authSource in connection_config.uri`,
      );
    }
    const reason = networkReason(message, message);
    return make(
      'unreachable',
      `cannot reach MongoDB at ${ctx.target}: ${reason} - check the hosts in connection_config.uri and that the server accepts connections from this worker`,
    );
  }
  if (/certificate|SSL|TLS/i.test(message) && code === undefined) {
    return make('config', `TLS connection to ${ctx.target} failed: ${message} - check the tls options in connection_config.uri`);
  }
  if (code !== undefined && UNAUTHORIZED.has(code)) {
    return make('permission', `${message} - grant the connector's user the read role on the database`);
  }
  if (code !== undefined && NOT_FOUND.has(code)) return make('not_found', `${message} - check database and collection`);
  if (code !== undefined && SYNTAX.has(code)) return make('syntax', `the filter document is not valid: ${message} - check query and where`);
  if (code === 238) return make('config', `MongoDB at ${ctx.target} does not implement what the read needs: ${message}`);
  if (code !== undefined && TRANSIENT.has(code)) return make('transient', `MongoDB at ${ctx.target} failed for now: ${message}`);
  if (name.startsWith('Mongo') && code === undefined)
    return make('unreachable', `lost the connection to MongoDB at ${ctx.target}: ${message}`);
  return make('config', `MongoDB refused the read: ${message}`);
}
