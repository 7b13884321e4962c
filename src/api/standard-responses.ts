import type { RouteOptions } from 'fastify';
import { errorResponse, validationErrorResponse } from './schemas';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * An onRoute hook: adds the responses the app itself can give on any API route (authentication, the text
 * and schema checks, body parsing, an unknown id, an internal error) to what the route declares, so the
 * OpenAPI document lists every status each route answers without every route repeating them. What a route
 * declares for a status wins.
 */
export function standardResponses(route: RouteOptions): void {
  if (!route.url.startsWith('/api/v1/')) return;
  const schema = (route.schema ??= {}) as { hide?: boolean; response?: Record<string, unknown> };
  if (schema.hide) return;
  const declared = schema.response ?? {};
  const added: Record<string, unknown> = {};
  if (!Object.keys(declared).some((status) => status.startsWith('2'))) added['200'] = { description: 'Default Response' };
  const access = route.config as { scopes?: unknown; operator?: boolean } | undefined;
  if (access?.scopes || access?.operator) {
    added['401'] = errorResponse('No credential, or an invalid, revoked or expired one (or, for webhooks, a missing or invalid signature)');
    added['403'] = errorResponse(
      'The credential does not admit this endpoint (a missing scope, or a tenant key on an operator-only route)',
    );
  }
  if (access?.scopes) {
    added['429'] = errorResponse(
      "Too many requests: the key's rate limit is used up (streams: too many records wait server-wide); Retry-After says in how many seconds to try again",
    );
  }
  if (route.url.includes('/:')) {
    added['400'] = errorResponse('The path is not valid (bad percent-encoding)');
    added['404'] = errorResponse('No such object in this tenant');
    added['414'] = errorResponse('A path segment is longer than 100 characters');
  }
  if ([route.method].flat().some((m) => BODY_METHODS.has(m))) {
    added['400'] = errorResponse(
      route.url.includes('/:')
        ? 'The path is not valid (bad percent-encoding), or the body is empty, not valid UTF-8 or not valid JSON'
        : 'The body is empty, not valid UTF-8 or not valid JSON',
    );
    added['413'] = errorResponse('The body is larger than the limit');
    added['415'] = errorResponse('The Content-Type is not one this endpoint reads');
  }
  added['422'] = validationErrorResponse;
  added['500'] = errorResponse('An internal error; the detail names the request id to find in the logs');
  schema.response = { ...added, ...declared };
}
