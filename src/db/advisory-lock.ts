import type { Queryable } from './pool';

/** How pg_locks shows a one-bigint advisory lock: the high and low 32 bits as `classid` and `objid`. */
function lockIds(key: string): [string, string] {
  const k = BigInt.asUintN(64, BigInt(key));
  return [(k >> 32n).toString(), (k & 0xffffffffn).toString()];
}

/**
 * Takes the session-level advisory lock `key` (a signed 64-bit integer as text) on `session` without waiting.
 * Resolves to the backend pid of the session that now holds it, or null when another session holds it.
 */
export async function tryAdvisoryLock(session: Queryable, key: string): Promise<number | null> {
  // Named, prepared once per connection: every run sends it and its release (see src/store/pull-progress.ts).
  const { rows } = await session.query<{ ok: boolean; pid: number }>({
    name: 'try-advisory-lock',
    text: 'select pg_try_advisory_lock($1::bigint) as ok, pg_backend_pid() as pid',
    values: [key],
  });
  return rows[0]!.ok ? rows[0]!.pid : null;
}

export async function advisoryUnlock(session: Queryable, key: string): Promise<void> {
  await session.query({ name: 'advisory-unlock', text: 'select pg_advisory_unlock($1::bigint)', values: [key] });
}

/**
 * SQL that is true while the lock is held in this database: by the session with backend `pid` when given, else by any
 * session. Its three parameters, from `$first`, are `lockHeldParams(key, pid)`.
 */
const lockHeldSql = (first: number) =>
  `exists (select 1 from pg_locks where locktype = 'advisory' and granted and objsubid = 1
     and database = (select oid from pg_database where datname = current_database()) and classid = $${first}::oid and objid = $${first + 1}::oid
     and ($${first + 2}::int is null or pid = $${first + 2}))`;

/** A session-level advisory lock some session took: its key and that session's backend pid. */
export interface HeldLock {
  key: string;
  pid: number;
}

const lockHeldParams = (key: string, pid?: number): [string, string, number | null] => [...lockIds(key), pid ?? null];

/** Whether the lock is held in this database: by the session with backend `pid` when given, else by any session. */
export async function advisoryLockHeld(db: Queryable, key: string, pid?: number): Promise<boolean> {
  const { rows } = await db.query<{ held: boolean }>(`select ${lockHeldSql(1)} as held`, lockHeldParams(key, pid));
  return rows[0]!.held;
}
