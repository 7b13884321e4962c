/**
 * Deletes at the source reaching the entities, and the comparison a verify run makes, set-based in the platform
 * database. A sweep stages the source's keys it has read in a table of its run's own (schema `sweep_staging`, each
 * page with the sweep's position, so a retry resumes), then one anti-join finds the connector's entities whose key
 * the source no longer has. Forgetting a run's keys is a DROP: deleting a million rows took a third of a second. Only the
 * connector's own entities (`connector_id`) are ever touched: pushed entities, and another connector's, never are.
 */
import type { Queryable } from '../db/pool';
import type { IngestTarget } from './ingest';
import { contentDiffersSql, contentHashSql, entitiesDocument, type EntityRow } from './upsert-entities';

/** A connector's entities of its target: $1 tenant, $2 vertical, $3 entity type, $4 connector. */
const OWN = 'e.tenant_id = $1 and e.vertical = $2 and e.entity_type = $3 and e.connector_id = $4';
/** … whose key the sweep run has not staged. */
const gone = (runId: string) => `not exists (select 1 from ${stagingTable(runId)} k where k.source_id = e.source_id)`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The table of a run's staged keys (its name is the run id, checked: it is spliced into SQL). */
function stagingTable(runId: string): string {
  if (!UUID.test(runId)) throw new Error(`not a run id: ${JSON.stringify(runId)}`);
  return `sweep_staging."${runId}"`;
}

/** Makes the table a run stages its keys in, unless an earlier attempt of the run did: run before its first page. */
export async function openStaging(db: Queryable, runId: string): Promise<void> {
  await db.query(`create table if not exists ${stagingTable(runId)} (source_id text not null)`);
}

export type DeleteMode = 'soft' | 'hard';

function ownerParams(target: IngestTarget): [string, string, string, string] {
  if (!target.connectorId) throw new Error('a sweep needs the connector whose entities it sweeps');
  return [target.tenantId, target.vertical, target.entityType, target.connectorId];
}

/**
 * Adds keys the source has to the sweep's staged set (see openStaging). Commit it with the sweep's position after them (a page is
 * then never staged twice): the table has no index to maintain, the anti-join hashes it. The commit does not wait
 * for its WAL to reach the disk: a crash can lose only whole pages with their positions, which are read again.
 */
export async function stageSweepKeys(tx: Queryable, runId: string, sourceIds: string[]): Promise<void> {
  if (sourceIds.length === 0) return;
  await tx.query('set local synchronous_commit = off');
  await tx.query(`insert into ${stagingTable(runId)} (source_id) select unnest($1::text[])`, [sourceIds]);
}

/**
 * Lets the planner see the staged keys before the anti-join (a table never analyzed is sized from its pages alone,
 * which made the anti-join a third slower), and keeps it from the nested loop that a low estimate picks: run at the
 * start of the anti-join's transaction.
 */
export async function prepareAntiJoin(tx: Queryable, runId: string): Promise<void> {
  await tx.query(`analyze ${stagingTable(runId)}`);
  await tx.query('set local enable_nestloop = off');
}

/** Forgets a run's staged keys. */
export async function clearSweepKeys(db: Queryable, runId: string): Promise<void> {
  await db.query(`drop table if exists ${stagingTable(runId)}`);
}

/** How many live entities the connector has. */
export async function liveEntities(db: Queryable, target: IngestTarget): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::float8 as n from entities e where ${OWN} and e.deleted_at is null`,
    ownerParams(target),
  );
  return rows[0]!.n;
}

/**
 * Deletes (`hard`: soft-deleted ones too) or marks (`soft`) the connector's entities whose key the sweep did not
 * stage, in one statement (a hash anti-join). Resolves to how many it deleted or marked, and how many of them were
 * live (the guard's measure).
 */
export async function applySweep(
  tx: Queryable,
  target: IngestTarget,
  runId: string,
  mode: DeleteMode,
): Promise<{ count: number; live: number }> {
  const change =
    mode === 'hard'
      ? `delete from entities e where ${OWN} and ${gone(runId)} returning e.deleted_at`
      : `update entities e set deleted_at = now(), updated_at = now() where ${OWN} and e.deleted_at is null and ${gone(runId)} returning null::timestamptz as deleted_at`;
  const { rows } = await tx.query<{ count: number; live: number }>(
    `with gone as (${change}) select count(*)::float8 as count, count(*) filter (where deleted_at is null)::float8 as live from gone`,
    ownerParams(target),
  );
  return rows[0]!;
}

/**
 * Deletes or marks the connector's entities of `sourceIds` (rows the source itself marks deleted). Resolves to how
 * many it deleted or marked.
 */
export async function deleteEntitiesOf(tx: Queryable, target: IngestTarget, sourceIds: string[], mode: DeleteMode): Promise<number> {
  if (sourceIds.length === 0) return 0;
  const keys = sourceIds.map((id) => 's:' + id);
  const sql =
    mode === 'hard'
      ? `delete from entities e where ${OWN} and e.dedup_key = any($5::text[])`
      : `update entities e set deleted_at = now(), updated_at = now() where ${OWN} and e.dedup_key = any($5::text[]) and e.deleted_at is null`;
  const { rowCount } = await tx.query(sql, [...ownerParams(target), keys]);
  return rowCount ?? 0;
}

/** Deletes every entity of a connector (a connector deleted with `delete_entities`), or leaves them without an owner. */
export async function releaseEntities(db: Queryable, target: IngestTarget, deleteThem: boolean): Promise<number> {
  const sql = deleteThem ? `delete from entities e where ${OWN}` : `update entities e set connector_id = null where ${OWN}`;
  const { rowCount } = await db.query(sql, ownerParams(target));
  return rowCount ?? 0;
}

export type Drift = 'missing' | 'stale';

/**
 * Rows of a page (mapped and prepared exactly as a pull would) that differ from the stored entities: `missing`
 * (no live entity has the key), `stale` (its content hash differs). The hash is the upsert's own expression.
 */
export async function driftOf(db: Queryable, target: IngestTarget, rows: EntityRow[]): Promise<Array<{ source_id: string; drift: Drift }>> {
  if (rows.length === 0) return [];
  const { rows: out } = await db.query<{ source_id: string; drift: Drift }>(
    `select t.s as source_id, case when e.id is null or e.deleted_at is not null then 'missing' else 'stale' end as drift
       from jsonb_to_recordset($4::jsonb) as t(n text, s text, k text, d jsonb)
       left join entities e on e.tenant_id = $1 and e.vertical = $2 and e.entity_type = $3 and e.dedup_key = t.k
      where e.id is null or e.deleted_at is not null or ${contentDiffersSql('e', 't.n', 't.d', contentHashSql('t.n', 't.d'))}
      order by t.k`,
    [target.tenantId, target.vertical, target.entityType, entitiesDocument(rows)],
  );
  return out;
}

/** The connector's live entities whose key the source no longer has (a verify's `extra`): how many, and up to `sample` of them. */
export async function extraEntities(
  db: Queryable,
  target: IngestTarget,
  runId: string,
  sample: number,
): Promise<{ count: number; sample: string[] }> {
  const { rows } = await db.query<{ count: number; sample: string[] | null }>(
    `select count(*)::float8 as count, (array_agg(e.source_id order by e.source_id))[1:$5] as sample
       from entities e where ${OWN} and e.deleted_at is null and ${gone(runId)}`,
    [...ownerParams(target), sample],
  );
  return { count: rows[0]!.count, sample: rows[0]!.sample ?? [] };
}
