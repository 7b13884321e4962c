import type { Cursor, CursorScalar } from '../../connectors/contract';
import type { SchemaDriftPolicy } from '../../connectors/connector-definition';
import type { SchemaChange, SourceColumn } from '../../connectors/schema-drift';
import type { IngestionCounts } from '../core/ingestions';
import type { Queryable } from '../db/pool';
import { TOTALS, type RunMode, type RunTotals, type VerifyCounts } from './connector-runs';

/**
 * What a pull writes to its run (`connector_runs`) and its connector's position (`connector_state`) as it goes:
 * its start, each batch, its end. Each batch's counts and cursor commit in the batch's own transaction, so a
 * run killed at any moment says exactly what it committed, and its next attempt resumes right after it.
 *
 * The statements every scheduled run sends are named: each connection prepares them once, where PostgreSQL would
 * otherwise parse and plan them again for every run (0.1–0.2 ms of its CPU each).
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
  /** The source's columns as the connector's last successful run that recorded them found them; null before the first. */
  lastColumns: SourceColumn[] | null;
}

/**
 * Opens an attempt, in one statement: the run is running again (attempts + 1, its last outcome cleared, `started_at`
 * kept from its first attempt), and a full resync's first attempt forgets the committed position (once: its retries
 * resume from what they committed). Resolves to where the attempt starts.
 */
export async function openPull(db: Queryable, runId: string, connectorId: string, mode: RunMode): Promise<PullStart> {
  // Statements of one WITH see the same snapshot: the reset's effect is applied to the cursor read here by hand.
  const { rows } = await db.query<{
    reset: boolean;
    cursor: Cursor | null;
    last_pull: string | null;
    ingestion_id: string | null;
    source_started_at: string | null;
    run_cursor: Cursor | null;
    backfill_from: CursorScalar;
    backfill_to: CursorScalar;
    last_columns: SourceColumn[] | null;
  }>({
    name: 'open-pull',
    text: `with before as (select cursor_reset from connector_runs where id = $1),
          run as (
            update connector_runs set status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()),
                   finished_at = null, error = null, error_kind = null, cursor_reset = cursor_reset or $3 = 'full'
             where id = $1 returning ingestion_id, source_started_at, cursor_after, backfill_from, backfill_to),
          reset as (
            update connector_state set cursor = null, updated_at = now()
             where connector_id = $2 and $3 = 'full' and not (select cursor_reset from before))
     select $3 = 'full' and not (select cursor_reset from before) as reset, s.cursor, s.last_pull, run.ingestion_id, run.source_started_at,
            run.cursor_after as run_cursor, run.backfill_from, run.backfill_to,
            (select r.source_columns from connector_runs r where r.connector_id = $2 and r.status = 'succeeded' and r.source_columns is not null
              order by r.queued_at desc limit 1) as last_columns
       from run left join connector_state s on s.connector_id = $2`,
    values: [runId, connectorId, mode],
  });
  const r = rows[0];
  if (!r) throw new Error(`run ${runId} no longer exists`);
  if (mode === 'backfill') {
    if (r.backfill_to === null) throw new Error(`run ${runId} is not a backfill: it has no range`);
    // A backfill resumes from its own checkpoint, the run's cursor_after; the connector's position is not its.
    return {
      cursor: r.run_cursor,
      lastPull: r.last_pull ?? null,
      ingestionId: r.ingestion_id,
      sourceStartedAt: r.source_started_at,
      range: { from: r.backfill_from, to: r.backfill_to },
      lastColumns: r.last_columns,
    };
  }
  return {
    cursor: r.reset ? null : (r.cursor ?? null),
    lastPull: r.last_pull ?? null,
    ingestionId: r.ingestion_id,
    sourceStartedAt: r.source_started_at,
    range: null,
    lastColumns: r.last_columns,
  };
}

