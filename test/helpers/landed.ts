import type pg from 'pg';
import { listIngestionErrors } from '../../src/core/ingestions';
import { contentHashSql } from '../../src/core/upsert-entities';

/** What landed in vertical `v` as `entityType`, as text: each entity's columns, its document's jsonb text and its content hash. */
export async function landedEntities(pool: pg.Pool, tenantId: string, entityType: string) {
  const { rows } = await pool.query(
    `select name, source_id, dedup_key, vertical_data::text as data, ${contentHashSql('name', 'vertical_data')} as hash, deleted_at
       from entities where tenant_id = $1 and vertical = 'v' and entity_type = $2 order by dedup_key`,
    [tenantId, entityType],
  );
  return rows;
}

/** An ingestion's DLQ entries: where, what and why. */
export async function dlqEntries(pool: pg.Pool, tenantId: string, ingestionId: string) {
  return (await listIngestionErrors(pool, tenantId, ingestionId, 1000)).map(({ position, raw, error_type, messages }) => ({
    position,
    raw,
    error_type,
    messages,
  }));
}
