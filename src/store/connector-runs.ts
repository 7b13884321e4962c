import { randomUUID } from 'node:crypto';
import type { SchemaChange } from '../../connectors/schema-drift';
import { clearSweepKeys } from '../core/entity-sweep';
import type { Queryable } from '../db/pool';
import { isUuid } from './uuid';

/**
 * The `connector_runs` table: one row per run of a connector, the truth about a pull (its BullMQ job is only how a
 * worker gets to it). A run is queued or running, retrying between attempts, and ends succeeded, failed, skipped or
 * cancelled; a sweep the guard holds waits as `needs_confirmation`; a scheduler's fire that never became a run is
 * recorded as `missed` (see schedule-fires.ts). Its counts and cursors are committed with each batch (see
 * pull-progress.ts). An operator's change of the position is a run too (trigger `operator`, mode `set_state`), so the
 * history shows it.
 */
export type RunStatus =
  'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'missed' | 'needs_confirmation';

/**
 * `incremental` reads what changed since the committed cursor, `full` everything again (then sweeps, when deletes
 * are on), `backfill` a range of cursor values again without moving the committed position, `sweep` compares the
 * source's keys with the connector's entities and deletes the missing, `verify` compares rows and entities and
 * writes nothing.
 */
export type RunMode = 'incremental' | 'full' | 'backfill' | 'sweep' | 'verify';

/** What a verify run found: rows compared, and the keys that differ (up to 20 of each kind). */
export interface VerifyCounts {
  checked: number;
  /** Source rows without a live entity. */
  missing: number;
  /** Live entities of the connector whose row the source no longer has. */
  extra: number;
  /** Entities whose content differs from their row. */
  stale: number;
  samples: { missing: string[]; extra: string[]; stale: string[] };
}

