import type { FastifyInstance } from 'fastify';
import { getEntity, listEntities } from '../../core/entities';
import { notFound } from '../http-error';
import { idParams, NAME_PATTERN } from '../schemas';

export async function entitiesRoutes(app: FastifyInstance) {
  app.get<{ Querystring: { vertical?: string; entity_type?: string; source_id?: string; limit: number; cursor?: string } }>(
    '/entities',
    {
      config: { scopes: ['read'] },
      schema: {
        summary: 'List entities (keyset-paginated: pass next_cursor back as cursor)',
        tags: ['entities'],
        querystring: {
          type: 'object',
          properties: {
            vertical: { type: 'string', pattern: NAME_PATTERN },
            entity_type: { type: 'string', pattern: NAME_PATTERN },
            source_id: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            cursor: { type: 'string', format: 'uuid' },
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      const items = await listEntities(app.pool, req.principal!.tenantId, { vertical: q.vertical, entityType: q.entity_type, sourceId: q.source_id }, q.limit, q.cursor);
      return { items, next_cursor: items.length === q.limit ? items[items.length - 1]!.id : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/entities/:id',
    { config: { scopes: ['read'] }, schema: { summary: 'One entity', tags: ['entities'], params: idParams } },
    async (req) => {
      const entity = await getEntity(app.pool, req.principal!.tenantId, req.params.id);
      if (!entity) throw notFound('Entity');
      return entity;
    },
  );
}
