/**
 * The one error type connectors throw. `kind` says what went wrong in terms a user can act on, `retryable`
 * says whether trying again later can help (the job layer turns the rest into unrecoverable failures).
 * Messages never carry a password or a DSN's `user:pass@` part: every message passes `redactSecrets`.
 */

export type ConnectorErrorKind =
  /** The connector definition is invalid (see `ConfigError` for per-field issues). */
  | 'config'
  /** The source rejected the credentials. */
  | 'auth'
  /** The source could not be reached (refused, unknown host, timeout, connection lost). */
  | 'unreachable'
  /** A database, schema, table or column does not exist. */
  | 'not_found'
  /** The query or filter is not valid for the source. */
  | 'syntax'
  /** The source refused an operation: missing privilege, or an attempt to write. */
  | 'permission'
  /** Keyset reading needs a key: the table has no primary key and no tie-breaker is configured. */
  | 'no_key'
  /** A momentary failure (deadlock, serialization failure, shutdown, too many connections). */
  | 'transient'
  /** A source this installation does not let connectors reach: its own database, or a denied host or network. */
  | 'denied';

/** Node's error codes for a host that cannot be reached or a connection that broke: the same for every driver. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
]);

/**
 * A network failure in a user's words, from a Node error code or a driver message that quotes one (`otherwise`
 * when it names none); `host` is named when the name did not resolve.
 */
export function networkReason(codeOrMessage: string, otherwise: string, host?: string): string {
  if (/ENOTFOUND|EAI_AGAIN/.test(codeOrMessage)) return host ? `host "${host}" not found` : 'host not found';
  if (/ECONNREFUSED/.test(codeOrMessage)) return 'connection refused';
  if (/ETIMEDOUT/.test(codeOrMessage)) return 'timed out';
  return otherwise;
}

const RETRYABLE: ReadonlySet<ConnectorErrorKind> = new Set(['unreachable', 'transient']);

export interface ConnectorErrorOptions {
  /** The driver's code (SQLSTATE, MySQL error name, Node error code), kept for logs and tests. */
  code?: string | undefined;
  /** Literal secrets (passwords) to remove from the message, in addition to URL credentials. */
  secrets?: readonly string[];
}

export class ConnectorError extends Error {
  readonly kind: ConnectorErrorKind;
  /** True only for `unreachable` and `transient`: a later attempt may succeed. */
  readonly retryable: boolean;
  readonly code: string | undefined;

  constructor(kind: ConnectorErrorKind, message: string, options: ConnectorErrorOptions = {}) {
    super(redactSecrets(message, options.secrets ?? []));
    this.name = 'ConnectorError';
    Object.setPrototypeOf(this, new.target.prototype);
    this.kind = kind;
    this.retryable = RETRYABLE.has(kind);
    this.code = options.code;
  }
}

const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi;
const KEYWORD_PASSWORD = /\b(password|passwd|pwd)(\s*=\s*)("[^"]*"|'[^']*'|[^\s&;,)]+)/gi;

/**
 * Removes credentials from text that may echo a DSN or a driver message: `scheme://user:pass@` loses its
 * user info, `password=…` keywords lose their value, and each given secret is replaced by `***`.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(URL_CREDENTIALS, '$1').replace(KEYWORD_PASSWORD, '$1$2***');
  for (const secret of secrets) {
    if (secret) out = out.split(secret).join('***');
  }
  return out;
}
