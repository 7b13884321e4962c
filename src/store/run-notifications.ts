import type { NotifyEvent } from '../../connectors/notify-config';
import type { Queryable } from '../db/pool';
import { isUuid } from './uuid';

/**
 * The `connector_notifications` table: one row per run and event a connector's `notify` asked for, written when the
 * run ends and before anything is sent, so a run settled twice (by its worker and by the reconciler) or a job
 * redelivered sends one notification at most once it is delivered.
 */
export interface RunNotification {
  run_id: string;
  event: NotifyEvent;
  connector_id: string;
  tenant_id: string;
  state: 'pending' | 'delivered' | 'failed';
  attempts: number;
}

/**
 * Records the notification a finished run owes, when its connector asks for that event: `failed` (the run failed for
 * good), `needs_confirmation` (a sweep the guard stopped), `recovered` (it succeeded, and the connector's run that
 * finished last before it, among those that succeeded or failed, failed). Null when none is owed or it was recorded
 * before.
 */
export async function claimRunNotification(db: Queryable, runId: string): Promise<RunNotification | null> {
  if (!isUuid(runId)) return null;
  const { rows } = await db.query<RunNotification>(
    `with run as (
       select r.id, r.connector_id, r.tenant_id, r.finished_at, c.settings->'notify'->'on' as wanted,
              case r.status when 'failed' then 'failed' when 'needs_confirmation' then 'needs_confirmation'
                when 'succeeded' then (
                  select case p.status when 'failed' then 'recovered' end from connector_runs p
                   where p.connector_id = r.connector_id and p.id <> r.id and p.status in ('succeeded', 'failed')
                     and p.finished_at <= r.finished_at
                   order by p.finished_at desc limit 1)
              end as event
         from connector_runs r join connectors c on c.id = r.connector_id
        where r.id = $1 and c.notify_url_sealed is not null
     )
     insert into connector_notifications (run_id, event, connector_id, tenant_id)
     select id, event, connector_id, tenant_id from run where event is not null and wanted ? event
     on conflict (run_id, event) do nothing
     returning run_id, event, connector_id, tenant_id, state, attempts`,
    [runId],
  );
  return rows[0] ?? null;
}

/** A notification job's row, only when it is of this connector of this tenant (job data comes back from Redis). */
export async function getRunNotification(
  db: Queryable,
  n: { runId: string; event: string; connectorId: string; tenantId: string },
): Promise<RunNotification | null> {
  if (![n.runId, n.connectorId, n.tenantId].every(isUuid)) return null;
  const { rows } = await db.query<RunNotification>(
    `select run_id, event, connector_id, tenant_id, state, attempts from connector_notifications
      where run_id = $1 and event = $2 and connector_id = $3 and tenant_id = $4`,
    [n.runId, n.event, n.connectorId, n.tenantId],
  );
  return rows[0] ?? null;
}

/**
 * Records an attempt: `delivered` and `failed` end the notification (a later job for it sends nothing), `pending`
 * counts the attempt only. False when it had already ended.
 */
export async function recordNotificationAttempt(
  db: Queryable,
  runId: string,
  event: string,
  outcome: { state: RunNotification['state']; attempt: number; statusCode: number | null },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `update connector_notifications set state = $3, attempts = greatest(attempts, $4), status_code = $5,
       finished_at = case when $3 = 'pending' then null else now() end
     where run_id = $1 and event = $2 and state = 'pending'`,
    [runId, event, outcome.state, outcome.attempt, outcome.statusCode],
  );
  return rowCount === 1;
}

/** Notifications still pending that were recorded more than `olderThanMs` ago (their job may have been lost). */
export async function pendingNotifications(db: Queryable, olderThanMs: number, limit = 500): Promise<RunNotification[]> {
  const { rows } = await db.query<RunNotification>(
    `select run_id, event, connector_id, tenant_id, state, attempts from connector_notifications
      where state = 'pending' and created_at < now() - $1 * interval '1 millisecond' order by created_at limit $2`,
    [olderThanMs, limit],
  );
  return rows;
}
