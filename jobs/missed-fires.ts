/**
 * BullMQ makes a scheduler's next job when a worker takes the current one, from the time it is taken: a fire that
 * waits in a backlog longer than the schedule's interval makes the fires after it never happen, and a flushed Redis
 * loses every fire until the reconciler re-arms the scheduler. Nothing in Redis says so. This check compares each
 * connector's schedule with the fires its runs recorded and records every fire that never became a run as a
 * `missed` run with its fire time, counted in qanatix_schedule_missed_total.
 */
import type { JobSchedulerJson, Queue } from 'bullmq';
import type pg from 'pg';
import { scheduleMissedTotal } from '../src/metrics';
import { recordMissedFires, scheduleFires } from '../src/store/schedule-fires';
import { fireJobId, schedulerId, type PullJobData } from './pull-queue';
import { firesBetween, resolveSchedule } from './schedule';

/** A fire this recent may still be on its way to a worker; it is judged at a later check. */
export const MISSED_GRACE_MS = 60_000;
/** How far back recorded fires are read to find gaps between them (the last fire before it is read too). */
const WINDOW_MS = 15 * 60_000;
/** Fires older than this are not judged (a worker down for a week does not come back to a flood of rows). */
const HORIZON_MS = 24 * 3600_000;
/** At most this many fires are recorded per connector and check, the latest. */
const MAX_FIRES = 1_000;

export interface MissedFires {
  connectorId: string;
  /** The fires recorded as missed now (epoch ms). */
  fires: number[];
}

/**
 * Finds and records the missed fires of every scheduled connector. `schedulers` are the job schedulers Redis holds
 * (by id): a fire at or after a scheduler's next fire has not happened yet. Detection starts when the connector last
 * changed, so a new or changed schedule is not judged by fires before it (nor by fires older than its runs read).
 */
export async function recordMissed(
  pool: pg.Pool,
  queue: Queue<PullJobData>,
  schedulers: Map<string, Pick<JobSchedulerJson, 'next'>>,
  now = Date.now(),
): Promise<MissedFires[]> {
  const recorded: MissedFires[] = [];
  // Thousands of connectors share a few patterns ("*/5 * * * *", the five of "H/5 * * * *"): each is expanded once.
  const expanded = new Map<string, { from: number; fires: number[] }>();
  for (const c of await scheduleFires(pool, WINDOW_MS)) {
    const known = new Set(c.recent);
    if (c.before !== null) known.add(c.before);
    // A connector none of whose fires became a run is judged from when its schedule was set.
    const first = c.before ?? (c.recent.length ? Math.min(...c.recent) : c.changed);
    const from = Math.max(first, c.changed, now - HORIZON_MS);
    const scheduler = schedulerId(c.id);
    const to = Math.min(now - MISSED_GRACE_MS, schedulers.get(scheduler)?.next ?? Infinity);
    if (to <= from) continue;
    let pattern: string;
    try {
      pattern = resolveSchedule(c.schedule, c.id);
    } catch {
      continue; // a schedule the API refuses today, saved before it did: the reconciler reports it
    }
    const key = `${pattern}\u0000${c.timezone}`;
    let shared = expanded.get(key);
    if (!shared || shared.from > from) {
      shared = { from, fires: firesBetween(pattern, c.timezone, from, now - MISSED_GRACE_MS, 10_000) };
      expanded.set(key, shared);
    }
    const candidates = shared.fires
      .filter((f) => f > from && f < to && !known.has(f))
      .slice(-MAX_FIRES)
      .map((fireAt) => ({ fireAt, jobId: fireJobId(scheduler, fireAt) }));
    const missing = [];
    // A fire whose job is still in Redis (taken by a worker that has not written its run yet) is not missed.
    for (const f of candidates) if (!(await queue.getJob(f.jobId))) missing.push(f);
    const why = 'the schedule fired but no run started: a backlog outlasted the interval, or Redis lost the schedule';
    const fires = await recordMissedFires(pool, { connectorId: c.id, tenantId: c.tenant_id }, missing, why);
    if (fires.length === 0) continue;
    scheduleMissedTotal.inc({ connector_id: c.id }, fires.length);
    recorded.push({ connectorId: c.id, fires });
  }
  return recorded;
}
