import type { Cursor } from '../../connectors/contract';
import type { Queryable } from '../db/pool';

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
