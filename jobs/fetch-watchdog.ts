import type { Queue } from 'bullmq';
import type { Logger } from '../src/outage-log';

export interface FetchWatchOptions {
  /** The queue the worker takes its jobs from (for what is due, and whether an operator paused it). */
  queue: Queue;
  /** True while this process runs no job: only then is a loop that takes nothing a stuck loop, not a busy one. */
  idle: () => boolean;
  /** When this process last took a job (ms since the epoch). */
  lastTakenAt: () => number;
  /** Replaces the worker's fetch loop with a new one. */
  restart: () => void;
  log: Logger;
  /** How long a job may stay due, with this process idle and taking nothing, before the loop is restarted. */
  graceMs?: number;
  /** How often it looks. */
  everyMs?: number;
}

const FETCH_GRACE_MS = 30_000;
const FETCH_CHECK_MS = 5_000;

/**
 * BullMQ takes jobs in a loop that waits on a blocking Redis connection. After some connection resets (a Redis Cluster
 * created afresh, a failover, a socket that went half-open) that wait can stay parked for good: the process answers, its
 * running pulls finish, yet no job is taken again until it restarts, while every fire is recorded missed. This looks
 * for that state (a job due for `graceMs`, the process idle all along, nothing taken) and restarts the loop. A healthy
 * idle worker takes a due job within its drain delay, and a queue an operator paused is left alone.
 * Returns the function that stops watching.
 */
export function watchFetch(opts: FetchWatchOptions): () => void {
  const graceMs = opts.graceMs ?? FETCH_GRACE_MS;
  let dueSince: number | null = null;
  let checking = false;
  let stopped = false;
  const check = async () => {
    const now = Date.now();
    if (!opts.idle() || !(await hasDueJob(opts.queue, now)) || stopped) return void (dueSince = null);
    if (dueSince === null || opts.lastTakenAt() >= dueSince) return void (dueSince = now);
    if (now - dueSince < graceMs) return;
    opts.log.error(
      { component: 'pull worker', due_for_ms: now - dueSince },
      'the pull worker took no job while one was due and it was idle; restarting its fetch loop',
    );
    dueSince = null;
    opts.restart();
  };
  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    // Redis away: the outage is logged by the worker itself, and nothing here can be told.
    check()
      .catch(() => (dueSince = null))
      .finally(() => (checking = false));
  }, opts.everyMs ?? FETCH_CHECK_MS).unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

/** A job waiting to be taken, or a delayed one whose time has come (a healthy worker promotes it as it comes). */
async function hasDueJob(queue: Queue, now: number): Promise<boolean> {
  if (await queue.isPaused()) return false;
  const counts = await queue.getJobCounts('waiting', 'prioritized');
  if ((counts.waiting ?? 0) + (counts.prioritized ?? 0) > 0) return true;
  const [next] = await queue.getJobs(['delayed'], 0, 0, true);
  return next !== undefined && next.timestamp + (next.delay ?? 0) <= now;
}
