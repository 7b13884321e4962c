import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createApiKey, listApiKeys, MAX_ROTATION_GRACE_SECONDS, revokeApiKey, rotateApiKey, SCOPES, type Scope } from '../../auth/api-keys';
import { MAX_RATE_LIMIT_PER_MINUTE } from '../../config';
import { ProblemType } from '../../problem-types';
import { errorResponse, idParams, noContent, nullableTimestamp, timestamp, uuid } from '../schemas';
import { HttpError, notFound } from '../http-error';

const keyInfo = {
  type: 'object',
  required: [
    'id',
    'name',
    'key_prefix',
    'scopes',
    'created_at',
    'expires_at',
    'last_used_at',
    'rate_limit_per_minute',
    'previous_key_expires_at',
  ],
  properties: {
    id: uuid,
    name: { type: 'string' },
    key_prefix: { type: 'string', description: 'the first characters of the key, to tell keys apart' },
    scopes: { type: 'array', items: { type: 'string' } },
    created_at: timestamp,
    expires_at: nullableTimestamp,
    last_used_at: nullableTimestamp,
    rate_limit_per_minute: { type: ['integer', 'null'], description: "requests a minute; null: the installation's default" },
    previous_key_expires_at: {
      ...nullableTimestamp,
      description: 'after a rotation with a grace period: when the replaced secret stops working',
    },
  },
} as const;

/** The one-time view of a secret: the key's fields, the key itself and what to do with it. */
const withSecret = {
  ...keyInfo,
  required: [...keyInfo.required, 'key', 'message'],
  properties: { ...keyInfo.properties, key: { type: 'string', pattern: '^sk_live_[0-9a-f]{64}$' }, message: { type: 'string' } },
} as const;

/** Latest expiry accepted: later dates are no expiry at all, and PostgreSQL's text form stops at year 9999 here. */
const LATEST_EXPIRY = Date.parse('9999-12-31T23:59:59Z');

/** An expiry as UTC ISO text, or a 422 saying what to send: a real instant in the future. */
function expiry(value: string): string {
  const at = Date.parse(value);
  const problem = (msg: string) => new HttpError(422, [{ loc: ['body', 'expires_at'], msg, type: ProblemType.datetime }]);
  if (Number.isNaN(at)) throw problem('expires_at is not a real instant: send ISO 8601 such as "2027-01-31T00:00:00Z"');
  if (at <= Date.now()) throw problem('expires_at must be in the future');
  if (at > LATEST_EXPIRY) throw problem('expires_at must be before the year 10000; leave it out for a key that does not expire');
  return new Date(at).toISOString();
}

/** C0 and C1 controls (a terminal runs ESC, CSI, BEL…) and the bidirectional overrides that reorder how a name reads. */
const CONTROL_OR_BIDI = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

/**
 * A key's name is the tenant's text that an operator reads in `qanatix keys list` and every tenant admin in its
 * listing: it holds something visible, and nothing a terminal would run or that would make it read as another name.
 */
function keyName(value: string): string {
  const problem = (msg: string, type: ProblemType) => new HttpError(422, [{ loc: ['body', 'name'], msg, type }]);
  if (CONTROL_OR_BIDI.test(value)) {
    throw problem(
      'name may not hold control characters (line breaks, tabs, escape sequences) or bidirectional overrides',
      ProblemType.valueError,
    );
  }
  if (/^[\s\p{Cf}]*$/u.test(value)) throw problem('name must hold a visible character', ProblemType.empty);
  return value;
}

/**
 * A tenant admin may give a key a lower limit than the installation's default, never a higher one: the default
 * protects the installation from one tenant. The operator raises a key's limit with `qanatix keys create --rate-limit`.
 */
function rateLimit(value: number | undefined, installationDefault: number): number | null {
  if (value === undefined) return null;
  if (value > installationDefault) {
    const msg = `rate_limit_per_minute may be at most ${installationDefault} on this installation; its operator can create keys with higher limits`;
    throw new HttpError(422, [{ loc: ['body', 'rate_limit_per_minute'], msg, type: ProblemType.valueError }]);
  }
  return value;
}

/**
 * A secret a rotation replaced keeps running clients working until its grace ends, and manages no keys: otherwise a
 * leaked old secret could outlive its grace (a new key of its own) or rotate away the new secret its owner was given.
 */
