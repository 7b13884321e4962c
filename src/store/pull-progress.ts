import type { Cursor } from '../../connectors/contract';
import type { IngestionCounts } from '../core/ingestions';
import type { Queryable } from '../db/pool';
import { TOTALS, type RunTotals } from './connector-runs';

/**
 * What a pull writes to its run (`connector_runs`) and its connector's position (`connector_state`) as it goes:
 * its start, each batch, its end. Each batch's counts and cursor commit in the batch's own transaction, so a
 * run killed at any moment says exactly what it committed, and its next attempt resumes right after it.
 */

/** Where an attempt of a run starts from. */
export interface PullStart {
  /** The committed position (null: from the beginning). */
  cursor: Cursor | null;
  /** The source-clock start of the connector's last successful run. */
  lastPull: string | null;
  /** The ingestion an earlier attempt of this run wrote to, if any. */
  ingestionId: string | null;
  /** The source clock at the run's first attempt, if one got that far. */
  sourceStartedAt: string | null;
}

/**
 * Opens an attempt, in one statement: the run is running again (attempts + 1, its last outcome cleared, `started_at`
 * kept from its first attempt), and a full resync's first attempt forgets the committed position (once: its retries
 * resume from what they committed). Resolves to where the attempt starts.
 */
export async function openPull(db: Queryable, runId: string, connectorId: string, mode: 'incremental' | 'full'): Promise<PullStart> {
  // Statements of one WITH see the same snapshot: the reset's effect is applied to the cursor read here by hand.
  const { rows } = await db.query<{
    reset: boolean;
    cursor: Cursor | null;
    last_pull: string | null;
    ingestion_id: string | null;
    source_started_at: string | null;
  }>(
    `with before as (select cursor_reset from connector_runs where id = $1),
          run as (
            update connector_runs set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()),
                   finished_at = null, error = null, error_kind = null, cursor_reset = cursor_reset or $3 = 'full'
             where id = $1 returning ingestion_id, source_started_at),
          reset as (
            update connector_state set cursor = null, updated_at = now()
             where connector_id = $2 and $3 = 'full' and not (select cursor_reset from before))
     select $3 = 'full' and not (select cursor_reset from before) as reset, s.cursor, s.last_pull, run.ingestion_id, run.source_started_at
       from run left join connector_state s on s.connector_id = $2`,
    [runId, connectorId, mode],
  );
  const r = rows[0];
  if (!r) throw new Error(`run ${runId} no longer exists`);
  return {
    cursor: r.reset ? null : (r.cursor ?? null),
    lastPull: r.last_pull ?? null,
    ingestionId: r.ingestion_id,
    sourceStartedAt: r.source_started_at,
  };
}

/** The run's starting cursor and source clock, kept from its first attempt. */
export async function markPullStart(db: Queryable, runId: string, cursor: Cursor | null, sourceNow: string): Promise<void> {
  await db.query(
    'update connector_runs set cursor_before = coalesce(cursor_before, $2), source_started_at = coalesce(source_started_at, $3) where id = $1',
    [runId, JSON.stringify(cursor), sourceNow],
  );
}

export interface PullBatch {
  runId: string;
  connectorId: string;
  ingestionId: string;
  /** Source rows in the batch, mapped or not. */
  rowsRead: number;
  /** What the core wrote of them. */
  written: Pick<IngestionCounts, 'inserted' | 'updated' | 'duplicates' | 'rejected'>;
  /** The position after the batch's last row (null: the batch moved no position). */
  cursor: Cursor | null;
}

/** $1 run, $2 connector, $3 cursor (jsonb or null), $4 ingestion, $5–$9 rows read, inserted, updated, unchanged, rejected. */
export const COMMIT_PULL_BATCH_SQL = `with moved as (
    update connector_state set cursor = $3::jsonb, updated_at = now() where connector_id = $2 and $3::jsonb is not null
  )
  update connector_runs set ingestion_id = $4, rows_read = rows_read + $5, inserted = inserted + $6, updated = updated + $7,
    unchanged = unchanged + $8, rejected = rejected + $9, cursor_after = coalesce($3::jsonb, cursor_after)
   where id = $1`;

/** Adds a batch to its run and moves the connector's position after it, in the batch's transaction. */
export async function commitPullBatch(tx: Queryable, b: PullBatch): Promise<void> {
  const cursor = b.cursor ? JSON.stringify(b.cursor) : null;
  const { inserted, updated, duplicates, rejected } = b.written;
  // A run's `unchanged` is every row that changed nothing (in-batch repeats too): rows_read = inserted + updated + unchanged + rejected.
  await tx.query(COMMIT_PULL_BATCH_SQL, [
    b.runId,
    b.connectorId,
    cursor,
    b.ingestionId,
    b.rowsRead,
    inserted,
    updated,
    duplicates,
    rejected,
  ]);
}

/**
 * The source is read to its end, in one statement: `sourceNow` (the run's source-clock start) becomes the next
 * `:last_pull`, and a run that committed no cursor ends where it began. Resolves to the run's committed totals. The
 * run stays running until its job records the outcome (a worker killed after this commit is still a stalled job).
 */
export async function completePull(tx: Queryable, runId: string, connectorId: string, sourceNow: string): Promise<RunTotals> {
  const { rows } = await tx.query<RunTotals>(
    `with state as (update connector_state set last_pull = $3, updated_at = now() where connector_id = $2)
     update connector_runs set cursor_after = coalesce(cursor_after, cursor_before) where id = $1 returning ${TOTALS}`,
    [runId, connectorId, sourceNow],
  );
  return rows[0]!;
}
