import { ConnectorError } from './connector-error';

/**
 * A source this installation refuses to reach: its own database, or a host outside the operator's rules.
 * `field` is where `connection_config` names it (`['dsn']`, `['uri']`, `['host']`), for a 422's `loc`.
 */
export class SourceDeniedError extends ConnectorError {
  readonly field: readonly string[];

  constructor(field: readonly string[], message: string) {
    super('denied', message);
    this.name = 'SourceDeniedError';
    Object.setPrototypeOf(this, new.target.prototype);
    this.field = field;
  }
}