function currentSecretOnly(req: FastifyRequest): void {
  if (req.principal!.replacedSecret) {
    throw new HttpError(
      403,
      "This secret was replaced by a rotation: it keeps running clients working until its grace period ends, but manages no keys. Use the key's current secret.",
    );
  }
}

export async function authKeysRoutes(app: FastifyInstance) {
  app.post<{ Body: { name: string; scopes: Scope[]; expires_at?: string; rate_limit_per_minute?: number } }>(
    '/auth/keys',
    {
      config: { scopes: ['admin'] },
      schema: {
        summary: 'Create an API key for this tenant (the key is shown once)',
        tags: ['auth'],
        body: {
          type: 'object',
          required: ['name', 'scopes'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            scopes: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...SCOPES] } },
            expires_at: { type: 'string', format: 'date-time', description: 'a future instant; absent: the key does not expire' },
            rate_limit_per_minute: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_RATE_LIMIT_PER_MINUTE,
              description: "requests a minute, at most the installation's default (RATE_LIMIT_PER_MINUTE); absent: that default",
            },
          },
        },
        response: { 201: withSecret },
      },
    },
    async (req, reply) => {
      currentSecretOnly(req);
      const name = keyName(req.body.name);
      const expiresAt = req.body.expires_at === undefined ? null : expiry(req.body.expires_at);
      const limit = rateLimit(req.body.rate_limit_per_minute, app.config.rateLimitPerMinute);
      const created = await createApiKey(app.pool, app.config.apiKeySalt, req.principal!.tenantId, name, req.body.scopes, expiresAt, limit);
      return reply.code(201).send({ ...created, message: 'Store this key securely — it cannot be retrieved again.' });
    },
  );

  app.post<{ Params: { id: string }; Body: { grace_seconds?: number } | null }>(
    '/auth/keys/:id/rotate',
    {
      config: { scopes: ['admin'] },
      schema: {
        summary: 'A new secret for the same key (same id, name, scopes, expiry and rate limit); the new key is shown once',
        description:
          'By default the old secret stops working at once, as QANATIX does. With grace_seconds it keeps working that much longer, so ' +
          'running clients can be moved to the new key without an outage; a leaked key stays usable for as long, so rotate a leaked key ' +
          'without a grace period (or revoke it).',
        tags: ['auth'],
        params: idParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            grace_seconds: {
              type: 'integer',
              minimum: 0,
              maximum: MAX_ROTATION_GRACE_SECONDS,
              default: 0,
              description: 'how long the old secret keeps working; 0 (default): not at all',
            },
          },
        },
        response: { 200: withSecret, 409: errorResponse('The key has expired: rotation keeps the expiry, so create a new key instead') },
      },
    },
    async (req) => {
      currentSecretOnly(req);
      const grace = req.body?.grace_seconds ?? 0;
      const result = await rotateApiKey(app.pool, app.config.apiKeySalt, req.principal!.tenantId, req.params.id, grace);
      if ('refused' in result) {
        if (result.refused === 'not_found') throw notFound('API key');
        throw new HttpError(409, `This key expired at ${result.expiresAt}; a rotated key keeps its expiry, so create a new key instead.`);
      }
      const { rotated } = result;
      const message = rotated.previous_key_expires_at
        ? `The old key stays valid until ${new Date(rotated.previous_key_expires_at).toISOString()}. Update your applications before then.`
        : 'Old key is now invalid. Update your applications immediately.';
      return { ...rotated, message };
    },
  );

  app.get(
    '/auth/keys',
    {
      config: { scopes: ['admin'] },
      schema: {
        summary: "This tenant's active keys (never the key values)",
        tags: ['auth'],
        response: { 200: { type: 'array', items: keyInfo } },
      },
    },
    async (req) => listApiKeys(app.pool, req.principal!.tenantId),
  );

  app.delete<{ Params: { id: string } }>(
    '/auth/keys/:id',
    { config: { scopes: ['admin'] }, schema: { summary: 'Revoke a key', tags: ['auth'], params: idParams, response: { 204: noContent } } },
    async (req, reply) => {
      currentSecretOnly(req);
      if (!(await revokeApiKey(app.pool, req.principal!.tenantId, req.params.id))) throw notFound('API key');
      return reply.code(204).send();
    },
  );
}