export interface ConnectorRun {
  id: string;
  connector_id: string;
  /** The queue job that carries the run: the scheduler's job that created it, or `runJobId(id)`. */
  job_id: string | null;
  trigger: 'schedule' | 'manual' | 'operator';
  mode: RunMode | 'set_state';
  status: RunStatus;
  attempts: number;
  ingestion_id: string | null;
  rows_read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  /** Entities deleted (or soft-deleted) and undeleted by the run. */
  deleted: number;
  undeleted: number;
  /** A sweep held by the guard: how many entities it would delete. */
  pending_deletes: number | null;
  verify: VerifyCounts | null;
  cursor_before: unknown;
  cursor_after: unknown;
  cursor_reset: boolean;
  source_started_at: string | null;
  error: string | null;
  error_kind: string | null;
  /** Rows the lag window held back when the run read to its end (counted up to `HELD_BACK_CAP`); null: not counted. */
  rows_held_back: number | null;
  /** Source-clock instant at which the first held-back row leaves the lag window. */
  held_back_until: string | null;
  cancel_requested_at: string | null;
  /** What changed in the source's columns since the last successful run, when the connector's schema_drift tells. */
  schema_changes: SchemaChange[] | null;
  /** A backfill's range: from <= cursor < to. */
  backfill_from: unknown;
  backfill_to: unknown;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

/** What a run has committed over all its attempts: its counts, its last cursor and the source clock at its start. */
export type RunTotals = Pick<
  ConnectorRun,
  | 'rows_read'
  | 'inserted'
  | 'updated'
  | 'unchanged'
  | 'rejected'
  | 'deleted'
  | 'undeleted'
  | 'verify'
  | 'cursor_after'
  | 'source_started_at'
  | 'rows_held_back'
  | 'held_back_until'
>;

/** Counts are bigint columns; as doubles they stay exact far beyond any run. */
export const TOTALS = `rows_read::float8 as rows_read, inserted::float8 as inserted, updated::float8 as updated,
  unchanged::float8 as unchanged, rejected::float8 as rejected, deleted::float8 as deleted, undeleted::float8 as undeleted,
  verify, cursor_after, source_started_at, rows_held_back::float8 as rows_held_back, held_back_until`;

const COLUMNS = `id, connector_id, job_id, trigger, mode, status, attempts, ingestion_id, ${TOTALS}, pending_deletes::float8 as pending_deletes,
  cursor_before, cursor_reset, error, error_kind, cancel_requested_at, schema_changes, backfill_from, backfill_to, queued_at, started_at, finished_at,
  (extract(epoch from (coalesce(finished_at, now()) - started_at)) * 1000)::int as duration_ms`;

const ACTIVE = `status in ('queued', 'running', 'retrying')`;

/** The run event of an outcome, written by the statement that records it: `run` returns the run's id; $2 status, $3 error, $4 kind. */
const OUTCOME_EVENT = `insert into connector_run_events (run_id, kind, detail)
  select id, $2, jsonb_strip_nulls(jsonb_build_object('error', $3::text, 'error_kind', $4::text)) from run`;

/**
 * The id of the job that carries a run queued by the API or queued again after its job was lost. Derived from
 * the run, so queueing it twice is harmless: BullMQ keeps one job per id.
 */
export const runJobId = (runId: string) => `run-${runId}`;

/**
 * A new run, with the job that carries it: a scheduled run is created by its scheduler's job (`jobId`); any other
 * run is carried by `runJobId` of its id, which the caller queues after this commits.
 */
export async function createRun(
  db: Queryable,
  run: {
    connectorId: string;
    tenantId: string;
    trigger: 'schedule' | 'manual';
    mode: RunMode;
    status?: RunStatus;
    jobId?: string;
    /** A backfill's range. */
    range?: { from: unknown; to: unknown };
  },
): Promise<string> {
  const id = randomUUID();
  await db.query(
    `insert into connector_runs (id, connector_id, tenant_id, trigger, mode, status, job_id, backfill_from, backfill_to)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      id,
      run.connectorId,
      run.tenantId,
      run.trigger,
      run.mode,
      run.status ?? 'queued',
      run.jobId ?? runJobId(id),
      run.range ? JSON.stringify(run.range.from) : null,
      run.range ? JSON.stringify(run.range.to) : null,
    ],
  );
  return id;
}

export async function getRun(db: Queryable, runId: string): Promise<ConnectorRun | null> {
  const { rows } = await db.query<ConnectorRun>(`select ${COLUMNS} from connector_runs where id = $1`, [runId]);
  return rows[0] ?? null;
}

export async function listRuns(db: Queryable, connectorId: string, limit: number): Promise<ConnectorRun[]> {
  const { rows } = await db.query<ConnectorRun>(
    `select ${COLUMNS} from connector_runs where connector_id = $1 order by queued_at desc limit $2`,
    [connectorId, limit],
  );
  return rows;
}

/** The run that is queued or running for a connector, if any. */
export async function activeRun(db: Queryable, connectorId: string): Promise<ConnectorRun | null> {
  const { rows } = await db.query<ConnectorRun>(
    `select ${COLUMNS} from connector_runs where connector_id = $1 and ${ACTIVE} order by queued_at limit 1`,
    [connectorId],
  );
  return rows[0] ?? null;
}

/** True when the run exists and belongs to this connector of this tenant. */
export async function runBelongsTo(db: Queryable, runId: string, connectorId: string, tenantId: string): Promise<boolean> {
  if (![runId, connectorId, tenantId].every(isUuid)) return false;
  const { rowCount } = await db.query('select 1 from connector_runs where id = $1 and connector_id = $2 and tenant_id = $3', [
    runId,
    connectorId,
    tenantId,
  ]);
  return (rowCount ?? 0) > 0;
}

/** The run a job created before (a scheduled job retried after a crash continues the same run). */
export async function runOfJob(db: Queryable, connectorId: string, jobId: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>(
    'select id from connector_runs where connector_id = $1 and job_id = $2 order by queued_at desc limit 1',
    [connectorId, jobId],
  );
  return rows[0]?.id ?? null;
}

/**
 * The run a failed job was carrying, only when that job is the run's own and the run is of this connector of this
 * tenant: job data comes back from Redis, and a forged job naming another tenant's run finds nothing.
 */
export async function runOfFailedJob(
  db: Queryable,
  job: { runId: string; jobId: string; connectorId: string; tenantId: string },
): Promise<Pick<ConnectorRun, 'id' | 'ingestion_id'> | null> {
  if (![job.runId, job.connectorId, job.tenantId].every(isUuid)) return null;
  const { rows } = await db.query<Pick<ConnectorRun, 'id' | 'ingestion_id'>>(
    'select id, ingestion_id from connector_runs where id = $1 and job_id = $2 and connector_id = $3 and tenant_id = $4',
    [job.runId, job.jobId, job.connectorId, job.tenantId],
  );
  return rows[0] ?? null;
}

/** Records an attempt's outcome; a run that will be retried stays unfinished. Resolves to the run's duration so far. */
export async function finishRun(
  db: Queryable,
  runId: string,
  outcome: {
    status: 'succeeded' | 'failed' | 'retrying' | 'skipped' | 'cancelled' | 'needs_confirmation';
    error?: string;
    errorKind?: string;
  },
): Promise<{ duration_ms: number | null }> {
  const { rows } = await db.query<{ duration_ms: number | null }>(
    `with run as (
       update connector_runs set status = $2, error = $3, error_kind = $4,
         finished_at = case when $2 = 'retrying' then null else now() end where id = $1
       returning id, (extract(epoch from (coalesce(finished_at, now()) - started_at)) * 1000)::int as duration_ms
     ), event as (${OUTCOME_EVENT})
     select duration_ms from run`,
    [runId, outcome.status, outcome.error ?? null, outcome.errorKind ?? null],
  );
  return rows[0] ?? { duration_ms: null };
}

export type ActiveRun = Pick<ConnectorRun, 'id' | 'connector_id' | 'job_id' | 'status' | 'ingestion_id' | 'cancel_requested_at'> & {
  tenant_id: string;
  trigger: 'schedule' | 'manual';
  mode: 'incremental' | 'full' | 'backfill';
};

/** Runs that say they are queued, running or retrying and were queued more than `olderThanMs` ago. */
export async function activeRuns(db: Queryable, olderThanMs: number, connectorId?: string): Promise<ActiveRun[]> {
  const { rows } = await db.query<ActiveRun>(
    `select id, connector_id, tenant_id, job_id, trigger, mode, status, ingestion_id, cancel_requested_at from connector_runs
      where ${ACTIVE} and queued_at < now() - $1 * interval '1 millisecond'
        and ($2::uuid is null or connector_id = $2) order by queued_at`,
    [olderThanMs, connectorId ?? null],
  );
  return rows;
}

/** Fails a run that is still queued, running or retrying; false when it had finished meanwhile. */
export async function closeRun(db: Queryable, runId: string, error: string, errorKind: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `with run as (
       update connector_runs set status = 'failed', error = $3, error_kind = $4, finished_at = now() where id = $1 and ${ACTIVE} returning id
     ), event as (${OUTCOME_EVENT})
     select 1 from run`,
    [runId, 'failed', error, errorKind],
  );
  return rowCount === 1;
}

/**
 * Marks a run whose job was lost as waiting again, carried from now on by `runJobId` of its id (a scheduled run's
 * own job cannot be queued again: its scheduler fired it once).
 */
export async function requeueRun(db: Queryable, runId: string, error: string): Promise<void> {
  await db.query(
    `update connector_runs set status = 'retrying', job_id = $2, error = $3, error_kind = 'requeued', finished_at = null where id = $1 and ${ACTIVE}`,
    [runId, runJobId(runId), error],
  );
}

/**
 * A sweep held by the guard goes ahead: the run is queued again, confirmed, carried by a job of its own (its first
 * job has finished). False when the run is not waiting for confirmation. Resolves to the new job's id.
 */
export async function confirmRun(db: Queryable, runId: string): Promise<string | null> {
  const jobId = `${runJobId(runId)}-confirmed`;
  const { rowCount } = await db.query(
    `update connector_runs set status = 'queued', confirmed = true, job_id = $2, error = null, error_kind = null, finished_at = null
      where id = $1 and status = 'needs_confirmation'`,
    [runId, jobId],
  );
  return rowCount === 1 ? jobId : null;
}

/**
 * Asks an unfinished run to stop. Resolves to the run's status (the worker stops a running run after its current
 * batch), or null when the run had already finished.
 */
export async function requestCancel(db: Queryable, runId: string): Promise<RunStatus | null> {
  const { rows } = await db.query<{ status: RunStatus }>(
    `update connector_runs set cancel_requested_at = coalesce(cancel_requested_at, now()) where id = $1 and ${ACTIVE} returning status`,
    [runId],
  );
  return rows[0]?.status ?? null;
}

/** Whether an operator asked this run to stop. */
export async function cancelRequested(db: Queryable, runId: string): Promise<boolean> {
  const { rows } = await db.query<{ asked: boolean }>('select cancel_requested_at is not null as asked from connector_runs where id = $1', [
    runId,
  ]);
  return rows[0]?.asked ?? false;
}

export const CANCELLED_ERROR = 'cancelled by an operator; what it committed stays, and the next run resumes from the committed cursor';

/** Ends an unfinished run as cancelled; resolves to its ingestion (to close it too), or undefined when it had finished. */
export async function cancelRun(db: Queryable, runId: string): Promise<{ ingestion_id: string | null } | undefined> {
  const { rows } = await db.query<{ ingestion_id: string | null }>(
    `with run as (
       update connector_runs set status = $2, error = $3, error_kind = $4, finished_at = now() where id = $1 and ${ACTIVE}
       returning id, ingestion_id
     ), event as (${OUTCOME_EVENT})
     select ingestion_id from run`,
    [runId, 'cancelled', CANCELLED_ERROR, 'cancelled'],
  );
  return rows[0];
}

/** Forgets the keys staged by every run of a connector (a connector deleted with a sweep held or unfinished). */
export async function clearConnectorSweeps(db: Queryable, connectorId: string): Promise<void> {
  const { rows } = await db.query<{ id: string }>(
    `select c.relname as id from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'sweep_staging' and c.relname in (select id::text from connector_runs where connector_id = $1)`,
    [connectorId],
  );
  for (const { id } of rows) await clearSweepKeys(db, id);
}
