import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type pg from 'pg';
import { ConnectorError } from '../connectors/connector-error';
import type { SecretBox } from '../src/crypto/secret-box';
import { isIsoTimestamp, isoToMicros } from '../connectors/iso-time';
import { cursorLag, pullDuration, pullRowsTotal, pullsTotal } from '../src/metrics';
import { createRun, finishRun, getRun, type ConnectorRun } from '../src/store/connector-runs';
import { loadConnectorForRun, runBelongsTo } from '../src/store/connectors';
import { tryLockConnector } from './connector-lock';
import type { PullJobData } from './pull-queue';
import { runPull } from './run-pull';

export interface Logger {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

export interface ProcessorDeps {
  pool: pg.Pool;
  box: SecretBox;
  log: Logger;
  /** Aborts when the worker shuts down: the pull stops after committing its current batch. */
  shutdown: AbortSignal;
}

/** How long a manual pull waits before trying again for the lock a running pull holds. */
const LOCK_WAIT_MS = 2_000;

export interface PullJobResult {
  runId: string;
  status: 'succeeded' | 'skipped';
  rows_read?: number;
  inserted?: number;
  updated?: number;
  unchanged?: number;
  rejected?: number;
}

/**
 * Processes one pull job: one run of one connector, never two of the same connector at once (a Postgres
 * advisory lock is the guarantee). Transient failures are retried with backoff and resume from the
 * committed cursor; configuration, credential and query errors fail at once.
 */
export function createPullProcessor(deps: ProcessorDeps) {
  const { pool, box, log } = deps;
  return async (job: Job<PullJobData>, token?: string): Promise<PullJobResult | undefined> => {
    const { connectorId, tenantId, mode, trigger } = job.data;
    // Job data comes back from Redis: a job runs only for a connector of the tenant it names, and its run.
    const refuse = (why: string) => {
      log.error({ jobId: job.id, connectorId: String(connectorId).slice(0, 100), tenantId: String(tenantId).slice(0, 100) }, `pull job refused: ${why}`);
      return new UnrecoverableError(`job refused: ${why}`);
    };
    if (typeof tenantId !== 'string' || typeof connectorId !== 'string') throw refuse('it names no tenant or no connector');
    if (!['incremental', 'full'].includes(mode) || !['schedule', 'manual'].includes(trigger)) throw refuse('unknown mode or trigger');
    let connector;
    try {
      connector = await loadConnectorForRun(pool, box, connectorId, tenantId);
    } catch (err) {
      throw new UnrecoverableError(`connector ${connectorId} cannot be loaded: ${(err as Error).message}`);
    }
    if (!connector) throw refuse(`tenant ${tenantId} has no connector ${connectorId} (deleted, or not this tenant's)`);
    if (job.data.runId !== undefined && !(await runBelongsTo(pool, job.data.runId, connectorId, tenantId))) {
      throw refuse(`run ${job.data.runId} is not a run of connector ${connectorId} of tenant ${tenantId}`);
    }

    let runId = job.data.runId;
    if (!runId) {
      runId = await createRun(pool, { connectorId, tenantId: connector.tenantId, trigger, mode, status: 'running', jobId: job.id });
      // Retries of this job (after a failure or a crash) continue the same run.
      await job.updateData({ ...job.data, runId });
    }
    const ctx = { connectorId, runId, jobId: job.id };

    const release = await tryLockConnector(pool, connectorId);
    if (!release) {
      if (trigger === 'schedule') {
        await finishRun(pool, runId, { status: 'skipped', error: 'another run of this connector was in progress', errorKind: 'locked' });
        log.info(ctx, 'scheduled pull skipped: another run of this connector is in progress');
        pullsTotal.inc({ connector_id: connectorId, outcome: 'skipped' });
        return { runId, status: 'skipped' };
      }
      await job.moveToDelayed(Date.now() + LOCK_WAIT_MS, token);
      throw new DelayedError();
    }

    try {
      await pool.query(
        `update connector_runs set status = 'running', attempts = attempts + 1, job_id = $2, started_at = coalesce(started_at, now()), error = null
          where id = $1`,
        [runId, job.id ?? null],
      );
      const started = Date.now();
      const outcome = await runPull({
        pool,
        connector,
        runId,
        mode,
        signal: deps.shutdown,
        onProgress: (p) => job.updateProgress({ rows: p.rowsRead, rate: Math.round(p.rowsRead / Math.max(0.001, (Date.now() - started) / 1000)), cursor: p.cursor }),
      });
      if (outcome.interrupted) {
        await finishRun(pool, runId, { status: 'retrying', error: 'interrupted by a worker shutdown; resumes from the committed cursor', errorKind: 'shutdown' });
        log.warn(ctx, 'pull interrupted by shutdown after committing its last batch');
        pullsTotal.inc({ connector_id: connectorId, outcome: 'interrupted' });
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      await finishRun(pool, runId, { status: 'succeeded' });
      const run = await getRun(pool, runId);
      if (run) recordRunMetrics(run);
      log.info({ ...ctx, rows_read: run?.rows_read, inserted: run?.inserted, updated: run?.updated }, 'pull succeeded');
      return { runId, status: 'succeeded', rows_read: run?.rows_read, inserted: run?.inserted, updated: run?.updated, unchanged: run?.unchanged, rejected: run?.rejected };
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      const retryable = err instanceof ConnectorError ? err.retryable : isTransient(err);
      const kind = err instanceof ConnectorError ? err.kind : retryable ? 'transient' : 'internal';
      const message = err instanceof Error ? err.message : String(err);
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      await finishRun(pool, runId, { status: retryable && !lastAttempt ? 'retrying' : 'failed', error: message, errorKind: kind });
      pullsTotal.inc({ connector_id: connectorId, outcome: retryable && !lastAttempt ? 'retrying' : 'failed' });
      log.error({ ...ctx, kind, attempt: job.attemptsMade + 1, err: message }, retryable && !lastAttempt ? 'pull failed; will retry' : 'pull failed');
      if (!retryable) throw new UnrecoverableError(message);
      throw err;
    } finally {
      await release();
    }
  };
}

function recordRunMetrics(run: ConnectorRun): void {
  const connector_id = run.connector_id;
  pullsTotal.inc({ connector_id, outcome: 'succeeded' });
  for (const kind of ['rows_read', 'inserted', 'updated', 'unchanged', 'rejected'] as const) {
    pullRowsTotal.inc({ connector_id, kind: kind === 'rows_read' ? 'read' : kind }, run[kind]);
  }
  if (run.duration_ms !== null) pullDuration.observe({ connector_id }, run.duration_ms / 1000);
  const value = (run.cursor_after as { value?: unknown } | null)?.value;
  if (typeof value === 'string' && run.source_started_at && isIsoTimestamp(value)) {
    cursorLag.set({ connector_id }, Number(isoToMicros(run.source_started_at) - isoToMicros(value)) / 1e6);
  }
}

/** Failures of the platform's own database or network that a later attempt may not meet. */
function isTransient(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '40001', '40P01', '57P01', '57P03', '53300', '08006', '08001'].includes(code);
}
