import type { Queryable } from '../db/pool';

/**
 * The `connector_run_events` table: what happened during a run, in order. A committed batch's event is written by the
 * batch's own statement (pull-progress.ts); the others here.
 */
export type RunEventKind =
  | 'started'
  | 'batch'
  | 'retrying'
  | 'held_back'
  | 'schema_drift'
  | 'succeeded'
  | 'failed'
  | 'cancel_requested'
  | 'cancelled'
  | 'state_set'
  | 'notification_sent'
  | 'notification_failed';

export interface RunEvent {
  id: number;
  at: string;
  kind: RunEventKind;
  detail: Record<string, unknown>;
}

export async function addRunEvent(db: Queryable, runId: string, kind: RunEventKind, detail: Record<string, unknown> = {}): Promise<void> {
  await db.query('insert into connector_run_events (run_id, kind, detail) values ($1, $2, $3)', [runId, kind, JSON.stringify(detail)]);
}

/** A run's events in the order they happened, at most `limit` after the event `after` (0: from the first). */
export async function listRunEvents(db: Queryable, runId: string, after: number, limit: number): Promise<RunEvent[]> {
  const { rows } = await db.query<RunEvent>(
    'select id::float8 as id, at, kind, detail from connector_run_events where run_id = $1 and id > $2 order by id limit $3',
    [runId, after, limit],
  );
  return rows;
}
