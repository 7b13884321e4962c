import pg from 'pg';
import type { Queryable } from '../db/pool';
import { parseExactJson } from './exact-json';
import { storedHashSql } from './upsert-entities';

export interface Entity {
  id: string;
  vertical: string;
  entity_type: string;
  name: string;
  source_id: string | null;
  vertical_data: Record<string, unknown>;
  content_hash: string;
  connector_id: string | null;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
}

// An entity a plain insert wrote has no stored hash (see upsert-entities.ts): it is answered computed, the same text.
const COLUMNS = `id, vertical, entity_type, name, source_id, vertical_data, ${storedHashSql('entities')} as content_hash, connector_id, deleted_at,
  created_at, updated_at`;

/** vertical_data read with its numbers exact: pg would parse jsonb with JSON.parse, through doubles. */
const exactJsonb: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.JSONB ? parseExactJson : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

export interface EntityFilter {
  vertical?: string;
  entityType?: string;
  sourceId?: string;
  /** Also soft-deleted entities (left out by default). */
  includeDeleted?: boolean;
}

/** A tenant's entities in id order, after `after` (keyset pagination); soft-deleted ones only when asked for. */
export async function listEntities(db: Queryable, tenantId: string, f: EntityFilter, limit: number, after?: string): Promise<Entity[]> {
  const { rows } = await db.query<Entity>({
    text: `select ${COLUMNS} from entities
      where tenant_id = $1 and ($2::text is null or vertical = $2) and ($3::text is null or entity_type = $3)
        and ($4::text is null or source_id = $4) and ($5::uuid is null or id > $5) and ($7 or deleted_at is null)
      order by id limit $6`,
    values: [tenantId, f.vertical ?? null, f.entityType ?? null, f.sourceId ?? null, after ?? null, limit, f.includeDeleted ?? false],
    types: exactJsonb,
  });
  return rows;
}

export async function getEntity(db: Queryable, tenantId: string, id: string): Promise<Entity | null> {
  const { rows } = await db.query<Entity>({
    text: `select ${COLUMNS} from entities where tenant_id = $1 and id = $2`,
    values: [tenantId, id],
    types: exactJsonb,
  });
  return rows[0] ?? null;
}
