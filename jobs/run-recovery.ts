/**
 * A run row in PostgreSQL is the truth about a pull; its BullMQ job is only how a worker gets to it. The two can
 * part: Redis restarted without persistence or was flushed (the job is gone), BullMQ failed a job without
 * running it (stalled past its limit), a process died between writing the run and queueing its job. Then the
 * run says `queued`, `running` or `retrying` with nothing behind it, and the connector answers 409 forever.
 * These functions find such runs and settle them: a run whose job is lost is queued again (the pull resumes
 * from the committed cursor), a run whose job failed is closed with the reason.
 */
import type { Job, Queue } from 'bullmq';
import type pg from 'pg';
import { finishIngestion } from '../src/core/ingestions';
import { withTransaction } from '../src/db/pool';
import {
  activeRuns,
  cancelRun,
  closeRun,
  requeueRun,
  runJobId,
  runOfFailedJob,
  runOfJob,
  type ActiveRun,
} from '../src/store/connector-runs';
import { claimRunNotification } from '../src/store/run-notifications';
import { connectorLocked } from './connector-lock';
import { PULL_JOB, type PullJobData } from './pull-queue';

/** A run younger than this may still be on its way into the queue (the API writes the run first). */
export const RECOVERY_GRACE_MS = 30_000;

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);
const STALL_LIMIT = 'job stalled more than allowable limit';

export type Recovery = 'alive' | 'in_progress' | 'requeued' | 'closed';

/** Why a job failed, in words a user can act on, and the run's error kind. */
function failure(reason: string | undefined): { error: string; kind: string } {
  if (reason === STALL_LIMIT) {
    return {
      error:
        'the worker running this pull stopped without finishing too many times (killed, out of memory, or it lost its Redis lock), so the job was given up; ' +
        'the batches it committed stay, and an incremental pull continues from the committed cursor',
      kind: 'stalled',
    };
  }
  return { error: `its job failed: ${reason ?? 'no reason recorded'}`, kind: 'job_failed' };
}

/**
 * Fails the run and its ingestion together, and records the notification the failure owes (a worker queues it: see
 * `queuePendingNotifications`).
 */
async function close(pool: pg.Pool, run: Pick<ActiveRun, 'id' | 'ingestion_id'>, error: string, kind: string): Promise<boolean> {
  return withTransaction(pool, async (tx) => {
    const closed = await closeRun(tx, run.id, error, kind);
    if (closed && run.ingestion_id) await finishIngestion(tx, run.ingestion_id, error);
    if (closed) await claimRunNotification(tx, run.id);
    return closed;
  });
}

/**
 * Settles one active run. Alive when its job can still run it; in progress when a worker holds the connector's
 * lock (that worker records the outcome); else re-queued (job lost) or closed (job failed or completed).
 * Re-queueing uses the job id `run-<run id>`, so a job the API is adding at the same moment is not doubled.
 */
async function recoverRun(pool: pg.Pool, queue: Queue<PullJobData>, run: ActiveRun): Promise<Recovery> {
  const jobId = run.job_id ?? runJobId(run.id);
  const job = await queue.getJob(jobId);
  const state = job ? await job.getState() : 'missing';
  if (LIVE_STATES.has(state)) return 'alive';
  if (await connectorLocked(pool, run.connector_id)) return 'in_progress';
  if (job && (state === 'failed' || state === 'completed')) {
    const { error, kind } =
      state === 'failed' ? failure(job.failedReason) : { error: 'its job completed without recording an outcome', kind: 'job_failed' };
    return (await close(pool, run, error, kind)) ? 'closed' : 'alive';
  }
  // Lost: gone from Redis, or a remnant in no state at all (its key without its place in a list).
  if (job) await job.remove();
  // An operator asked it to stop: it ends cancelled rather than running again.
  if (run.cancel_requested_at) return (await settleCancelled(pool, run.id)) ? 'closed' : 'alive';
  const data: PullJobData = { connectorId: run.connector_id, tenantId: run.tenant_id, mode: run.mode, trigger: run.trigger, runId: run.id };
  await queue.add(PULL_JOB, data, { jobId: runJobId(run.id) });
  const why = 'its job was lost from Redis (a restart without persistence or a flush); queued again to resume from the committed cursor';
  await requeueRun(pool, run.id, why);
  return 'requeued';
}

/** Ends a run as cancelled and closes its ingestion with what it committed; false when the run had finished. */
export async function settleCancelled(pool: pg.Pool, runId: string): Promise<boolean> {
  return withTransaction(pool, async (tx) => {
    const run = await cancelRun(tx, runId);
    if (!run) return false;
    if (run.ingestion_id) await finishIngestion(tx, run.ingestion_id);
    return true;
  });
}

/** Settles every active run older than `graceMs` (of one connector, when given); one run's failure does not stop the rest. */
export async function recoverRuns(
  pool: pg.Pool,
  queue: Queue<PullJobData>,
  o: { graceMs?: number; connectorId?: string; onError?(run: ActiveRun, err: unknown): void } = {},
): Promise<Array<{ run: ActiveRun; outcome: Recovery }>> {
  const settled: Array<{ run: ActiveRun; outcome: Recovery }> = [];
  for (const run of await activeRuns(pool, o.graceMs ?? RECOVERY_GRACE_MS, o.connectorId)) {
    try {
      settled.push({ run, outcome: await recoverRun(pool, queue, run) });
    } catch (err) {
      o.onError?.(run, err);
    }
  }
  return settled;
}

/** A job that failed for good (BullMQ may fail one without running it: past its stall limit) closes its run at once. */
export async function closeRunOfFailedJob(pool: pg.Pool, job: Job<PullJobData>): Promise<boolean> {
  if (!(await job.isFailed())) return false; // a failed attempt that will be retried
  if (!job.id) return false;
  const runId = job.data.runId ?? (await runOfJob(pool, job.data.connectorId, job.id));
  if (!runId) return false;
  // Job data comes back from Redis: only the run this very job was queued for, of the connector and tenant it
  // names, is closed; a forged job naming another tenant's run closes nothing.
  const run = await runOfFailedJob(pool, { runId, jobId: job.id, connectorId: job.data.connectorId, tenantId: job.data.tenantId });
  if (!run) return false;
  const { error, kind } = failure(job.failedReason);
  return close(pool, run, error, kind);
}
