import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { SecretBox } from '../src/crypto/secret-box';
import { createPullProcessor, type Logger } from './pull-processor';
import { PULL_QUEUE, type PullJobData } from './pull-queue';
import { QUEUE_PREFIX } from './redis-connection';

export interface WorkerOptions {
  pool: pg.Pool;
  box: SecretBox;
  connection: Redis;
  log: Logger;
  /** Pulls run at once by this process (each of a different connector). */
  concurrency?: number;
  /**
   * How long a job's lock lives without renewal (renewed every half of it while a pull runs): long enough
   * that a slow batch never loses it, short enough that a killed worker's job is picked up again soon.
   */
  lockDurationMs?: number;
}

export interface RunningWorker {
  worker: Worker<PullJobData>;
  /** Stops taking jobs, lets running pulls commit their current batch and hand the rest back, then closes. */
  close(): Promise<void>;
}

export function startWorker(opts: WorkerOptions): RunningWorker {
  const shutdown = new AbortController();
  const worker = new Worker<PullJobData>(PULL_QUEUE, createPullProcessor({ pool: opts.pool, box: opts.box, log: opts.log, shutdown: shutdown.signal }), {
    connection: opts.connection,
    prefix: QUEUE_PREFIX,
    concurrency: opts.concurrency ?? 2,
    lockDuration: opts.lockDurationMs ?? 60_000,
    stalledInterval: Math.min(15_000, opts.lockDurationMs ?? 60_000),
    maxStalledCount: 3,
  });
  worker.on('error', (err) => opts.log.error({ err: err.message }, 'worker error'));
  return {
    worker,
    async close() {
      shutdown.abort();
      await worker.close();
    },
  };
}
