import type { FastifyInstance } from 'fastify';
import { getIngestion, listIngestionErrors } from '../../core/ingestions';
import { notFound } from '../http-error';
import { idParams } from '../schemas';

export async function ingestionsRoutes(app: FastifyInstance) {
  app.get<{ Params: { id: string } }>(
    '/ingestions/:id',
    { config: { scopes: ['read', 'ingest'] }, schema: { summary: 'Ingestion status and counts', tags: ['ingestion'], params: idParams } },
    async (req) => {
      const ingestion = await getIngestion(app.pool, req.principal!.tenantId, req.params.id);
      if (!ingestion) throw notFound('Ingestion');
      return ingestion;
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number; cursor?: string } }>(
    '/ingestions/:id/errors',
    {
      config: { scopes: ['read', 'ingest'] },
      schema: {
        summary: 'Dead letter queue entries of an ingestion (keyset-paginated)',
        tags: ['ingestion'],
        params: idParams,
        querystring: {
          type: 'object',
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 }, cursor: { type: 'string', pattern: '^[0-9]+$' } },
        },
      },
    },
    async (req) => {
      const tenantId = req.principal!.tenantId;
      if (!(await getIngestion(app.pool, tenantId, req.params.id))) throw notFound('Ingestion');
      const items = await listIngestionErrors(app.pool, tenantId, req.params.id, req.query.limit, req.query.cursor);
      return { items, next_cursor: items.length === req.query.limit ? items[items.length - 1]!.id : null };
    },
  );
}
