/**
 * Neo4j driver and server errors → `ConnectorError`, by status code
 * (https://neo4j.com/docs/status-codes/current/) or driver error code.
 */
import { ConnectorError, networkReason, type ConnectorErrorKind } from '../connector-error';

export interface Neo4jErrorContext {
  /** `host:port/database`, never credentials. */
  target: string;
  secrets: readonly string[];
}

export function toConnectorError(err: unknown, ctx: Neo4jErrorContext): Error {
  if (err instanceof ConnectorError) return err;
  if (!(err instanceof Error)) return new ConnectorError('transient', `Neo4j failed: ${String(err)}`, { secrets: ctx.secrets });
  const raw = (err as Error & { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : undefined;
  const message = err.message || code || 'unknown error';
  const make = (kind: ConnectorErrorKind, text: string) => new ConnectorError(kind, text, { code, secrets: ctx.secrets });

  if (
    code === 'Neo.ClientError.Security.Unauthorized' ||
    code === 'Neo.ClientError.Security.AuthenticationRateLimit' ||
    code === 'Neo.ClientError.Security.CredentialsExpired'
  ) {
    return make('auth', `Neo4j at ${ctx.target} rejected the login: ${message} - check user and password in connection_config`);
  }
  if (code === 'ServiceUnavailable' || code === 'SessionExpired' || /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET/.test(message)) {
    const reason = networkReason(message, message);
    return make(
      'unreachable',
      `cannot reach Neo4j at ${ctx.target}: ${reason} - check connection_config.uri and that the server accepts Bolt connections from this worker`,
    );
  }
  if (code === 'Neo.ClientError.Statement.AccessMode') {
    return make(
      'permission',
      `the connector only reads (READ access mode) and Neo4j refused a write: ${message} - query mode takes a read-only Cypher query`,
    );
  }
  if (code === 'Neo.ClientError.Database.DatabaseNotFound') return make('not_found', `${message} - check connection_config.database`);
  if (code?.startsWith('Neo.ClientError.Security.'))
    return make('permission', `${message} - grant the connector's user read access (a reader role) on the database`);
  if (code?.startsWith('Neo.ClientError.Statement.')) return make('syntax', `the Cypher is not valid: ${message} - check query and where`);
  if (code?.startsWith('Neo.TransientError.')) return make('transient', `Neo4j at ${ctx.target} failed for now: ${message}`);
  if (/certificate|SSL|TLS/i.test(message))
    return make('config', `TLS connection to ${ctx.target} failed: ${message} - check the uri scheme (neo4j+s, neo4j+ssc)`);
  if (code?.startsWith('Neo.DatabaseError.')) return make('transient', `Neo4j at ${ctx.target} failed: ${message}`);
  return make('config', `Neo4j refused the read: ${message}`);
}
