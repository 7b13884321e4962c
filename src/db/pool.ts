import pg from 'pg';
import { outageLog, stderrLogger, type Logger } from '../outage-log';

/** Anything that runs a query: a pool, or a client inside a transaction. */
export type Queryable = Pick<pg.Pool, 'query'>;

/**
 * A pool with a `role` (the reconciler's) is told apart from the main one in pg_stat_activity (`qanatix-<role>`) and in
 * the outage log (`postgres (<role>)`), which logs each pool's outage once.
 */
export function createPool(connectionString: string, max = 10, log: Logger = stderrLogger, role?: string): pg.Pool {
  // A pool that cannot hand out a connection for 30 s fails the caller loudly instead of hanging it.
  const application_name = role ? `qanatix-${role}` : 'qanatix';
  const pool = new pg.Pool({ connectionString, max, application_name, connectionTimeoutMillis: 30_000 });
  const outage = outageLog(log, role ? `postgres (${role})` : 'postgres');
  // A server restart ends every connection with an 'error' event: on an idle client the pool's, on a client
  // that is checked out (a transaction, the connector lock held for a whole run) the client's own. Unheard,
  // either kills the process. The query in flight fails on its own; the event only needs to be logged.
  pool.on('error', outage.down);
  pool.on('connect', (client) => {
    client.on('error', outage.down);
    outage.up();
  });
  return pool;
}

/** Runs `fn` in a transaction on one client: COMMIT when it resolves, ROLLBACK when it throws. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A client that cannot even roll back has lost its connection: the pool must not hand it out again.
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}
