import type { FastifyInstance } from 'fastify';
import { createApiKey, listApiKeys, revokeApiKey, SCOPES, type Scope } from '../../auth/api-keys';
import { notFound } from '../http-error';
import { idParams } from '../schemas';

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
            expires_at: { type: 'string', format: 'date-time' },
          },
        },
      },
    },
    async (req, reply) => {
      const created = await createApiKey(app.pool, app.config.apiKeySalt, req.principal!.tenantId, req.body.name, req.body.scopes, req.body.expires_at ?? null);
      return reply.code(201).send({ ...created, message: 'Store this key securely — it cannot be retrieved again.' });
    },
  );

  app.get('/auth/keys', { config: { scopes: ['admin'] }, schema: { summary: "This tenant's active keys (never the key values)", tags: ['auth'] } }, async (req) =>
    listApiKeys(app.pool, req.principal!.tenantId),
  );

  app.delete<{ Params: { id: string } }>(
    '/auth/keys/:id',
    { config: { scopes: ['admin'] }, schema: { summary: 'Revoke a key', tags: ['auth'], params: idParams } },
    async (req, reply) => {
      if (!(await revokeApiKey(app.pool, req.principal!.tenantId, req.params.id))) throw notFound('API key');
      return reply.code(204).send();
    },
  );
}
