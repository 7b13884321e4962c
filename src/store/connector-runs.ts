import type { Queryable } from '../db/pool';

export type RunStatus = 'queued' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped';

export interface ConnectorRun {
  id: string;
  connector_id: string;
  job_id: string | null;
  trigger: 'schedule' | 'manual';
  mode: 'incremental' | 'full';
  status: RunStatus;
  attempts: number;
  ingestion_id: string | null;
  rows_read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  cursor_before: unknown;
  cursor_after: unknown;
  cursor_reset: boolean;
  source_started_at: string | null;
  error: string | null;
  error_kind: string | null;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

const COLUMNS = `id, connector_id, job_id, trigger, mode, status, attempts, ingestion_id, rows_read::float8 as rows_read,
  inserted::float8 as inserted, updated::float8 as updated, unchanged::float8 as unchanged, rejected::float8 as rejected,
  cursor_before, cursor_after, cursor_reset, source_started_at, error, error_kind, queued_at, started_at, finished_at,
  (extract(epoch from (coalesce(finished_at, now()) - started_at)) * 1000)::int as duration_ms`;

export async function createRun(
  db: Queryable,
  run: { connectorId: string; tenantId: string; trigger: 'schedule' | 'manual'; mode: 'incremental' | 'full'; status?: RunStatus; jobId?: string },
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into connector_runs (connector_id, tenant_id, trigger, mode, status, job_id) values ($1, $2, $3, $4, $5, $6) returning id`,
    [run.connectorId, run.tenantId, run.trigger, run.mode, run.status ?? 'queued', run.jobId ?? null],
  );
  return rows[0]!.id;
}

export async function getRun(db: Queryable, runId: string): Promise<ConnectorRun | null> {
  const { rows } = await db.query<ConnectorRun>(`select ${COLUMNS} from connector_runs where id = $1`, [runId]);
  return rows[0] ?? null;
}

export async function listRuns(db: Queryable, connectorId: string, limit: number): Promise<ConnectorRun[]> {
  const { rows } = await db.query<ConnectorRun>(`select ${COLUMNS} from connector_runs where connector_id = $1 order by queued_at desc limit $2`, [connectorId, limit]);
  return rows;
}

/** The run that is queued or running for a connector, if any. */
export async function activeRun(db: Queryable, connectorId: string): Promise<ConnectorRun | null> {
  const { rows } = await db.query<ConnectorRun>(
    `select ${COLUMNS} from connector_runs where connector_id = $1 and status in ('queued', 'running', 'retrying') order by queued_at limit 1`,
    [connectorId],
  );
  return rows[0] ?? null;
}

export async function setRunJob(db: Queryable, runId: string, jobId: string): Promise<void> {
  await db.query('update connector_runs set job_id = $2 where id = $1', [runId, jobId]);
}

export async function finishRun(
  db: Queryable,
  runId: string,
  outcome: { status: 'succeeded' | 'failed' | 'retrying' | 'skipped'; error?: string; errorKind?: string },
): Promise<void> {
  await db.query(
    `update connector_runs set status = $2, error = $3, error_kind = $4,
       finished_at = case when $2 = 'retrying' then null else now() end where id = $1`,
    [runId, outcome.status, outcome.error ?? null, outcome.errorKind ?? null],
  );
}

/** The run a job created before (a scheduled job retried after a crash continues the same run). */
export async function runOfJob(db: Queryable, connectorId: string, jobId: string): Promise<string | null> {
  const { rows } = await db.query<{ id: string }>('select id from connector_runs where connector_id = $1 and job_id = $2 order by queued_at desc limit 1', [
    connectorId,
    jobId,
  ]);
  return rows[0]?.id ?? null;
}

export type ActiveRun = Pick<ConnectorRun, 'id' | 'connector_id' | 'job_id' | 'trigger' | 'mode' | 'status' | 'ingestion_id'> & { tenant_id: string };

/** Runs that say they are queued, running or retrying and were queued more than `olderThanMs` ago. */
export async function activeRuns(db: Queryable, olderThanMs: number, connectorId?: string): Promise<ActiveRun[]> {
  const { rows } = await db.query<ActiveRun>(
    `select id, connector_id, tenant_id, job_id, trigger, mode, status, ingestion_id from connector_runs
      where status in ('queued', 'running', 'retrying') and queued_at < now() - $1 * interval '1 millisecond'
        and ($2::uuid is null or connector_id = $2) order by queued_at`,
    [olderThanMs, connectorId ?? null],
  );
  return rows;
}

/** Fails a run that is still queued, running or retrying; false when it had finished meanwhile. */
export async function closeRun(db: Queryable, runId: string, error: string, errorKind: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update connector_runs set status = 'failed', error = $2, error_kind = $3, finished_at = now()
      where id = $1 and status in ('queued', 'running', 'retrying')`,
    [runId, error, errorKind],
  );
  return rowCount === 1;
}

/** Marks a run whose job was lost as waiting again, on its new job. */
export async function requeueRun(db: Queryable, runId: string, jobId: string, error: string): Promise<void> {
  await db.query(
    `update connector_runs set status = 'retrying', job_id = $2, error = $3, error_kind = 'requeued', finished_at = null
      where id = $1 and status in ('queued', 'running', 'retrying')`,
    [runId, jobId, error],
  );
}
