import type { Cursor, CursorScalar } from '../../connectors/contract';
import type { SchemaChange, SourceColumn } from '../../connectors/schema-drift';
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
  /** A backfill's range (its `cursor` is then the backfill's own checkpoint); null for other runs. */
  range: { from: CursorScalar; to: CursorScalar } | null;
}

/**
 * Opens an attempt; run it in a transaction. Locks the run row, and on a full resync's first attempt forgets the
 * committed position (once: its retries resume from what they committed).
 */
export async function openPull(
  tx: Queryable,
  runId: string,
  connectorId: string,
  mode: 'incremental' | 'full' | 'backfill',
): Promise<PullStart> {
  const { rows } = await tx.query<{
    cursor_reset: boolean;
    ingestion_id: string | null;
    source_started_at: string | null;
    cursor_after: Cursor | null;
    backfill_from: CursorScalar;
    backfill_to: CursorScalar;
  }>(
    `select cursor_reset, ingestion_id, source_started_at, cursor_after, backfill_from, backfill_to
       from connector_runs where id = $1 for update`,
    [runId],
  );
  const run = rows[0]!;
  if (mode === 'backfill') {
    if (run.backfill_to === null) throw new Error(`run ${runId} is not a backfill: it has no range`);
    const { rows: state } = await tx.query<{ last_pull: string | null }>('select last_pull from connector_state where connector_id = $1', [
      connectorId,
    ]);
    return {
      cursor: run.cursor_after,
      lastPull: state[0]?.last_pull ?? null,
      ingestionId: run.ingestion_id,
      sourceStartedAt: run.source_started_at,
      range: { from: run.backfill_from, to: run.backfill_to },
    };
  }
  if (mode === 'full' && !run.cursor_reset) {
    await tx.query('update connector_state set cursor = null, updated_at = now() where connector_id = $1', [connectorId]);
    await tx.query('update connector_runs set cursor_reset = true where id = $1', [runId]);
  }
  const { rows: state } = await tx.query<{ cursor: Cursor | null; last_pull: string | null }>(
    'select cursor, last_pull from connector_state where connector_id = $1',
    [connectorId],
  );
  return {
    cursor: state[0]?.cursor ?? null,
    lastPull: state[0]?.last_pull ?? null,
    ingestionId: run.ingestion_id,
    sourceStartedAt: run.source_started_at,
    range: null,
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
  /** The connector whose position the batch moves; null for a backfill, which keeps its checkpoint on its run only. */
  connectorId: string | null;
  ingestionId: string;
  /** Source rows in the batch, mapped or not. */
  rowsRead: number;
  /** What the core wrote of them. */
  written: Pick<IngestionCounts, 'inserted' | 'updated' | 'duplicates' | 'rejected'>;
  /** The position after the batch's last row (null: the batch moved no position). */
  cursor: Cursor | null;
}

/**
 * $1 run, $2 connector, $3 cursor (jsonb or null), $4 ingestion, $5–$9 rows read, inserted, updated, unchanged, rejected.
 * The batch's run event is written by the same statement.
 */
export const COMMIT_PULL_BATCH_SQL = `with moved as (
    update connector_state set cursor = $3::jsonb, updated_at = now() where connector_id = $2 and $3::jsonb is not null
  ), event as (
    insert into connector_run_events (run_id, kind, detail)
    values ($1, 'batch', jsonb_build_object('rows', $5::bigint, 'inserted', $6::bigint, 'updated', $7::bigint,
      'unchanged', $8::bigint, 'rejected', $9::bigint, 'cursor', $3::jsonb))
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

/** Rows held back by the lag window are counted up to this many: enough to say why a run read little, cheap to count. */
export const HELD_BACK_CAP = 10_000;

/** Rows the lag window kept from a run: how many (up to a cap) and when the first of them becomes readable. */
export interface HeldBack {
  rows: number;
  until: string | null;
}

/**
 * The source is read to its end: `sourceNow` (the run's source-clock start) becomes the next `:last_pull`, and a
 * run that committed no cursor ends where it began. Resolves to the run's committed totals.
 */
export async function completePull(
  tx: Queryable,
  runId: string,
  /** Null for a backfill: the connector's `:last_pull` stays. */
  connectorId: string | null,
  sourceNow: string,
  heldBack: HeldBack | null = null,
): Promise<RunTotals> {
  await tx.query('update connector_state set last_pull = $2, updated_at = now() where connector_id = $1', [connectorId, sourceNow]);
  const { rows } = await tx.query<RunTotals>(
    `update connector_runs set cursor_after = coalesce(cursor_after, cursor_before), rows_held_back = $2, held_back_until = $3
      where id = $1 returning ${TOTALS}`,
    [runId, heldBack?.rows ?? null, heldBack?.until ?? null],
  );
  return rows[0]!;
}

/** The columns of the connector's last successful run that recorded them; null before the first. */
export async function lastSucceededColumns(db: Queryable, connectorId: string): Promise<SourceColumn[] | null> {
  const { rows } = await db.query<{ source_columns: SourceColumn[] }>(
    `select source_columns from connector_runs where connector_id = $1 and status = 'succeeded' and source_columns is not null
      order by queued_at desc limit 1`,
    [connectorId],
  );
  return rows[0]?.source_columns ?? null;
}

/** Records the columns a run found at the source and what changed since the last successful run (null: nothing, or not told). */
export async function recordSourceColumns(
  db: Queryable,
  runId: string,
  columns: SourceColumn[],
  changes: SchemaChange[] | null,
): Promise<void> {
  await db.query('update connector_runs set source_columns = $2, schema_changes = $3 where id = $1', [
    runId,
    JSON.stringify(columns),
    changes && JSON.stringify(changes),
  ]);
}
