import { Queue } from 'bullmq';
import type { Cursor } from '../connectors/contract';
import { outageLog, stderrLogger, type Logger } from '../src/outage-log';
import type { RunMode } from '../src/store/connector-runs';
import { QUEUE_PREFIX, type RedisConnection } from './redis-connection';
import { nextFireMillis } from './schedule';

export const PULL_QUEUE = 'pulls';
export const PULL_JOB = 'pull';

/** `backfill`: a range of cursor values read again without moving the committed position (the range is on the run). */
export type PullMode = RunMode;
export type PullTrigger = 'schedule' | 'manual';

/** What a running pull reports as the job's progress. */
export interface PullProgress {
  rowsRead: number;
  cursor: Cursor | null;
}

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

/**
 * A connector's job scheduler: `connector:<id>` for its pulls, `connector:<id>:<purpose>` for any other recurring
 * work of the connector, so every scheduler of a connector is found by the same prefix.
 */
export const schedulerId = (connectorId: string, purpose = 'pull') =>
  purpose === 'pull' ? `connector:${connectorId}` : `connector:${connectorId}:${purpose}`;

/** The connector and purpose a scheduler id names, or null for a scheduler that is not a connector's. */
export function parseSchedulerId(id: string): { connectorId: string; purpose: string } | null {
  const m = /^connector:([0-9a-f-]{36})(?::([a-z_]+))?$/.exec(id);
  return m ? { connectorId: m[1]!, purpose: m[2] ?? 'pull' } : null;
}

/** The job a scheduler makes for the fire at `fire` (epoch ms), named as BullMQ names it. */
export const fireJobId = (scheduler: string, fire: number) => `repeat:${scheduler}:${fire}`;

/** The fire time (epoch ms) a scheduler's job was made for, or null for a job that no scheduler made. */
export function fireOfJobId(jobId: string | undefined | null): number | null {
  const m = jobId ? /^repeat:connector:.+:(\d+)$/.exec(jobId) : null;
  return m ? Number(m[1]) : null;
}

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
export function createPullQueue(connection: RedisConnection, log: Logger = stderrLogger): Queue<PullJobData> {
  // The strategy the workers use too (the same fire times as BullMQ's own, each pattern parsed once).
  const queue = new Queue<PullJobData>(PULL_QUEUE, {
    connection,
    prefix: QUEUE_PREFIX,
    defaultJobOptions: PULL_JOB_OPTIONS,
    settings: { repeatStrategy: nextFireMillis },
  });
  const errors = outageLog(log, 'pull queue');
  queue.on('error', errors.down);
  connection.on('ready', errors.up);
  return queue;
}
