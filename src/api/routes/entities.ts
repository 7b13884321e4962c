import type { FastifyInstance } from 'fastify';
import { ENTITY_READ_SCOPES } from '../../auth/api-keys';
import { getEntity, listEntities } from '../../core/entities';
import { notFound } from '../http-error';
import { idParams, NAME_PATTERN, nullableTimestamp, page, timestamp, uuid } from '../schemas';

const entity = {
  type: 'object',
  required: ['id', 'vertical', 'entity_type', 'name', 'source_id', 'vertical_data', 'created_at', 'updated_at'],
  properties: {
    id: uuid,
    vertical: { type: 'string' },
    entity_type: { type: 'string' },
    name: { type: 'string' },
    source_id: { type: ['string', 'null'] },
    vertical_data: { description: "the record's data, as stored (a JSON object)" },
    content_hash: { type: 'string' },
    connector_id: { type: ['string', 'null'], format: 'uuid', description: 'the connector whose pull wrote it; null when pushed' },
    deleted_at: { ...nullableTimestamp, description: 'when its row was found deleted at the source (deletes.mode "soft")' },
    created_at: timestamp,
    updated_at: timestamp,
  },
} as const;

export async function entitiesRoutes(app: FastifyInstance) {
  app.get<{
    Querystring: { vertical?: string; entity_type?: string; source_id?: string; include_deleted?: boolean; limit: number; cursor?: string };
  }>(
    '/entities',
    {
      config: { scopes: ENTITY_READ_SCOPES },
      schema: {
        summary: 'List entities (keyset-paginated: pass next_cursor back as cursor)',
        tags: ['entities'],
        querystring: {
          type: 'object',
          properties: {
            vertical: { type: 'string', pattern: NAME_PATTERN },
            entity_type: { type: 'string', pattern: NAME_PATTERN },
            source_id: { type: 'string' },
            include_deleted: { type: 'boolean', default: false, description: 'also list entities soft-deleted by a connector' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            cursor: { type: 'string', format: 'uuid' },
          },
        },
        response: { 200: page(entity, uuid) },
      },
    },
    async (req) => {
      const q = req.query;
      const filter = { vertical: q.vertical, entityType: q.entity_type, sourceId: q.source_id, includeDeleted: q.include_deleted };
      const items = await listEntities(app.pool, req.principal!.tenantId, filter, q.limit, q.cursor);
      return { items, next_cursor: items.length === q.limit ? items[items.length - 1]!.id : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/entities/:id',
    {
      config: { scopes: ENTITY_READ_SCOPES },
      schema: { summary: 'One entity', tags: ['entities'], params: idParams, response: { 200: entity } },
    },
    async (req) => {
      const found = await getEntity(app.pool, req.principal!.tenantId, req.params.id);
      if (!found) throw notFound('Entity');
      return found;
    },
  );
}
