import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { outageLog, stderrLogger, type Logger } from '../src/outage-log';
import type { RunMode } from '../src/store/connector-runs';
import { QUEUE_PREFIX } from './redis-connection';

export const PULL_QUEUE = 'pulls';
export const PULL_JOB = 'pull';

export type PullMode = RunMode;
export type PullTrigger = 'schedule' | 'manual';

/**
 * A pull job carries ids only: credentials are read from Postgres by the worker, never put in Redis. Job data is
 * read back from Redis, so it is not trusted: the worker runs a job only when the connector belongs to `tenantId`
 * (and `runId`, when given, to that connector).
 */
export interface PullJobData {
  connectorId: string;
  tenantId: string;
  mode: PullMode;
  trigger: PullTrigger;
  /** Set for manual pulls (the API creates the run first); scheduled jobs create theirs. */
  runId?: string;
  /** How many of the job's stalls (a worker that died under it) the processor has already backed off for. */
  stallsSeen?: number;
}

/** A connector's job scheduler for its pulls. */
export const schedulerId = (connectorId: string) => `connector:${connectorId}`;

/** The scheduler of one of a connector's schedules: its pulls', or `connector:<id>:sweep`, `connector:<id>:verify`. */
export const modeSchedulerId = (connectorId: string, mode: PullMode) =>
  mode === 'incremental' ? schedulerId(connectorId) : `${schedulerId(connectorId)}:${mode}`;

/**
 * Retries back off exponentially (5 s, 10 s, 20 s, …); finished jobs are trimmed by age and count so
 * Redis stays small; run history lives in Postgres.
 */
export const PULL_JOB_OPTIONS = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 5_000 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5_000 },
} as const;

/** The queue's 'error' events come from its connection (ioredis reconnects by itself): logged once per outage. */
export function createPullQueue(connection: Redis, log: Logger = stderrLogger): Queue<PullJobData> {
  const queue = new Queue<PullJobData>(PULL_QUEUE, { connection, prefix: QUEUE_PREFIX, defaultJobOptions: PULL_JOB_OPTIONS });
  const errors = outageLog(log, 'pull queue');
  queue.on('error', errors.down);
  connection.on('ready', errors.up);
  return queue;
}
