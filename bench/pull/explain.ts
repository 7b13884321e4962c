import type pg from 'pg';
import { BATCH_WORK_MEM_SQL, entitiesDocument, LOCK_TENANT_SQL, UPSERT_ENTITIES_COUNTED_SQL } from '../../src/core/upsert-entities';
import { COPY_NEW_ENTITIES_SQL, copyIn, entitiesCopy } from '../../src/core/copy-entities';
import { COMMIT_PULL_BATCH_SQL, FOLLOWED_POSITION_SQL } from '../../src/store/pull-progress';

/** EXPLAIN (ANALYZE, BUFFERS) of `sql` with `params` in a transaction that is rolled back (after `before`), as Markdown. */
async function explained(db: pg.Client, label: string, sql: string, params: unknown[], before: string[] = []): Promise<string> {
  await db.query('begin');
  try {
    for (const statement of before) await db.query(statement);
    const { rows: plan } = await db.query<{ 'QUERY PLAN': string }>(`explain (analyze, buffers, costs off) ${sql}`, params);
    return `${label}:\n\n\`\`\`\n${plan.map((p) => p['QUERY PLAN']).join('\n')}\n\`\`\``;
  } finally {
    await db.query('rollback');
  }
}

/** The COPY of new rows (which EXPLAIN cannot show) timed in a transaction that is rolled back, as Markdown. */
async function timedCopy(db: pg.Client, label: string, chunks: Iterable<Buffer>): Promise<string> {
  await db.query('begin');
  try {
    await db.query(BATCH_WORK_MEM_SQL);
    const t0 = performance.now();
    const rows = await copyIn(db, COPY_NEW_ENTITIES_SQL, chunks);
    const ms = performance.now() - t0;
    return `${label}:\n\n\`\`\`\n${COPY_NEW_ENTITIES_SQL}\n${rows} rows in ${ms.toFixed(1)} ms (COPY has no plan to explain)\n\`\`\``;
  } finally {
    await db.query('rollback');
  }
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the statements src/core/upsert-entities.ts runs, for one batch of `n`
 * rows taken from what a pull stored (its document rebuilt from the entities), inside a
 * transaction that is rolled back: new rows as a first load writes them (its first batch upserted, every later one
 * copied in, since the batch before was all new: timed, as COPY has no plan), and unchanged rows (re-pull: the upsert);
 * a pull needs no entity ids, so its upsert answers its counts alone (the `_COUNTED` one).
 */
export async function explainUpsert(db: pg.Client, tenantId: string, vertical: string, entityType: string, n: number): Promise<string> {
  const { rows } = await db.query<{ name: string; source_id: string | null; dedup_key: string; data: string }>(
    `select name, source_id, dedup_key, vertical_data::text as data
       from entities where tenant_id = $1 and vertical = $2 and entity_type = $3 order by dedup_key limit $4`,
    [tenantId, vertical, entityType, n],
  );
  if (rows.length === 0) return '(no rows to explain)';
  const entityRows = rows.map((r) => ({ name: r.name, sourceId: r.source_id, dedupKey: r.dedup_key, data: r.data }));
  const doc = entitiesDocument(entityRows);
  const size = `${rows.length} rows, ${(doc.length / 1024 / 1024).toFixed(1)} MiB of JSON`;
  const out = [await explained(db, 'the tenant, locked once per batch', LOCK_TENANT_SQL, [tenantId])];
  for (const [label, et] of [
    ["new rows (a first load's first batch: upsert)", `${entityType}_explain`],
    ['unchanged rows (re-pull: upsert)', entityType],
  ] as const) {
    out.push(
      await explained(db, `${label}, ${size}`, UPSERT_ENTITIES_COUNTED_SQL, [tenantId, vertical, et, doc, null], [BATCH_WORK_MEM_SQL]),
    );
  }
  const copy = entitiesCopy(entityRows, tenantId, vertical, `${entityType}_explain`, null).chunks();
  out.splice(2, 0, await timedCopy(db, `new rows (a first load's later batches: COPY), ${rows.length} rows`, copy));
  return out.join('\n\n');
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of what a pull commits with each batch besides its entities (src/store/pull-progress.ts):
 * the check that the batch before it committed (a batch written beside another one), then the run's counts and the
 * connector's cursor, for a batch of `n` rows of the connector's last run.
 */
export async function explainPullBatch(db: pg.Client, connectorId: string, n: number): Promise<string> {
  const { rows } = await db.query<{ id: string; ingestion_id: string | null; cursor: unknown }>(
    `select r.id, r.ingestion_id, s.cursor from connector_runs r join connector_state s using (connector_id)
      where r.connector_id = $1 order by r.queued_at desc limit 1`,
    [connectorId],
  );
  const run = rows[0];
  if (!run?.ingestion_id) return '(no run with an ingestion to explain)';
  const cursor = JSON.stringify(run.cursor);
  const follow = await explained(db, 'the position the batch before committed (a batch written beside it)', FOLLOWED_POSITION_SQL, [
    connectorId,
    cursor,
  ]);
  const params = [run.id, connectorId, cursor, run.ingestion_id, n, n, 0, 0, 0, 0, 0];
  return `${follow}\n\n${await explained(db, `the run's counts and the cursor, one ${n}-row batch`, COMMIT_PULL_BATCH_SQL, params)}`;
}
