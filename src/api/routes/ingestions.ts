import type { FastifyInstance } from 'fastify';
import { getIngestion, listIngestionErrors } from '../../core/ingestions';
import { ProblemType } from '../../problem-types';
import { HttpError, notFound } from '../http-error';
import { idParams, nullableTimestamp, page, problemList, timestamp, uuid } from '../schemas';

/** The largest id a bigserial DLQ entry can have: a cursor beyond it is none this API gave out. */
const MAX_CURSOR = 2n ** 63n - 1n;

const ingestion = {
  type: 'object',
  required: ['id', 'status', 'record_count', 'inserted', 'updated', 'unchanged', 'duplicate_count', 'rejected', 'created_at'],
  properties: {
    id: uuid,
    tenant_id: uuid,
    source_type: { type: 'string', enum: ['batch', 'webhook', 'stream', 'connector'] },
    source_name: { type: ['string', 'null'] },
    vertical: { type: 'string' },
    entity_type: { type: 'string' },
    status: { type: 'string', enum: ['processing', 'complete', 'partial', 'failed'] },
    record_count: { type: 'integer' },
    accepted: { type: 'integer' },
    inserted: { type: 'integer' },
    updated: { type: 'integer' },
    unchanged: { type: 'integer' },
    duplicate_count: { type: 'integer' },
    rejected: { type: 'integer' },
    error_summary: { type: ['object', 'null'] },
    created_at: timestamp,
    completed_at: nullableTimestamp,
  },
} as const;

const dlqEntry = {
  type: 'object',
  required: ['id', 'position', 'raw', 'error_type', 'messages', 'created_at'],
  properties: {
    id: { type: 'string', pattern: '^[0-9]+$', description: 'pass the last one back as cursor' },
    position: { type: 'integer', description: 'the record position in its request or stream' },
    raw: { type: 'string', description: 'the record as received' },
    error_type: { type: 'string' },
    messages: problemList,
    created_at: timestamp,
  },
} as const;

export async function ingestionsRoutes(app: FastifyInstance) {
  app.get<{ Params: { id: string } }>(
    '/ingestions/:id',
    {
      config: { scopes: ['read', 'ingest'] },
      schema: { summary: 'Ingestion status and counts', tags: ['ingestion'], params: idParams, response: { 200: ingestion } },
    },
    async (req) => {
      const found = await getIngestion(app.pool, req.principal!.tenantId, req.params.id);
      if (!found) throw notFound('Ingestion');
      return found;
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
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
            cursor: { type: 'string', pattern: '^[0-9]{1,19}$', description: 'next_cursor of the previous page' },
          },
        },
        response: { 200: page(dlqEntry, dlqEntry.properties.id) },
      },
    },
    async (req) => {
      const { cursor, limit } = req.query;
      if (cursor !== undefined && BigInt(cursor) > MAX_CURSOR) {
        const msg = 'cursor is not one this API gave out: pass next_cursor of the previous page';
        throw new HttpError(422, [{ loc: ['querystring', 'cursor'], msg, type: ProblemType.pageCursor }]);
      }
      const tenantId = req.principal!.tenantId;
      if (!(await getIngestion(app.pool, tenantId, req.params.id))) throw notFound('Ingestion');
      const items = await listIngestionErrors(app.pool, tenantId, req.params.id, limit, cursor);
      return { items, next_cursor: items.length === limit ? items[items.length - 1]!.id : null };
    },
  );
}
