import type { FastifyInstance } from 'fastify';
import { createApiKey, listApiKeys, revokeApiKey, SCOPES, type Scope } from '../../auth/api-keys';
import { ProblemType } from '../../problem-types';
import { HttpError, notFound } from '../http-error';
import { idParams, noContent, nullableTimestamp, timestamp, uuid } from '../schemas';

const keyInfo = {
  type: 'object',
  required: ['id', 'name', 'key_prefix', 'scopes', 'created_at', 'expires_at', 'last_used_at'],
  properties: {
    id: uuid,
    name: { type: 'string' },
    key_prefix: { type: 'string', description: 'the first characters of the key, to tell keys apart' },
    scopes: { type: 'array', items: { type: 'string' } },
    created_at: timestamp,
    expires_at: nullableTimestamp,
    last_used_at: nullableTimestamp,
  },
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

export async function authKeysRoutes(app: FastifyInstance) {
  app.post<{ Body: { name: string; scopes: Scope[]; expires_at?: string } }>(
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
          },
        },
        response: {
          201: {
            ...keyInfo,
            required: [...keyInfo.required, 'key', 'message'],
            properties: { ...keyInfo.properties, key: { type: 'string', pattern: '^sk_live_[0-9a-f]{64}$' }, message: { type: 'string' } },
          },
        },
      },
    },
    async (req, reply) => {
      const expiresAt = req.body.expires_at === undefined ? null : expiry(req.body.expires_at);
      const created = await createApiKey(app.pool, app.config.apiKeySalt, req.principal!.tenantId, req.body.name, req.body.scopes, expiresAt);
      return reply.code(201).send({ ...created, message: 'Store this key securely — it cannot be retrieved again.' });
    },
  );

  app.get(
    '/auth/keys',
    {
      config: { scopes: ['admin'] },
      schema: { summary: "This tenant's active keys (never the key values)", tags: ['auth'], response: { 200: { type: 'array', items: keyInfo } } },
    },
    async (req) => listApiKeys(app.pool, req.principal!.tenantId),
  );

  app.delete<{ Params: { id: string } }>(
    '/auth/keys/:id',
    { config: { scopes: ['admin'] }, schema: { summary: 'Revoke a key', tags: ['auth'], params: idParams, response: { 204: noContent } } },
    async (req, reply) => {
      if (!(await revokeApiKey(app.pool, req.principal!.tenantId, req.params.id))) throw notFound('API key');
      return reply.code(204).send();
    },
  );
}
