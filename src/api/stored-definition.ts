import { ConfigError } from '../../connectors/config-error';
import type { ConnectorDefinition } from '../../connectors/connector-definition';
import { validateStoredDefinition } from '../../connectors/registry';
import type { ConnectorInput } from '../store/connectors';
import { HttpError } from './http-error';

/**
 * A connector's definition, validated; one that does not validate (saved before a rule it breaks) answers 422 with
 * each problem located under `at` (`body` for a definition in the request, `connector` for a saved one).
 */
export function definitionOr422(input: ConnectorInput, at: 'body' | 'connector'): ConnectorDefinition {
  try {
    return validateStoredDefinition(input);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new HttpError(
      422,
      err.issues.map((i) => ({ loc: [at, ...i.loc], msg: i.msg, type: i.type })),
    );
  }
}
