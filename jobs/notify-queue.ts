import { Queue } from 'bullmq';
import type pg from 'pg';
import { outageLog, stderrLogger, type Logger } from '../src/outage-log';
import { claimRunNotification, pendingNotifications, type RunNotification } from '../src/store/run-notifications';
import { QUEUE_PREFIX, type RedisConnection } from './redis-connection';

export const NOTIFY_QUEUE = 'notifications';
export const NOTIFY_JOB = 'notify';

/**
 * Ids only: the worker reads the URL and the signing secret from PostgreSQL, so neither is ever in Redis. Read back
 * from Redis, so not trusted: a job is delivered only when its notification row is of that connector of that tenant.
 */
export interface NotifyJobData {
  runId: string;
  event: string;
  connectorId: string;
  tenantId: string;
}

/** One job per run and event: queueing it again while it exists is harmless. */
const notifyJobId = (runId: string, event: string) => `notify-${runId}-${event}`;

/** Five attempts, backing off exponentially with jitter: by default 8, 16, 32 and 64 s (±50 %), about two minutes in all. */
export const NOTIFY_ATTEMPTS = 5;
export const NOTIFY_BACKOFF_MS = 8_000;

export function createNotifyQueue(
  connection: RedisConnection,
  log: Logger = stderrLogger,
  backoffMs = NOTIFY_BACKOFF_MS,
): Queue<NotifyJobData> {
  const queue = new Queue<NotifyJobData>(NOTIFY_QUEUE, {
    connection,
    prefix: QUEUE_PREFIX,
    defaultJobOptions: {
      attempts: NOTIFY_ATTEMPTS,
      backoff: { type: 'exponential', delay: backoffMs, jitter: 0.5 },
      removeOnComplete: { age: 24 * 3600, count: 1_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 5_000 },
    },
  });
  const errors = outageLog(log, 'notification queue');
  queue.on('error', errors.down);
  connection.on('ready', errors.up);
  return queue;
}

async function queueNotification(queue: Queue<NotifyJobData>, n: RunNotification): Promise<void> {
  const data: NotifyJobData = { runId: n.run_id, event: n.event, connectorId: n.connector_id, tenantId: n.tenant_id };
  await queue.add(NOTIFY_JOB, data, { jobId: notifyJobId(n.run_id, n.event) });
}

/**
 * After a run ended: records the notification it owes (if any) and queues its delivery. A notification never fails
 * the run: when Redis is away the row stays pending and `queuePendingNotifications` queues it later.
 */
export async function notifyRunEnd(pool: pg.Pool, queue: Queue<NotifyJobData>, runId: string, log: Logger): Promise<void> {
  try {
    const owed = await claimRunNotification(pool, runId);
    if (owed) await queueNotification(queue, owed);
  } catch (err) {
    log.warn({ runId, err: (err as Error).message }, 'notification not queued now; it is queued again within a minute');
  }
}

/**
 * Queues notifications recorded but not delivered nor given up, older than `olderThanMs`: those whose run was ended by
 * the reconciler or an API process (they record, a worker queues), or whose job was lost from Redis.
 */
export async function queuePendingNotifications(pool: pg.Pool, queue: Queue<NotifyJobData>, olderThanMs: number): Promise<number> {
  const pending = await pendingNotifications(pool, olderThanMs);
  for (const n of pending) await queueNotification(queue, n);
  return pending.length;
}
