import type { FastifyInstance } from 'fastify';
import { ENTITY_READ_SCOPES } from '../../auth/api-keys';
import type { Queryable } from '../../db/pool';

export interface VerticalSummary {
  vertical: string;
  entity_count: number;
  /** registered: every entity type of the vertical has a schema; partial: some do; none: no schema. */
  schema_status: 'registered' | 'partial' | 'none';
  entity_types: Array<{ entity_type: string; entity_count: number; schema_version: number | null }>;
}

/**
 * Every vertical/entity_type of a tenant that holds entities or has a schema. The counts read only the tenant's part
 * of the entities_listing index, in its order (an index-only scan and a group aggregate: no sort, no other tenant's
 * rows), so the cost grows with the tenant's entities, not with the table. Exported for the plan check.
 */
export const VERTICALS_SQL = `with counts as (
    select vertical, entity_type, count(*) as entity_count from entities where tenant_id = $1 group by vertical, entity_type
  ), latest as (
    select vertical, entity_type, max(version) as schema_version from schemas where tenant_id = $1 group by vertical, entity_type
  )
  select vertical, entity_type, coalesce(entity_count, 0) as entity_count, schema_version
    from counts full join latest using (vertical, entity_type)
   order by vertical, entity_type`;

async function listVerticals(db: Queryable, tenantId: string): Promise<VerticalSummary[]> {
  const { rows } = await db.query<{ vertical: string; entity_type: string; entity_count: string; schema_version: number | null }>(
    VERTICALS_SQL,
    [tenantId],
  );
  const verticals: VerticalSummary[] = [];
  for (const row of rows) {
    let v = verticals.at(-1);
    if (v?.vertical !== row.vertical)
      verticals.push((v = { vertical: row.vertical, entity_count: 0, schema_status: 'none', entity_types: [] }));
    const count = Number(row.entity_count);
    v.entity_count += count;
    v.entity_types.push({ entity_type: row.entity_type, entity_count: count, schema_version: row.schema_version });
  }
  for (const v of verticals) {
    const withSchema = v.entity_types.filter((t) => t.schema_version !== null).length;
    v.schema_status = withSchema === 0 ? 'none' : withSchema === v.entity_types.length ? 'registered' : 'partial';
  }
  return verticals;
}

/**
 * Counting reads the tenant's whole part of an index: about half a second of database time a million entities. So that
 * a flood of requests from one tenant cannot multiply that, a tenant has one count running at a time in this process:
 * requests that arrive while it runs share the next one, which starts after all of them arrived, so every answer still
 * counts each write committed before its request.
 */
function oneAtATime<T>(run: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const running = new Map<string, Promise<T>>();
  const waiting = new Map<string, Promise<T>>();
  const start = (key: string): Promise<T> => {
    const p: Promise<T> = run(key).finally(() => {
      if (running.get(key) === p) running.delete(key);
    });
    running.set(key, p);
    return p;
  };
  return (key) => {
    const current = running.get(key);
    if (!current) return start(key);
    let next = waiting.get(key);
    if (!next) {
      next = current
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() => {
          waiting.delete(key);
          return start(key);
        });
      waiting.set(key, next);
    }
    return next;
  };
}

const count = { type: 'integer', minimum: 0 } as const;

export async function verticalsRoutes(app: FastifyInstance) {
  const verticalsOf = oneAtATime((tenantId) => listVerticals(app.pool, tenantId));
  app.get(
    '/verticals',
    {
      // What it shows is a summary of entities and schemas: any key that reads either.
      config: { scopes: [...ENTITY_READ_SCOPES, 'ingest'] },
      schema: {
        summary: "This tenant's verticals with entity counts and schema status",
        tags: ['schemas'],
        response: {
          200: {
            type: 'object',
            required: ['verticals'],
            properties: {
              verticals: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['vertical', 'entity_count', 'schema_status', 'entity_types'],
                  properties: {
                    vertical: { type: 'string' },
                    entity_count: count,
                    schema_status: {
                      type: 'string',
                      enum: ['registered', 'partial', 'none'],
                      description: 'registered: every entity type of the vertical has a schema; partial: some do; none: none does',
                    },
                    entity_types: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['entity_type', 'entity_count', 'schema_version'],
                        properties: {
                          entity_type: { type: 'string' },
                          entity_count: count,
                          schema_version: { type: ['integer', 'null'], description: 'the latest registered schema version; null: none' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (req) => ({ verticals: await verticalsOf(req.principal!.tenantId) }),
  );
}
