import type { Queue } from 'bullmq';
import cron from 'node-cron';
import type pg from 'pg';
import { outageLog, type Logger } from '../src/outage-log';
import { wantedSchedules } from '../src/store/connector-schedules';
import { recordMissed, type MissedFires } from './missed-fires';
import { modeSchedulerId, parseSchedulerId, PULL_JOB, type PullJobData } from './pull-queue';
import { resolveSchedule } from './schedule';
import { recoverRuns } from './run-recovery';

/** A scheduler whose next fire time is this far in the past has lost its job: re-arm it. */
const OVERDUE_MS = 90_000;

export interface ReconcileResult {
  added: string[];
  updated: string[];
  removed: string[];
  rearmed: string[];
  /** Connectors whose scheduler could not be set (a schedule Redis refuses): the others are reconciled all the same. */
  failed: Array<{ connectorId: string; error: string }>;
  /** Fires that never became a run, recorded now as missed runs. */
  missed: MissedFires[];
}

/**
 * Makes Redis match Postgres, the source of truth: one job scheduler per schedule of an enabled connector (its
 * pulls', and its sweeps' and verifies' when it has those). Missing ones are added, changed ones updated, orphans
 * removed, overdue ones re-armed, so a flushed or restarted Redis heals itself; then pull fires that never became a
 * run are recorded (missed-fires.ts).
 */
export async function reconcileSchedules(pool: pg.Pool, queue: Queue<PullJobData>, now = Date.now()): Promise<ReconcileResult> {
  const wanted = new Map((await wantedSchedules(pool)).map((r) => [modeSchedulerId(r.id, r.mode), r]));
  const existing = new Map((await queue.getJobSchedulers(0, -1, true)).map((s) => [s.key, s]));
  const result: ReconcileResult = { added: [], updated: [], removed: [], rearmed: [], failed: [], missed: [] };
  const each = async (connectorId: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (err) {
      result.failed.push({ connectorId, error: err instanceof Error ? err.message : String(err) });
    }
  };

  for (const [id, want] of wanted) {
    const have = existing.get(id);
    let bucket: 'added' | 'updated' | 'rearmed' | null = null;
    if (!have) bucket = 'added';
    else if (
      have.pattern !== resolveSchedule(want.schedule, want.id) ||
      (have.tz ?? 'UTC') !== want.timezone ||
      have.template?.data?.tenantId !== want.tenant_id ||
      (have.template?.data?.mode ?? 'incremental') !== want.mode
    )
      bucket = 'updated';
    else if (have.next !== undefined && have.next < now - OVERDUE_MS) bucket = 'rearmed';
    if (!bucket) continue;
    await each(want.id, async () => {
      await armSchedule(queue, want.tenant_id, want.id, want.schedule, want.timezone, want.mode);
      result[bucket].push(want.id);
    });
  }
  for (const id of existing.keys()) {
    const named = parseSchedulerId(id);
    if (named && !wanted.has(id)) {
      const { connectorId } = named;
      await each(connectorId, async () => {
        await queue.removeJobScheduler(id);
        result.removed.push(connectorId);
      });
    }
  }
  result.missed = await recordMissed(pool, queue, existing, now);
  return result;
}

/** Creates or updates one connector's scheduler (also used by the API when a connector changes); `H` resolves per connector. */
export async function armSchedule(
  queue: Queue<PullJobData>,
  tenantId: string,
  connectorId: string,
  pattern: string,
  timezone: string,
  mode: 'incremental' | 'sweep' | 'verify' = 'incremental',
): Promise<void> {
  await queue.upsertJobScheduler(
    modeSchedulerId(connectorId, mode),
    { pattern: resolveSchedule(pattern, connectorId), tz: timezone },
    { name: PULL_JOB, data: { connectorId, tenantId, mode, trigger: 'schedule' } },
  );
}

/** Removes a connector's schedulers: its pulls' and its sweeps' and verifies'. */
export async function disarmSchedule(queue: Queue<PullJobData>, connectorId: string): Promise<void> {
  for (const mode of ['incremental', 'sweep', 'verify'] as const) await queue.removeJobScheduler(modeSchedulerId(connectorId, mode));
}

/**
 * Runs the reconciler now and then every minute, in-process, never two at once: schedulers first, then runs
 * left without a live job (see run-recovery.ts). A connector that cannot be reconciled is logged with its id
 * and does not hold up the others. Returns a stop function.
 */
export function startReconciler(pool: pg.Pool, queue: Queue<PullJobData>, log: Logger, expression = '* * * * *'): () => void {
  let running = false;
  const outage = outageLog(log, 'schedule reconciler');
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      const { failed, ...r } = await reconcileSchedules(pool, queue);
      for (const f of failed)
        log.error({ connectorId: f.connectorId, err: f.error }, "could not reconcile this connector's job scheduler; the others are");
      const { missed, ...changes } = r;
      const changed = r.added.length + r.updated.length + r.removed.length + r.rearmed.length;
      if (changed) log.info({ reconcile: changes }, 'job schedulers reconciled');
      for (const m of missed)
        log.warn(
          { connectorId: m.connectorId, fires: m.fires.map((f) => new Date(f).toISOString()) },
          'scheduled fires that never became a run were recorded as missed runs',
        );
      const recovered = await recoverRuns(pool, queue, {
        onError: (run, err) =>
          log.error(
            { connectorId: run.connector_id, runId: run.id, err: (err as Error).message },
            'could not settle this run now; retrying next minute',
          ),
      });
      for (const { run, outcome } of recovered) {
        if (outcome !== 'requeued' && outcome !== 'closed') continue;
        log.warn({ connectorId: run.connector_id, runId: run.id, outcome }, `a run left without a live job was ${outcome}`);
      }
      outage.up();
    } catch (err) {
      outage.down(err);
    } finally {
      running = false;
    }
  };
  void tick();
  const task = cron.schedule(expression, tick, { noOverlap: true, name: 'schedule-reconciler' });
  return () => void task.stop();
}
