import type pg from 'pg';
import { advisoryLockHeld, advisoryUnlock, tryAdvisoryLock, type HeldLock } from '../src/db/advisory-lock';
import type { Queryable } from '../src/db/pool';

/** A connector's advisory lock key: 64 bits of its UUID, so two connectors never share a lock. */
export function connectorLockKey(connectorId: string): string {
  return BigInt.asIntN(64, BigInt('0x' + connectorId.replaceAll('-', '').slice(0, 16))).toString();
}

/** The run lost its lock (its session ended: a restart, a terminated backend): it must stop before committing more. */
export class LockLostError extends Error {
  constructor() {
    super(
      "the connection holding this run's connector lock closed (the platform database restarted or ended it); resumes from the committed cursor",
    );
    this.name = 'LockLostError';
  }
}

export interface ConnectorLock {
  /** Throws LockLostError unless the session that took the lock still holds it; run inside each batch's transaction. */
  assertHeld(db: Queryable): Promise<void>;
  /** The lock and its session, for a statement that checks it in the same round trip as its work (see `lockHeldSql`). */
  held: HeldLock;
  release(): Promise<void>;
}

/**
 * Takes the connector's session-level advisory lock on a dedicated connection and keeps it for the run.
 * If the worker dies, its connection closes and Postgres releases the lock by itself; so does a server
 * restart, which is why each batch checks that its run still holds the lock before committing.
 * Resolves to the lock, or null when another run holds it.
 */
export async function tryLockConnector(pool: pg.Pool, connectorId: string): Promise<ConnectorLock | null> {
  const client = await pool.connect();
  const key = connectorLockKey(connectorId);
  const pid = await tryAdvisoryLock(client, key).catch((err: Error) => {
    client.release(err);
    throw err;
  });
  if (pid === null) {
    client.release();
    return null;
  }
  return {
    held: { key, pid },
    async assertHeld(db) {
      if (!(await advisoryLockHeld(db, key, pid))) throw new LockLostError();
    },
    async release() {
      try {
        await advisoryUnlock(client, key);
        client.release();
      } catch (err) {
        client.release(err as Error);
      }
    },
  };
}

/** Whether any session holds the connector's lock: a run is in progress somewhere. */
export async function connectorLocked(db: Queryable, connectorId: string): Promise<boolean> {
  return advisoryLockHeld(db, connectorLockKey(connectorId));
}
