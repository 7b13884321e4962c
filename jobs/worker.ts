import { Queue, Worker } from 'bullmq';
import type pg from 'pg';
import { closeKeptConnectors } from '../connectors/registry';
import type { SourcePolicy } from '../connectors/source-policy';
import { sourceRulesFromEnv } from '../src/config';
import type { SecretBox } from '../src/crypto/secret-box';
import { bounded } from '../src/bounded';
import { outageLog, type Logger } from '../src/outage-log';
import { sourcePolicy } from '../src/source-policy';
import { watchFetch } from './fetch-watchdog';
import { createNotifyProcessor, NOTIFY_TIMEOUT_MS } from './notify-processor';
import {
  createNotifyQueue,
  notifyRunEnd,
  NOTIFY_BACKOFF_MS,
  NOTIFY_QUEUE,
  queuePendingNotifications,
  type NotifyJobData,
} from './notify-queue';
import { createPullProcessor } from './pull-processor';
import { PULL_QUEUE, type PullJobData } from './pull-queue';
import { QUEUE_PREFIX, type RedisConnection } from './redis-connection';
import { nextFireMillis } from './schedule';
import { closeRunOfFailedJob } from './run-recovery';

/** How many times a pull may lose its worker (killed, out of memory) before its job is given up. */
const DEFAULT_MAX_STALLS = 10;

export interface WorkerOptions {
  pool: pg.Pool;
  box: SecretBox;
  connection: RedisConnection;
  log: Logger;
  /** Pulls run at once by this process (each of a different connector). */
  concurrency?: number;
  /**
   * How long a job's lock lives without renewal (renewed every half of it while a pull runs): long enough
   * that a slow batch never loses it, short enough that a killed worker's job is picked up again soon.
   */
  lockDurationMs?: number;
  /** A job whose worker died more often than this fails (and its run is closed with the reason). */
  maxStalls?: number;
  /** The watch for a fetch loop that stopped taking jobs (jobs/fetch-watchdog.ts); its defaults suit production. */
  fetchWatch?: { graceMs?: number; everyMs?: number };
  /** Failure notifications: the first retry's delay, one attempt's time limit, and the policy their URLs are held to. */
  notify?: { backoffMs?: number; timeoutMs?: number; policy?: () => Promise<SourcePolicy> };
}

/** How long BullMQ's close of a worker may take once nothing runs in it (within the server's 5 s for the whole step). */
const BULLMQ_CLOSE_MS = 4_000;

/** How often notifications recorded without a job (a run settled by the reconciler or the API) are queued. */
const PENDING_NOTIFICATIONS_MS = 15_000;

export interface RunningWorker {
  worker: Worker<PullJobData>;
  /** Delivers failure notifications, beside the pulls: a slow receiver never holds a pull slot. */
  notifier: Worker<NotifyJobData>;
  /** Stops taking jobs and waits for the running pulls to commit their current batch and hand the rest back. */
  drain(): Promise<void>;
  /** Closes the worker's connections (after drain: nothing is left running). */
  close(): Promise<void>;
}

