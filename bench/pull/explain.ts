import type pg from 'pg';
import { entitiesDocument, UPSERT_ENTITIES_SQL } from '../../src/core/upsert-entities';

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statement src/core/upsert-entities.ts runs, for one batch of `n`
 * rows taken from what a pull stored (its document rebuilt from the entities), inside a
 * transaction that is rolled back: once as new rows (first load), once as unchanged rows (re-pull).
 */
export async function explainUpsert(db: pg.Client, tenantId: string, vertical: string, entityType: string, n: number): Promise<string> {
  const { rows } = await db.query<{ name: string; source_id: string | null; dedup_key: string; data: string }>(
    `select name, source_id, dedup_key, vertical_data::text as data
       from entities where tenant_id = $1 and vertical = $2 and entity_type = $3 order by dedup_key limit $4`,
    [tenantId, vertical, entityType, n],
  );
  if (rows.length === 0) return '(no rows to explain)';
  const doc = entitiesDocument(rows.map((r) => ({ name: r.name, sourceId: r.source_id, dedupKey: r.dedup_key, data: r.data })));
  const out: string[] = [];
  for (const [label, et] of [['new rows (first load)', `${entityType}_explain`], ['unchanged rows (re-pull)', entityType]] as const) {
    await db.query('begin');
    try {
      const { rows: plan } = await db.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, costs off) ${UPSERT_ENTITIES_SQL}`, [tenantId, vertical, et, doc]);
      out.push(`${label}, ${rows.length} rows, ${(doc.length / 1024 / 1024).toFixed(1)} MiB of JSON:\n\n\`\`\`\n${plan.map((p) => p['QUERY PLAN']).join('\n')}\n\`\`\``);
    } finally {
      await db.query('rollback');
    }
  }
  return out.join('\n\n');
}
