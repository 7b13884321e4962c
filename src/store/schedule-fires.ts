import { randomUUID } from 'node:crypto';
import type { Queryable } from '../db/pool';
import type { SecretBox } from '../crypto/secret-box';
import type { RunMode, RunStatus } from './connector-runs';
import { connectorForRun, type ConnectorForRun, type ConnectorRow } from './connectors';
import { isUuid } from './uuid';

/**
 * Fires of connectors' job schedulers as `connector_runs` rows: each fire that reaches a worker becomes a run with its
 * fire time (`scheduled_for`) and the job id that names the fire; a fire that never did is recorded `missed`.
 */

type FireRun = { id: string; status: RunStatus; attempts: number; cancel_requested_at: string | null };

// A fire first recorded as missed whose job turned up after all (a stalled worker) becomes its run: it runs now.
const MISSED_RUNS_NOW = `on conflict (connector_id, job_id) where scheduled_for is not null
       do update set status = case when connector_runs.status = 'missed' then 'running' else connector_runs.status end,
                     error = case when connector_runs.status = 'missed' then null else connector_runs.error end,
                     error_kind = case when connector_runs.status = 'missed' then null else connector_runs.error_kind end,
                     finished_at = case when connector_runs.status = 'missed' then null else connector_runs.finished_at end
     returning id, status, attempts, cancel_requested_at`;

/** The run of one scheduler fire: created by the first worker that takes the fire's job, found again by its retries. */
export async function runOfFire(
  db: Queryable,
  fire: { connectorId: string; tenantId: string; jobId: string; fireAt: number; mode: RunMode },
): Promise<FireRun> {
  const { rows } = await db.query<FireRun>(
    `insert into connector_runs (id, connector_id, tenant_id, trigger, mode, status, job_id, scheduled_for)
     values ($1, $2, $3, 'schedule', $4, 'running', $5, to_timestamp($6::float8 / 1000))
     ${MISSED_RUNS_NOW}`,
    [randomUUID(), fire.connectorId, fire.tenantId, fire.mode, fire.jobId, fire.fireAt],
  );
  return rows[0]!;
}

/**
 * A scheduled fire's connector (of the tenant its job names) and, when the connector is enabled, its run as `runOfFire`
 * makes it, in one statement. `run` is null for a paused connector (a retry of a run it already has finds it with
 * `runOfJob`); both are null without such a connector. With `lockKey`, the statement also tries that session-level
 * advisory lock when the connector exists: `lockPid` is then the session's backend pid, null when another session holds
 * it (or nothing was tried).
 */
export async function connectorAndRunOfFire(
  db: Queryable,
  box: SecretBox,
  fire: { connectorId: string; tenantId: string; jobId: string; fireAt: number; mode: RunMode; lockKey?: string | null },
): Promise<{ connector: ConnectorForRun | null; run: FireRun | null; lockPid: number | null }> {
  if (!isUuid(fire.connectorId) || !isUuid(fire.tenantId)) return { connector: null, run: null, lockPid: null };
  const { rows } = await db.query<{ connector: ConnectorRow; run: FireRun | null; lock_pid: number | null }>({
    // Named, prepared once per connection: every scheduled run sends it (see pull-progress.ts).
    name: 'connector-and-run-of-fire',
    text: `with c as (select * from connectors where id = $2 and tenant_id = $3),
          r as (insert into connector_runs (id, connector_id, tenant_id, trigger, mode, status, job_id, scheduled_for)
                select $1, c.id, c.tenant_id, 'schedule', $4, 'running', $5, to_timestamp($6::float8 / 1000) from c where c.enabled
                ${MISSED_RUNS_NOW})
     select to_jsonb(c) as connector, (select to_jsonb(r) from r) as run,
            case when pg_try_advisory_lock($7::bigint) then pg_backend_pid() end as lock_pid
       from c`,
    values: [randomUUID(), fire.connectorId, fire.tenantId, fire.mode, fire.jobId, fire.fireAt, fire.lockKey ?? null],
  });
  const row = rows[0];
  return row
    ? { connector: connectorForRun(box, row.connector), run: row.run, lockPid: row.lock_pid }
    : { connector: null, run: null, lockPid: null };
}

/** A connector's schedule with the fire times its runs recorded lately: what the missed-fire check compares. */
export interface ScheduleFires {
  id: string;
  tenant_id: string;
  schedule: string;
  timezone: string;
  /** When the connector last changed (epoch ms): fires of an earlier schedule are not this schedule's. */
  changed: number;
  /** The latest recorded fire before the window (epoch ms), or null. */
  before: number | null;
  /** The recorded fires within the window (epoch ms). */
  recent: number[];
}

/**
 * Every enabled, scheduled connector with its pull scheduler's recorded fires (a sweep's or verify's scheduler has fires
 * of its own) of the last `windowMs` and the last one before them.
 */
export async function scheduleFires(db: Queryable, windowMs: number): Promise<ScheduleFires[]> {
  const ms = (col: string) => `(extract(epoch from ${col}) * 1000)::float8`;
  const { rows } = await db.query<ScheduleFires>(
    `select c.id, c.tenant_id, c.schedule, c.timezone, ${ms('c.updated_at')} as changed,
       (select ${ms('max(r.scheduled_for)')} from connector_runs r
         where r.connector_id = c.id and r.mode = 'incremental' and r.scheduled_for is not null and r.scheduled_for < now() - $1 * interval '1 millisecond') as before,
       array(select ${ms('r.scheduled_for')} from connector_runs r
         where r.connector_id = c.id and r.mode = 'incremental' and r.scheduled_for >= now() - $1 * interval '1 millisecond') as recent
     from connectors c where c.enabled and c.schedule is not null`,
    [windowMs],
  );
  return rows;
}

/**
 * Records fires that never became a run as `missed` runs (one per fire; a fire recorded already is left alone).
 * Resolves to the fires recorded now.
 */
export async function recordMissedFires(
  db: Queryable,
  c: { connectorId: string; tenantId: string },
  fires: Array<{ fireAt: number; jobId: string }>,
  why: string,
): Promise<number[]> {
  if (fires.length === 0) return [];
  const { rows } = await db.query<{ fire: number }>(
    `insert into connector_runs (id, connector_id, tenant_id, trigger, mode, status, job_id, scheduled_for, queued_at, finished_at, error, error_kind)
     select gen_random_uuid(), $1, $2, 'schedule', 'incremental', 'missed', f.job_id, to_timestamp(f.fire / 1000), to_timestamp(f.fire / 1000),
            now(), $5, 'missed'
       from unnest($3::text[], $4::float8[]) as f(job_id, fire)
     on conflict (connector_id, job_id) where scheduled_for is not null do nothing
     returning (extract(epoch from scheduled_for) * 1000)::float8 as fire`,
    [c.connectorId, c.tenantId, fires.map((f) => f.jobId), fires.map((f) => f.fireAt), why],
  );
  return rows.map((r) => r.fire);
}