export function startWorker(opts: WorkerOptions): RunningWorker {
  const shutdown = new AbortController();
  const lockDuration = opts.lockDurationMs ?? 60_000;
  const notifyQueue = createNotifyQueue(opts.connection, opts.log, opts.notify?.backoffMs ?? NOTIFY_BACKOFF_MS);
  const notify = (runId: string) => notifyRunEnd(opts.pool, notifyQueue, runId, opts.log);
  const processPull = createPullProcessor({ pool: opts.pool, box: opts.box, log: opts.log, shutdown: shutdown.signal, notify });
  const running = new Set<Promise<unknown>>();
  let lastTakenAt = 0;
  // BullMQ reports Redis outages, lost job locks and failed bookkeeping here; the pulls themselves go on.
  const errors = outageLog(opts.log, 'pull worker');
  opts.connection.on('ready', errors.up);
  const pullWorker = () => {
    const w = new Worker<PullJobData>(
      PULL_QUEUE,
      (job, token) => {
        lastTakenAt = Date.now();
        const pull = processPull(job, token);
        running.add(pull);
        void pull.finally(() => running.delete(pull)).catch(() => {});
        return pull;
      },
      {
        connection: opts.connection,
        prefix: QUEUE_PREFIX,
        concurrency: opts.concurrency ?? 2,
        lockDuration,
        stalledInterval: Math.min(15_000, lockDuration),
        // A stall does not count as an attempt: without a limit of its own a crash-looping pull would never end.
        maxStalledCount: opts.maxStalls ?? DEFAULT_MAX_STALLS,
        // Taking a scheduler's job makes its next one: each pattern is parsed once, not once per job.
        settings: { repeatStrategy: nextFireMillis },
      },
    );
    w.on('error', errors.down);
    w.on('completed', errors.up);
    // BullMQ fails a job past its stall limit without running it: the run must not stay "running".
    w.on('failed', (job) => {
      if (!job) return;
      const ctx = { connectorId: job.data.connectorId, jobId: job.id };
      closeRunOfFailedJob(opts.pool, job).then(
        (closed) => closed && opts.log.warn({ ...ctx, reason: job.failedReason }, 'run closed: its job failed without it'),
        (err: Error) => opts.log.warn({ ...ctx, err: err.message }, 'could not close the run of a failed job now; the reconciler will'),
      );
    });
    return w;
  };
  let worker = pullWorker();
  // The watch reads the queue through the worker's connection: an outage there is the worker's own, logged as such.
  const pullQueue = new Queue<PullJobData>(PULL_QUEUE, { connection: opts.connection, prefix: QUEUE_PREFIX });
  pullQueue.on('error', errors.down);
  const stopWatching = watchFetch({
    queue: pullQueue,
    idle: () => running.size === 0,
    lastTakenAt: () => lastTakenAt,
    log: opts.log,
    ...opts.fetchWatch,
    restart() {
      // Nothing runs in the stuck one: closed by force, it drops its blocking connection without waiting for its loop.
      const stuck = worker;
      worker = pullWorker();
      void stuck.close(true).catch(() => {});
    },
  });
  const notifier = new Worker<NotifyJobData>(
    NOTIFY_QUEUE,
    createNotifyProcessor({
      pool: opts.pool,
      box: opts.box,
      log: opts.log,
      policy: opts.notify?.policy ?? (() => sourcePolicy(opts.pool, sourceRulesFromEnv(process.env))),
      timeoutMs: opts.notify?.timeoutMs ?? NOTIFY_TIMEOUT_MS,
    }),
    { connection: opts.connection, prefix: QUEUE_PREFIX, concurrency: 4 },
  );
  const notifierErrors = outageLog(opts.log, 'notification worker');
  notifier.on('error', notifierErrors.down);
  opts.connection.on('ready', notifierErrors.up);
  notifier.on('completed', notifierErrors.up);
  const pendingErrors = outageLog(opts.log, 'pending notifications');
  const pending = setInterval(() => {
    queuePendingNotifications(opts.pool, notifyQueue, PENDING_NOTIFICATIONS_MS).then(pendingErrors.up, pendingErrors.down);
  }, PENDING_NOTIFICATIONS_MS).unref();
  return {
    get worker() {
      return worker;
    },
    notifier,
    async drain() {
      shutdown.abort();
      stopWatching();
      // Paused locally: no new job is taken while the running ones finish.
      await Promise.all([worker.pause(true), ...[...running].map((p) => p.catch(() => {}))]);
    },
    async close() {
      shutdown.abort();
      stopWatching();
      clearInterval(pending);
      // Aborted pulls commit their current batch and hand the rest back; after them BullMQ's close waits only for its
      // own sockets, which on a Redis Cluster created afresh can be forever.
      await Promise.all([...running].map((p) => p.catch(() => {})));
      await Promise.all([
        bounded(worker.close(), BULLMQ_CLOSE_MS, 'the pull worker', opts.log),
        bounded(notifier.close(), BULLMQ_CLOSE_MS, 'the notification worker', opts.log),
      ]);
      await Promise.all([notifyQueue.close(), pullQueue.close()]);
      await closeKeptConnectors();
    },
  };
}