/** What an attempt found at the source before it reads (see `markPullStart`). */
export interface PullStartMark {
  mode: RunMode;
  cursor: Cursor | null;
  sourceNow: string;
  /** The source's columns, when it has fixed ones (sampled documents or nodes are not recorded). */
  columns: SourceColumn[] | null;
  /** What changed since the last successful run, when the connector's schema_drift tells: recorded with its event. */
  drift: { policy: SchemaDriftPolicy; changes: SchemaChange[] } | null;
}

/**
 * The attempt's start, in one statement: the run's starting cursor and source clock (kept from its first attempt), the
 * columns it found and what changed (with a `schema_drift` event), and its `started` event, unless the drift stops the
 * run (policy `fail`). A pull writes it with its first write (see `runPull`); an empty run's end statement
 * (`succeedEmptyPull`) writes it itself.
 */
export async function markPullStart(db: Queryable, runId: string, m: PullStartMark): Promise<void> {
  await db.query(
    `with run as (update connector_runs set ${START_SET} where id = $1 returning id)
     insert into connector_run_events (run_id, kind, detail)
     select run.id, e.kind, e.detail from run, (values (1, 'schema_drift', $6::jsonb), (2, 'started', $7::jsonb)) as e(n, kind, detail)
      where e.detail is not null order by e.n`,
    startValues(runId, m),
  );
}

/**
 * What a start mark sets on its run; $1 run, $2 source clock, $3 cursor, $4 columns, $5 their changes (and $6 the
 * drift event, $7 the started event: null when there is none), as `startValues` gives them.
 */
const START_SET = `cursor_before = coalesce(cursor_before, $3::jsonb), source_started_at = coalesce(source_started_at, $2),
  source_columns = coalesce($4::jsonb, source_columns), schema_changes = case when $4::jsonb is null then schema_changes else $5::jsonb end`;

function startValues(runId: string, m: PullStartMark) {
  const started = m.drift?.policy !== 'fail';
  return [
    runId,
    m.sourceNow,
    JSON.stringify(m.cursor),
    m.columns && JSON.stringify(m.columns),
    m.drift && JSON.stringify(m.drift.changes),
    m.drift && JSON.stringify(m.drift),
    started ? JSON.stringify({ mode: m.mode, cursor: m.cursor, source_now: m.sourceNow }) : null,
  ];
}

export interface PullBatch {
  runId: string;
  /** The connector whose position the batch moves; null for a backfill, which keeps its checkpoint on its run only. */
  connectorId: string | null;
  ingestionId: string;
  /** Source rows in the batch, mapped or not. */
  rowsRead: number;
  /** What the core wrote of them. */
  written: Pick<IngestionCounts, 'inserted' | 'updated' | 'duplicates' | 'rejected'> & { undeleted?: number };
  /** Entities deleted (or marked) for rows the source marks deleted. */
  deleted?: number;
  /** The position after the batch's last row (null: the batch moved no position). */
  cursor: Cursor | null;
}

/**
 * Two batches of one pull may be written at once (both cores of the database at work), but they commit in read
 * order: each batch's transaction first takes its turn (a transaction-level advisory lock named by `turn`), and a
 * batch written beside the one before it waits, in the database, for that one's turn to end, then checks that it
 * committed the position it follows. The wait is a lock PostgreSQL sees, so a cycle with row locks (two batches
 * sharing an entity, or another writer between them) is found and broken by the deadlock detector, never hung.
 * The two-int advisory lock space keeps these apart from the one-bigint connector locks.
 */
const BATCH_TURNS = 0x71616e62;

/** $1 connector, $2 the position of the batch before (jsonb): a row when that batch committed. */
export const FOLLOWED_POSITION_SQL = 'select 1 from connector_state where connector_id = $1 and cursor = $2::jsonb for update';

/** Taken first in each batch's transaction and held until it ends. */
export async function takeBatchTurn(tx: Queryable, turn: string): Promise<void> {
  await tx.query('select pg_advisory_xact_lock($1, hashtext($2))', [BATCH_TURNS, turn]);
}

