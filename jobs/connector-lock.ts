import type pg from 'pg';
import type { Queryable } from '../src/db/pool';

/** A connector's advisory lock key: 64 bits of its UUID, so two connectors never share a lock. */
export function connectorLockKey(connectorId: string): string {
  return BigInt.asIntN(64, BigInt('0x' + connectorId.replaceAll('-', '').slice(0, 16))).toString();
}

/** How pg_locks shows a one-bigint advisory lock: the high and low 32 bits as `classid` and `objid`. */
function lockIds(connectorId: string): [string, string] {
  const key = BigInt.asUintN(64, BigInt(connectorLockKey(connectorId)));
  return [(key >> 32n).toString(), (key & 0xffffffffn).toString()];
}

const HELD_BY = `select exists (select 1 from pg_locks where locktype = 'advisory' and granted and objsubid = 1
  and database = (select oid from pg_database where datname = current_database()) and classid = $1::oid and objid = $2::oid`;

/** The run lost its lock (its session ended: a restart, a terminated backend): it must stop before committing more. */
export class LockLostError extends Error {
  constructor() {
    super('the connection holding this run\'s connector lock closed (the platform database restarted or ended it); resumes from the committed cursor');
    this.name = 'LockLostError';
  }
}

export interface ConnectorLock {
  /** Throws LockLostError unless the session that took the lock still holds it; run inside each batch's transaction. */
  assertHeld(db: Queryable): Promise<void>;
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
  let pid: number;
  try {
    const { rows } = await client.query<{ ok: boolean; pid: number }>('select pg_try_advisory_lock($1::bigint) as ok, pg_backend_pid() as pid', [key]);
    if (!rows[0]!.ok) {
      client.release();
      return null;
    }
    pid = rows[0]!.pid;
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
  const [classid, objid] = lockIds(connectorId);
  return {
    async assertHeld(db) {
      const { rows } = await db.query<{ held: boolean }>(`${HELD_BY} and pid = $3) as held`, [classid, objid, pid]);
      if (!rows[0]!.held) throw new LockLostError();
    },
    async release() {
      try {
        await client.query('select pg_advisory_unlock($1::bigint)', [key]);
        client.release();
      } catch (err) {
        client.release(err as Error);
      }
    },
  };
}

/** Whether any session holds the connector's lock: a run is in progress somewhere. */
export async function connectorLocked(db: Queryable, connectorId: string): Promise<boolean> {
  const { rows } = await db.query<{ held: boolean }>(`${HELD_BY}) as held`, [...lockIds(connectorId)]);
  return rows[0]!.held;
}
