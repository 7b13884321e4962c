import { Backoffs, DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type pg from 'pg';
import { ConnectorError } from '../connectors/connector-error';
import type { SecretBox } from '../src/crypto/secret-box';
import { isIsoTimestamp, isoToMicros } from '../connectors/iso-time';
import { cursorLag, pullDuration, pullRowsTotal, pullsTotal, verifyDrift } from '../src/metrics';
import type { Logger } from '../src/outage-log';
import {
  cancelRequested,
  createRun,
  finishRun,
  getRun,
  runBelongsTo,
  runOfJob,
  type RunTotals,
  type VerifyCounts,
} from '../src/store/connector-runs';
import { loadConnectorForRun } from '../src/store/connectors';
import { connectorAndRunOfFire, runOfFire } from '../src/store/schedule-fires';
import { LockLostError, lockWith, tryLockConnector, type ConnectorLock } from './connector-lock';
import { fireOfJobId, type PullJobData, type PullProgress } from './pull-queue';
import { settleCancelled } from './run-recovery';
import { runPull } from './run-pull';

export interface ProcessorDeps {
  pool: pg.Pool;
  box: SecretBox;
  log: Logger;
  /** Aborts when the worker shuts down: the pull stops after committing its current batch. */
  shutdown: AbortSignal;
  /** Called when a run has ended (succeeded, failed for good, held for confirmation): queues what its connector's notify asks for. */
  notify?: (runId: string) => Promise<void>;
}

/** How long a manual pull waits before trying again for the lock a running pull holds. */
const LOCK_WAIT_MS = 2_000;
/** The longest wait before resuming a pull whose worker died (the job's own backoff grows up to it). */
const MAX_STALL_BACKOFF_MS = 10 * 60_000;
/** How often a running pull looks for an operator's cancel request; it stops after the batch in hand. */
export const CANCEL_POLL_MS = 1_000;

export interface PullJobResult {
  runId: string;
  status: 'succeeded' | 'skipped' | 'needs_confirmation' | 'cancelled';
  rows_read?: number;
  inserted?: number;
  updated?: number;
  unchanged?: number;
  rejected?: number;
  deleted?: number;
  undeleted?: number;
  verify?: VerifyCounts | null;
}

/**
 * Processes one pull job: one run of one connector, never two of the same connector at once (a Postgres
 * advisory lock is the guarantee). Transient failures are retried with backoff and resume from the
 * committed cursor; configuration, credential and query errors fail at once. A job handed back after its
 * worker died waits out a backoff first, so a crash loop does not spin.
 */
export function createPullProcessor(deps: ProcessorDeps) {
  const { pool, box, log } = deps;
  return async (job: Job<PullJobData>, token?: string): Promise<PullJobResult | undefined> => {
    const { connectorId, tenantId, mode, trigger } = job.data;
    // Job data comes back from Redis: a job runs only for a connector of the tenant it names, and its run.
    const refuse = (why: string) => {
      log.error(
        { jobId: job.id, connectorId: String(connectorId).slice(0, 100), tenantId: String(tenantId).slice(0, 100) },
        `pull job refused: ${why}`,
      );
      return new UnrecoverableError(`job refused: ${why}`);
    };
    if (typeof tenantId !== 'string' || typeof connectorId !== 'string') throw refuse('it names no tenant or no connector');
    if (!['incremental', 'full', 'backfill', 'sweep', 'verify'].includes(mode) || !['schedule', 'manual'].includes(trigger))
      throw refuse('unknown mode or trigger');
    // A backfill's range is on its run: one without a run of its own is not a backfill the API queued.
    if (mode === 'backfill' && job.data.runId === undefined) throw refuse('a backfill job names no run');
    // Taken while the worker shuts down (a fetch already in flight): handed back untouched for the next worker.
    if (deps.shutdown.aborted) {
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    // A scheduler's job: its connector and its run (made from the fire it names) in one statement. Any other job:
    // the connector, then the run the API queued (a manual pull), or the job's own.
    const fireAt = job.data.runId === undefined ? fireOfJobId(job.id) : null;
    // The fire's statement also tries the connector's lock (one round trip fewer): `early` is then what it took.
    let connector;
    let fireRun;
    let early: ConnectorLock | null | undefined;
    try {
      if (fireAt !== null)
        ({
          value: { connector, run: fireRun },
          lock: early,
        } = await lockWith(pool, connectorId, async (session, lockKey) => {
          const fired = await connectorAndRunOfFire(session, box, { connectorId, tenantId, jobId: job.id!, fireAt, mode, lockKey });
          return { value: fired, pid: fired.lockPid };
        }));
      else connector = await loadConnectorForRun(pool, box, connectorId, tenantId);
    } catch (err) {
      if (isTransient(err)) throw err;
      throw new UnrecoverableError(`connector ${connectorId} cannot be loaded: ${(err as Error).message}`);
    }
    // Whatever ends the job, a lock taken for it goes.
    let held: ConnectorLock | null | undefined = early;
    try {
      if (!connector) throw refuse(`tenant ${tenantId} has no connector ${connectorId} (deleted, or not this tenant's)`);
      // A run notifies as its connector was when the run began: without a notify URL there is nothing to record.
      const notify = async (runId: string) => connector.notifies && (await deps.notify?.(runId));
      if (job.data.runId !== undefined && !(await runBelongsTo(pool, job.data.runId, connectorId, tenantId))) {
        throw refuse(`run ${job.data.runId} is not a run of connector ${connectorId} of tenant ${tenantId}`);
      }

      // A paused connector's scheduler may fire once more before its removal reaches Redis: no run for it.
      if (job.data.runId === undefined && trigger === 'schedule' && !connector.enabled && !(await runOfJob(pool, connectorId, job.id!))) {
        log.info({ connectorId, jobId: job.id }, 'scheduled pull not run: the connector is paused');
        return undefined;
      }
      // Scheduled jobs create their run (with the fire it was made for); a retry of the job (after a failure or a crash)
      // finds and continues it.
      const run =
        fireAt !== null
          ? (fireRun ?? (await runOfFire(pool, { connectorId, tenantId: connector.tenantId, jobId: job.id!, fireAt, mode })))
          : await getRun(
              pool,
              job.data.runId ??
                (await runOfJob(pool, connectorId, job.id!)) ??
                (await createRun(pool, { connectorId, tenantId: connector.tenantId, trigger, mode, status: 'running', jobId: job.id })),
            );
      if (!run) throw new UnrecoverableError(`run ${job.data.runId} no longer exists`);
      const runId = run.id;
      const ctx = { connectorId, runId, jobId: job.id };
      // A job queued again after its key was lost from Redis, while its first worker went on to finish the run.
      if (run.status === 'succeeded' || run.status === 'skipped' || run.status === 'needs_confirmation' || run.status === 'cancelled') {
        log.info(ctx, `run already ${run.status}; nothing left to do`);
        return { runId, status: run.status };
      }

      const stalls = job.stalledCounter ?? 0;
      if (stalls > (job.data.stallsSeen ?? 0)) {
        const delay = Math.min(MAX_STALL_BACKOFF_MS, stallBackoff(job, stalls));
        const error =
          `its worker stopped without finishing (killed, out of memory, or it lost its Redis lock; ${stalls} time${stalls > 1 ? 's' : ''} so far); ` +
          `resumes from the committed cursor in ${Math.ceil(delay / 1000)} s`;
        await finishRun(pool, runId, { status: 'retrying', error, errorKind: 'stalled' });
        log.warn({ ...ctx, stalls, delay_ms: delay }, 'pull handed back after its worker stopped; backing off before resuming');
        await job.updateData({ ...job.data, runId, stallsSeen: stalls });
        await job.moveToDelayed(Date.now() + delay, token);
        throw new DelayedError();
      }

      const lock = early !== undefined ? early : (held = await tryLockConnector(pool, connectorId));
      if (!lock) {
        // A scheduled run that never started gives way; one that has started (and was handed back) waits its turn.
        if (trigger === 'schedule' && run.attempts === 0) {
          await finishRun(pool, runId, { status: 'skipped', error: 'another run of this connector was in progress', errorKind: 'locked' });
          log.info(ctx, 'scheduled pull skipped: another run of this connector is in progress');
          pullsTotal.inc({ connector_id: connectorId, outcome: 'skipped' });
          return { runId, status: 'skipped' };
        }
        await job.moveToDelayed(Date.now() + LOCK_WAIT_MS, token);
        throw new DelayedError();
      }

      const cancel = new AbortController();
      const watch = setInterval(() => {
        cancelRequested(pool, runId).then(
          (asked) => asked && cancel.abort(),
          () => {}, // the platform database is away: the batch's own commit will say so
        );
      }, CANCEL_POLL_MS);
      try {
        // Asked to stop while it was queued, after its job was taken: it ends before reading anything. (Asked later, it
        // stops after the batch in hand, as the watch finds out.)
        if (run.cancel_requested_at !== null) return await cancelled(runId, ctx);
        const outcome = await runPull({
          pool,
          connector,
          runId,
          mode,
          signal: AbortSignal.any([deps.shutdown, cancel.signal]),
          lock,
          onProgress: progressReporter(job, log, ctx),
        });
        if (outcome.interrupted && cancel.signal.aborted) return await cancelled(runId, ctx);
        if (outcome.interrupted) {
          await finishRun(pool, runId, {
            status: 'retrying',
            error: 'interrupted by a worker shutdown; resumes from the committed cursor',
            errorKind: 'shutdown',
          });
          log.warn(ctx, 'pull interrupted by shutdown after committing its last batch');
          pullsTotal.inc({ connector_id: connectorId, outcome: 'interrupted' });
          await job.moveToDelayed(Date.now(), token);
          throw new DelayedError();
        }
        if ('held' in outcome) {
          const { pending, live } = outcome.held;
          const error =
            `the sweep would delete ${pending} of the connector's ${live} entities, more than deletes.max_fraction allows; nothing was deleted - ` +
            `check the source (an empty view, a wrong schema or where), then confirm with POST /api/v1/connectors/${connectorId}/runs/${runId}/confirm`;
          await finishRun(pool, runId, { status: 'needs_confirmation', error, errorKind: 'guard' });
          log.warn({ ...ctx, pending, live }, 'sweep held by the guard; waiting for confirmation');
          pullsTotal.inc({ connector_id: connectorId, outcome: 'needs_confirmation' });
          await notify(runId);
          return { runId, status: 'needs_confirmation', rows_read: outcome.rowsRead };
        }
        const duration_ms = outcome.succeeded
          ? outcome.succeeded.durationMs
          : (await finishRun(pool, runId, { status: 'succeeded' })).duration_ms;
        await notify(runId);
        const { run: totals } = outcome;
        recordRunMetrics(connectorId, totals, duration_ms);
        log.info(
          { ...ctx, mode, rows_read: totals.rows_read, inserted: totals.inserted, updated: totals.updated, deleted: totals.deleted },
          'pull succeeded',
        );
        const { rows_read, inserted, updated, unchanged, rejected, deleted, undeleted, verify } = totals;
        return { runId, status: 'succeeded', rows_read, inserted, updated, unchanged, rejected, deleted, undeleted, verify };
      } catch (err) {
        if (err instanceof DelayedError) throw err;
        const retryable = err instanceof ConnectorError ? err.retryable : isTransient(err);
        const kind =
          err instanceof ConnectorError ? err.kind : err instanceof LockLostError ? 'lock_lost' : retryable ? 'transient' : 'internal';
        const message = err instanceof Error ? err.message : String(err);
        const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        const status = retryable && !lastAttempt ? 'retrying' : 'failed';
        // The platform database may be what failed: then the job's retry (or the reconciler) records the outcome.
        const recorded = await finishRun(pool, runId, { status, error: message, errorKind: kind }).then(
          () => true,
          (e: Error) => {
            log.warn({ ...ctx, err: e.message }, 'could not record the run outcome now; the retry or the reconciler will');
            return false;
          },
        );
        if (recorded && status === 'failed') await notify(runId);
        pullsTotal.inc({ connector_id: connectorId, outcome: status });
        log.error(
          { ...ctx, kind, attempt: job.attemptsMade + 1, err: message },
          status === 'retrying' ? 'pull failed; will retry' : 'pull failed',
        );
        if (!retryable) throw new UnrecoverableError(message);
        throw err;
      } finally {
        clearInterval(watch);
      }
    } finally {
      await held?.release();
    }
  };

  async function cancelled(runId: string, ctx: { connectorId: string }): Promise<PullJobResult> {
    await settleCancelled(pool, runId);
    log.info(ctx, 'pull cancelled by an operator after committing its last batch');
    pullsTotal.inc({ connector_id: ctx.connectorId, outcome: 'cancelled' });
    return { runId, status: 'cancelled' };
  }
}

/**
 * Progress is for watchers and lives in Redis; the run's truth is in PostgreSQL. A lost job key or an
 * unreachable Redis must neither fail the pull nor slow it down: one update in flight at most, and the first
 * failure is logged.
 */
function progressReporter(job: Job<PullJobData>, log: Logger, ctx: object): (p: PullProgress) => void {
  const started = Date.now();
  let inFlight = false;
  let warned = false;
  return (p) => {
    if (inFlight) return;
    inFlight = true;
    const rate = Math.round(p.rowsRead / Math.max(0.001, (Date.now() - started) / 1000));
    job
      .updateProgress({ rows: p.rowsRead, rate, cursor: p.cursor })
      .catch((err: Error) => {
        if (!warned)
          log.warn({ ...ctx, err: err.message }, 'job progress not saved in Redis; the pull goes on (its state is in PostgreSQL)');
        warned = true;
      })
      .finally(() => (inFlight = false));
  };
}

/** The job's own retry backoff (exponential from 5 s by default), counted in stalls instead of attempts. */
function stallBackoff(job: Job<PullJobData>, stalls: number): number {
  const backoff = job.opts.backoff === undefined ? undefined : Backoffs.normalize(job.opts.backoff);
  const delay = backoff ? Backoffs.calculate(backoff, stalls, new Error('stalled'), job) : 0;
  return typeof delay === 'number' && Number.isFinite(delay) ? delay : 0;
}

function recordRunMetrics(connector_id: string, run: RunTotals, durationMs: number | null): void {
  pullsTotal.inc({ connector_id, outcome: 'succeeded' });
  for (const kind of ['rows_read', 'inserted', 'updated', 'unchanged', 'rejected', 'deleted', 'undeleted'] as const) {
    pullRowsTotal.inc({ connector_id, kind: kind === 'rows_read' ? 'read' : kind }, run[kind]);
  }
  if (run.verify)
    for (const kind of ['checked', 'missing', 'extra', 'stale'] as const) verifyDrift.set({ connector_id, kind }, run.verify[kind]);
  if (durationMs !== null) pullDuration.observe({ connector_id }, durationMs / 1000);
  const value = (run.cursor_after as { value?: unknown } | null)?.value;
  if (typeof value === 'string' && run.source_started_at && isIsoTimestamp(value)) {
    cursorLag.set({ connector_id }, Number(isoToMicros(run.source_started_at) - isoToMicros(value)) / 1e6);
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  '40001',
  '40P01',
  '53300',
  '57P01',
  '57P02',
  '57P03',
]);

/**
 * Failures of the platform's own database or network that a later attempt may not meet: connection classes
 * (08…), shutdowns and restarts (57P0x), serialization and deadlocks, a lost connector lock. pg reports a
 * connection that ended under a query, or a pool that could not connect in time, without a code.
 */
function isTransient(err: unknown): boolean {
  if (err instanceof LockLostError) return true;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && (TRANSIENT_CODES.has(code) || code.startsWith('08'))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(
    (err as Error)?.message ?? '',
  );
}