/**
 * Waits until the transaction holding `turn` (the batch before this one) has ended, then whether it committed:
 * true when the connector's position is `cursor`, that batch's position. Locks the position row, so nothing moves
 * it before this batch commits.
 */
export async function followBatch(tx: Queryable, connectorId: string, turn: string, cursor: Cursor): Promise<boolean> {
  await tx.query('select pg_advisory_xact_lock($1, hashtext($2))', [BATCH_TURNS, turn]);
  const { rowCount } = await tx.query(FOLLOWED_POSITION_SQL, [connectorId, JSON.stringify(cursor)]);
  return rowCount === 1;
}

/**
 * $1 run, $2 connector, $3 cursor (jsonb or null), $4 ingestion, $5–$9 rows read, inserted, updated, unchanged, rejected,
 * $10 deleted, $11 undeleted. The batch's run event is written by the same statement.
 */
export const COMMIT_PULL_BATCH_SQL = `with moved as (
    update connector_state set cursor = $3::jsonb, updated_at = now() where connector_id = $2 and $3::jsonb is not null
  ), event as (
    insert into connector_run_events (run_id, kind, detail)
    values ($1, 'batch', jsonb_build_object('rows', $5::bigint, 'inserted', $6::bigint, 'updated', $7::bigint,
      'unchanged', $8::bigint, 'rejected', $9::bigint, 'cursor', $3::jsonb))
  )
  update connector_runs set ingestion_id = $4, rows_read = rows_read + $5, inserted = inserted + $6, updated = updated + $7,
    unchanged = unchanged + $8, rejected = rejected + $9, deleted = deleted + $10, undeleted = undeleted + $11,
    cursor_after = coalesce($3::jsonb, cursor_after)
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
    b.deleted ?? 0,
    b.written.undeleted ?? 0,
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
 * The source is read to its end, in one statement: `sourceNow` (the run's source-clock start; null for a sweep or
 * verify, which read no changes) becomes the next `:last_pull`, a run that committed no cursor ends where it began, and
 * the rows the lag window held back are recorded. Resolves to the run's committed totals. The run stays running until
 * its job records the outcome (a worker killed after this commit is still a stalled job).
 */
export async function completePull(
  tx: Queryable,
  runId: string,
  /** Null for a backfill: the connector's `:last_pull` stays. */
  connectorId: string | null,
  sourceNow: string | null,
  heldBack: HeldBack | null = null,
): Promise<RunTotals> {
  const { rows } = await tx.query<RunTotals>(
    `with state as (update connector_state set last_pull = coalesce($3, last_pull), updated_at = now() where connector_id = $2)
     update connector_runs set cursor_after = coalesce(cursor_after, cursor_before), rows_held_back = $4, held_back_until = $5
      where id = $1 returning ${TOTALS}`,
    [runId, connectorId, sourceNow, heldBack?.rows ?? null, heldBack?.until ?? null],
  );
  return rows[0]!;
}

/**
 * A pull that committed nothing (no batch in any attempt, no sweep) ends in one autocommit statement: the attempt's
 * start (as `markPullStart` records it: its source clock, `mark.sourceNow`, becomes the next `:last_pull` as
 * `completePull` moves it), the held-back rows (and their event), and the run's outcome, succeeded (as `finishRun`
 * records it). Run on the session that holds the connector's lock (`ConnectorLock.onSession`): it commits only while the
 * lock is held. Resolves to the run's totals and duration.
 */
export async function succeedEmptyPull(
  db: Queryable,
  runId: string,
  /** Null for a backfill: the connector's `:last_pull` stays. */
  connectorId: string | null,
  mark: PullStartMark,
  heldBack: HeldBack | null,
): Promise<RunTotals & { duration_ms: number | null }> {
  const heldEvent = heldBack && heldBack.rows > 0 ? { ...heldBack, capped: heldBack.rows >= HELD_BACK_CAP } : null;
  const { rows } = await db.query<RunTotals & { duration_ms: number | null; id: string }>({
    name: 'succeed-empty-pull',
    text: `with state as (update connector_state set last_pull = $2, updated_at = now() where connector_id = $8),
          run as (
            update connector_runs set ${START_SET},
                   cursor_after = coalesce(cursor_after, cursor_before, $3::jsonb), rows_held_back = $9, held_back_until = $10,
                   pending_deletes = null, status = 'succeeded', error = null, error_kind = null, finished_at = now()
             where id = $1
            returning id, ${TOTALS}, (extract(epoch from (finished_at - started_at)) * 1000)::int as duration_ms),
          events as (
            insert into connector_run_events (run_id, kind, detail)
            select run.id, e.kind, e.detail from run,
                   (values (1, 'schema_drift', $6::jsonb), (2, 'started', $7::jsonb), (3, 'held_back', $11::jsonb), (4, 'succeeded', '{}'::jsonb))
                     as e(n, kind, detail)
             where e.detail is not null order by e.n)
     select * from run`,
    values: [
      ...startValues(runId, mark),
      connectorId,
      heldBack?.rows ?? null,
      heldBack?.until ?? null,
      heldEvent && JSON.stringify(heldEvent),
    ],
  });
  if (rows.length === 0) throw new Error(`run ${runId} no longer exists`);
  const { id: _id, ...totals } = rows[0]!;
  return totals;
}

/** Where a sweep or verify of a run stands: its position in key order, whether the source is read to its end, its guard. */
export interface SweepState {
  cursor: Cursor | null;
  read: boolean;
  confirmed: boolean;
  verify: VerifyCounts | null;
}

export async function sweepState(db: Queryable, runId: string): Promise<SweepState> {
  const { rows } = await db.query<{ sweep_cursor: Cursor | null; sweep_read: boolean; confirmed: boolean; verify: VerifyCounts | null }>(
    'select sweep_cursor, sweep_read, confirmed, verify from connector_runs where id = $1',
    [runId],
  );
  const r = rows[0]!;
  return { cursor: r.sweep_cursor, read: r.sweep_read, confirmed: r.confirmed, verify: r.verify };
}

/**
 * A page of keys staged: the run's position moves after it, in the page's transaction. A verify's counts so far
 * commit with it too (`verify`), so a resumed verify goes on counting.
 */
export async function commitSweepPage(
  tx: Queryable,
  runId: string,
  rowsRead: number,
  cursor: Cursor | null,
  verify?: VerifyCounts,
): Promise<void> {
  await tx.query(
    `update connector_runs set rows_read = rows_read + $2, sweep_cursor = coalesce($3::jsonb, sweep_cursor),
       verify = coalesce($4::jsonb, verify) where id = $1`,
    [runId, rowsRead, cursor ? JSON.stringify(cursor) : null, verify ? JSON.stringify(verify) : null],
  );
}

/** The source's keys are all staged: a retry goes straight to the anti-join. */
export async function markSweepRead(db: Queryable, runId: string): Promise<void> {
  await db.query('update connector_runs set sweep_read = true where id = $1', [runId]);
}

/** The guard held the sweep back: it would delete `pending` entities. */
export async function holdSweep(db: Queryable, runId: string, pending: number): Promise<void> {
  await db.query('update connector_runs set pending_deletes = $2 where id = $1', [runId, pending]);
}

/** A sweep or verify ends: its deletions (or its verify counts) are added, in the transaction `completePull` ends the run in. */
export async function completeSweep(tx: Queryable, runId: string, deleted: number, verify?: VerifyCounts): Promise<void> {
  await tx.query(
    'update connector_runs set deleted = deleted + $2, verify = coalesce($3::jsonb, verify), pending_deletes = null where id = $1',
    [runId, deleted, verify ? JSON.stringify(verify) : null],
  );
}
