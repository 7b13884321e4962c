import type pg from 'pg';
import { withTransaction } from './pool';

/** serialization_failure and deadlock_detected: PostgreSQL rolled the transaction back and it may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);

export interface RetryOptions {
  /** Attempts in all, the first included; default 6. */
  attempts?: number;
  /** The first pause; each next one doubles, each drawn at random below its cap (full jitter). Default 20 ms. */
  baseDelayMs?: number;
}

function isRetryableConflict(err: unknown): boolean {
  return typeof err === 'object' && err !== null && RETRYABLE.has((err as { code?: unknown }).code as string);
}

/**
 * `withTransaction`, run again when PostgreSQL gives up on it because of another writer (a deadlock or a
 * serialization failure), at most `attempts` times with jittered backoff. `fn` must be safe to run again:
 * everything it changes outside the database has to wait until this resolves.
 */
export async function withRetriedTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 6;
  const base = opts.baseDelayMs ?? 20;
  for (let attempt = 1; ; attempt++) {
    try {
      return await withTransaction(pool, fn);
    } catch (err) {
      if (attempt >= attempts || !isRetryableConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * base * 2 ** (attempt - 1)));
    }
  }
}
