import type { FastifyInstance } from 'fastify';
import { latestSchema, listSchemas, registerSchema, schemaProblems } from '../../core/schema-registry';
import { patternProblems } from '../../core/pattern-safety';
import { withTransaction } from '../../db/pool';
import { HttpError, notFound } from '../http-error';
import { NAME_PATTERN, targetParams, timestamp } from '../schemas';

/** Key space of the advisory locks that order schema registrations (two-int keys never meet bigint ones). */
const SCHEMA_LOCKS = 0x73636865;

const storedSchema = {
  type: 'object',
  required: ['vertical', 'entity_type', 'version', 'schema', 'created_at'],
  properties: {
    vertical: { type: 'string' },
    entity_type: { type: 'string' },
    version: { type: 'integer', minimum: 1 },
    schema: { type: 'object', description: 'the JSON Schema of vertical_data' },
    created_at: timestamp,
  },
} as const;

export async function schemasRoutes(app: FastifyInstance) {
  app.post<{ Body: { vertical: string; entity_type: string; schema: Record<string, unknown> } }>(
    '/schemas',
    {
      config: { scopes: ['ingest'] },
      schema: {
        summary: 'Register a JSON Schema for the vertical_data of a vertical/entity_type (a new version)',
        tags: ['schemas'],
        body: {
          type: 'object',
          required: ['vertical', 'entity_type', 'schema'],
          properties: {
            vertical: { type: 'string', pattern: NAME_PATTERN },
            entity_type: { type: 'string', pattern: NAME_PATTERN },
            schema: { type: 'object' },
          },
        },
        response: { 201: storedSchema },
      },
    },
    async (req, reply) => {
      const problems = schemaProblems(req.body.schema);
      if (problems.length) throw new HttpError(422, problems);
      const slow = await patternProblems(req.body.schema);
      if (slow.length) throw new HttpError(422, slow);
      const { vertical, entity_type: entityType, schema } = req.body;
      const tenantId = req.principal!.tenantId;
      // A new version is the latest plus one: registrations of one vertical/entity_type take turns, or two at
      // once would both pick the same number and one would fail on the primary key.
      const stored = await withTransaction(app.pool, async (client) => {
        await client.query('select pg_advisory_xact_lock($1, hashtext($2))', [SCHEMA_LOCKS, `${tenantId}/${vertical}/${entityType}`]);
        return registerSchema(client, tenantId, vertical, entityType, schema);
      });
      return reply.code(201).send(stored);
    },
  );

  app.get<{ Querystring: { vertical?: string } }>(
    '/schemas',
    {
      config: { scopes: ['read', 'ingest'] },
      schema: {
        summary: 'Latest schema of every vertical/entity_type',
        tags: ['schemas'],
        querystring: { type: 'object', properties: { vertical: { type: 'string', pattern: NAME_PATTERN } } },
        response: { 200: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: storedSchema } } } },
      },
    },
    async (req) => ({ items: await listSchemas(app.pool, req.principal!.tenantId, req.query.vertical) }),
  );

  app.get<{ Params: { vertical: string; entity_type: string } }>(
    '/schemas/:vertical/:entity_type',
    {
      config: { scopes: ['read', 'ingest'] },
      schema: {
        summary: 'Latest schema of a vertical/entity_type',
        tags: ['schemas'],
        params: targetParams,
        response: { 200: storedSchema },
      },
    },
    async (req) => {
      const stored = await latestSchema(app.pool, req.principal!.tenantId, req.params.vertical, req.params.entity_type);
      if (!stored) throw notFound(`Schema for ${req.params.vertical}/${req.params.entity_type}`);
      return stored;
    },
  );
}
