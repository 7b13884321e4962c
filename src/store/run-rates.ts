import type { Queryable } from '../db/pool';

/**
 * Rows per second a connector's recent pulls read (its last 20 successful incremental or full runs that read rows),
 * the figure a full resync is timed by; null before its first such run.
 */
export async function pastReadRate(db: Queryable, connectorId: string): Promise<number | null> {
  const { rows } = await db.query<{ rate: number | null }>(
    `select sum(rows_read)::float8 / nullif(sum(extract(epoch from finished_at - started_at)), 0)::float8 as rate
     from (select rows_read, started_at, finished_at from connector_runs
           where connector_id = $1 and status = 'succeeded' and mode in ('incremental', 'full') and rows_read > 0
             and started_at is not null and finished_at is not null
           order by finished_at desc limit 20) recent`,
    [connectorId],
  );
  return rows[0]?.rate ?? null;
}
