import type pg from 'pg';

/** A connector's advisory lock key: 64 bits of its UUID, so two connectors never share a lock. */
export function connectorLockKey(connectorId: string): string {
  return BigInt.asIntN(64, BigInt('0x' + connectorId.replaceAll('-', '').slice(0, 16))).toString();
}

/**
 * Takes the connector's session-level advisory lock on a dedicated connection and keeps it for the run.
 * If the worker dies, its connection closes and Postgres releases the lock by itself.
 * Resolves to a release function, or null when another run holds the lock.
 */
export async function tryLockConnector(pool: pg.Pool, connectorId: string): Promise<(() => Promise<void>) | null> {
  const client = await pool.connect();
  const key = connectorLockKey(connectorId);
  try {
    const { rows } = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1::bigint) as ok', [key]);
    if (!rows[0]!.ok) {
      client.release();
      return null;
    }
  } catch (err) {
    client.release(err as Error);
    throw err;
  }
  return async () => {
    try {
      await client.query('select pg_advisory_unlock($1::bigint)', [key]);
      client.release();
    } catch (err) {
      client.release(err as Error);
    }
  };
}
