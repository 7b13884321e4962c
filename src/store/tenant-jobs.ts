import type { Queryable } from '../db/pool';

/** A queue job a tenant owns, as PostgreSQL knows it (never from the job's data in Redis). */
export interface OwnedJob {
  jobId: string;
  connectorId: string;
  runId: string | null;
  /** The run's own error: what a tenant is shown as a job's failure reason. */
  error: string | null;
}

// BullMQ names a scheduler's jobs "repeat:<scheduler id>:<fire time>", and a connector's scheduler is "connector:<id>".
const SCHEDULED = /^repeat:connector:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):\d+$/;

/**
 * Which of these job ids belong to the tenant: a job whose run (`connector_runs.job_id`) is the tenant's, or a job
 * fired by the scheduler of one of the tenant's connectors that has not started a run yet.
 */
export async function ownedJobs(db: Queryable, tenantId: string, jobIds: string[]): Promise<Map<string, OwnedJob>> {
  if (jobIds.length === 0) return new Map();
  const scheduledConnector = jobIds.map((id) => SCHEDULED.exec(id)?.[1] ?? null);
  const { rows } = await db.query<{ job_id: string; connector_id: string; run_id: string | null; error: string | null }>(
    `select j.job_id, coalesce(r.connector_id, c.id) as connector_id, r.id as run_id, r.error
       from unnest($2::text[], $3::uuid[]) as j(job_id, scheduled_connector)
       left join lateral (
         select id, connector_id, error from connector_runs where job_id = j.job_id and tenant_id = $1 order by queued_at desc limit 1
       ) r on true
       left join connectors c on c.id = j.scheduled_connector and c.tenant_id = $1
      where r.id is not null or c.id is not null`,
    [tenantId, jobIds, scheduledConnector],
  );
  return new Map(rows.map((r) => [r.job_id, { jobId: r.job_id, connectorId: r.connector_id, runId: r.run_id, error: r.error }]));
}

/** The ids of the tenant's connectors. */
export async function tenantConnectorIds(db: Queryable, tenantId: string): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>('select id from connectors where tenant_id = $1', [tenantId]);
  return new Set(rows.map((r) => r.id));
}
