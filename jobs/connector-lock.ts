import type pg from 'pg';
import { NETWORK_ERROR_CODES } from '../connectors/connector-error';
import { advisoryLockHeld, advisoryUnlock, tryAdvisoryLock, type HeldLock } from '../src/db/advisory-lock';
import type { Queryable } from '../src/db/pool';
import { isUuid } from '../src/store/uuid';

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
  /** The lock's key and the backend pid of the session that holds it. */
  held: HeldLock;
  /**
   * Runs one statement's work on the session that holds the lock: while that session lives it holds the lock (only it
   * could release it), so the work needs no check of pg_locks (a scan of the server's whole lock table). A session
   * that ended under it (a restart, a terminated backend) is a LockLostError: nothing of the work committed.
   */
  onSession<T>(work: (session: Queryable) => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

/**
 * Takes the connector's session-level advisory lock on a dedicated connection and keeps it for the run.
 * If the worker dies, its connection closes and Postgres releases the lock by itself; so does a server
 * restart, which is why each batch checks that its run still holds it before committing.
 * Resolves to the lock, or null when another run holds it.
 */
export async function tryLockConnector(pool: pg.Pool, connectorId: string): Promise<ConnectorLock | null> {
  return (
    await lockWith(pool, connectorId, async (session, key) => ({
      value: null,
      pid: key === null ? null : await tryAdvisoryLock(session, key),
    }))
  ).lock;
}

/**
 * Runs `statement` on a dedicated connection, which tries the connector's lock there (given its key; null for an id that
 * is not a UUID: no lock to take) and resolves to the session's backend pid when it took it. The connection then keeps
 * the lock for the run, as `tryLockConnector` does; otherwise it goes back to the pool. A scheduled run's first
 * statement takes the lock this way, with no round trip of its own.
 */
export async function lockWith<T>(
  pool: pg.Pool,
  connectorId: string,
  statement: (session: Queryable, key: string | null) => Promise<{ value: T; pid: number | null }>,
): Promise<{ value: T; lock: ConnectorLock | null }> {
  const key = isUuid(connectorId) ? connectorLockKey(connectorId) : null;
  const client = await pool.connect();
  let taken;
  try {
    taken = await statement(client, key);
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
  if (taken.pid === null || key === null) {
    client.release();
    return { value: taken.value, lock: null };
  }
  return { value: taken.value, lock: heldOn(client, { key, pid: taken.pid }) };
}

/** The lock `held` as the session `client` holds it, until released. */
function heldOn(client: pg.PoolClient, held: HeldLock): ConnectorLock {
  const { key, pid } = held;
  return {
    held,
    async assertHeld(db) {
      if (!(await advisoryLockHeld(db, key, pid))) throw new LockLostError();
    },
    async onSession(work) {
      try {
        return await work(client);
      } catch (err) {
        throw sessionEnded(err) ? new LockLostError() : err;
      }
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

/**
 * A failure that ended the session rather than the statement: a socket error (its Node code), an ended backend with its
 * shutdown (57P0x) or connection (08…) class, or a connection pg reports closed without a code.
 */
function sessionEnded(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string') return NETWORK_ERROR_CODES.has(code) || code.startsWith('57P0') || code.startsWith('08');
  return /Connection terminated|not queryable/.test((err as Error)?.message ?? '');
}

/** Whether any session holds the connector's lock: a run is in progress somewhere. */
export async function connectorLocked(db: Queryable, connectorId: string): Promise<boolean> {
  return advisoryLockHeld(db, connectorLockKey(connectorId));
}
