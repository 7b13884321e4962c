import type pg from 'pg';

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statement src/core/upsert-entities.ts runs, for one batch of `n`
 * rows taken from what a pull stored (its JSON document rebuilt from the entities), inside a
 * transaction that is rolled back: once as new rows (first load), once as unchanged rows (re-pull).
 */
export async function explainUpsert(db: pg.Client, tenantId: string, vertical: string, entityType: string, n: number): Promise<string> {
  const { rows } = await db.query<{ doc: string }>(
    `select json_agg(json_build_object('n', name, 's', source_id, 'k', dedup_key, 'd', vertical_data, 'h', content_hash))::text as doc
       from (select * from entities where tenant_id = $1 and vertical = $2 and entity_type = $3 order by dedup_key limit $4) e`,
    [tenantId, vertical, entityType, n],
  );
  const doc = rows[0]?.doc;
  if (!doc) return '(no rows to explain)';
  const statement = (target: string) => `explain (analyze, buffers, costs off)
    insert into entities as e (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash)
     select $1, $2, $3, t.n, t.s, t.k, t.d, t.h from json_to_recordset($4::json) as t(n text, s text, k text, d jsonb, h text)
     on conflict (tenant_id, vertical, entity_type, dedup_key) do update
       set name = excluded.name, source_id = excluded.source_id, vertical_data = excluded.vertical_data,
           content_hash = excluded.content_hash, updated_at = now()
       where e.content_hash is distinct from excluded.content_hash
     returning e.id, e.dedup_key as k, (e.xmax = 0) as inserted -- ${target}`;
  const out: string[] = [];
  for (const [label, et] of [['new rows (first load)', `${entityType}_explain`], ['unchanged rows (re-pull)', entityType]] as const) {
    await db.query('begin');
    try {
      const { rows: plan } = await db.query<{ 'QUERY PLAN': string }>(statement(label), [tenantId, vertical, et, doc]);
      out.push(`${label}, ${n} rows, ${(doc.length / 1024 / 1024).toFixed(1)} MiB of JSON:\n\n\`\`\`\n${plan.map((p) => p['QUERY PLAN']).join('\n')}\n\`\`\``);
    } finally {
      await db.query('rollback');
    }
  }
  return out.join('\n\n');
}
