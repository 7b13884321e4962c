import type { Cursor } from '../../connectors/contract';
import type { Queryable } from '../db/pool';
import { addRunEvent } from './run-events';
import { randomUUID } from 'node:crypto';

/**
 * The `connector_state` table: one row per connector, the position its pulls have committed. The cursor is
 * written in the transaction of the batch it follows, `last_pull` when a run succeeds (see pull-progress.ts).
 */
export interface ConnectorState {
  cursor: Cursor | null;
  last_pull: string | null;
  updated_at: string;
}

/** A new connector's state: nothing committed yet. */
export async function createConnectorState(db: Queryable, connectorId: string): Promise<void> {
  await db.query('insert into connector_state (connector_id) values ($1)', [connectorId]);
}

export async function getConnectorState(db: Queryable, connectorId: string): Promise<ConnectorState> {
  const { rows } = await db.query<ConnectorState>('select cursor, last_pull, updated_at from connector_state where connector_id = $1', [
    connectorId,
  ]);
  return rows[0] ?? { cursor: null, last_pull: null, updated_at: new Date().toISOString() };
}

/** Forgets the committed position: the next incremental run reads from the beginning. */
export async function resetConnectorState(db: Queryable, connectorId: string): Promise<void> {
  await db.query('update connector_state set cursor = null, last_pull = null, updated_at = now() where connector_id = $1', [connectorId]);
}

/**
 * Moves the committed position by hand: the next incremental run reads strictly after `cursor`. Recorded in the run
 * history as an operator's run (trigger `operator`, mode `set_state`) with the position before and after; run it in
 * a transaction that holds the connector's lock. Resolves to that run's id.
 */
export async function setConnectorCursor(db: Queryable, connectorId: string, tenantId: string, cursor: Cursor): Promise<string> {
  const { rows } = await db.query<{ before: Cursor | null }>(
    `with old as (select cursor from connector_state where connector_id = $1 for update)
     update connector_state set cursor = $2, updated_at = now() where connector_id = $1 returning (select cursor from old) as before`,
    [connectorId, JSON.stringify(cursor)],
  );
  const id = randomUUID();
  await db.query(
    `insert into connector_runs (id, connector_id, tenant_id, trigger, mode, status, cursor_before, cursor_after, attempts, started_at, finished_at)
     values ($1, $2, $3, 'operator', 'set_state', 'succeeded', $4, $5, 0, now(), now())`,
    [id, connectorId, tenantId, JSON.stringify(rows[0]?.before ?? null), JSON.stringify(cursor)],
  );
  await addRunEvent(db, id, 'state_set', { before: rows[0]?.before ?? null, cursor });
  return id;
}
