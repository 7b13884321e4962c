import type pg from 'pg';
import { distribution, type Distribution } from '../lib/percentiles';
import { fireOfJobId, MINUTE_MS, type JobTimes } from './observe';

/** One connector_runs row, times as epoch ms. */
export interface RunRow {
  connector_id: string;
  job_id: string | null;
  trigger: string;
  status: string;
  error_kind: string | null;
  error: string | null;
  rows_read: number;
  attempts: number;
  queued: number;
  started: number | null;
  finished: number | null;
}

export async function loadRuns(pool: pg.Pool): Promise<RunRow[]> {
  const ms = (col: string) =>
    `(extract(epoch from ${col}) * 1000)::float8 as ${col === 'queued_at' ? 'queued' : col === 'started_at' ? 'started' : 'finished'}`;
  const { rows } = await pool.query<RunRow>(
    `select connector_id, job_id, trigger, status, error_kind, error, rows_read::int as rows_read, attempts,
            ${ms('queued_at')}, ${ms('started_at')}, ${ms('finished_at')}
       from connector_runs order by started_at nulls last`,
  );
  return rows;
}

/** Where one segment's runs spent the time between their fire and their start, and how long they ran. */
export interface SegmentStats {
  label: string;
  fires: number;
  /** Runs expected: connectors × fires. */
  expected: number;
  runs: number;
  succeeded: number;
  skipped: number;
  failed: number;
  /** Connector × fire pairs with no run row: the scheduler's job was never made, or (for a fire that never settled) never started. */
  missed: number;
  /** Still running, queued or retrying when the measurement ended. */
  unfinished: number;
  /** Runs that needed more than one attempt. */
  retried: number;
  rowsRead: number;
  /** Run start (connector_runs.started_at) minus the fire time: the figure. */
  delayMs: Distribution;
  /** BullMQ: the job taken by a worker (processedOn) minus the fire time: queue wait. */
  pickupMs: Distribution;
  /** From taken to run start: next-iteration scheduling, loading the connector, the run row, the advisory lock. */
  prepMs: Distribution;
  /** Run start to finish. */
  durationMs: Distribution;
  /** The last run of the fire finished this long after it (max over the segment's fires). */
  drainMs: number;
  /** Runs that started a minute or more after their fire (flooring started_at would misattribute them). */
  startedAfterNextMinute: number;
  /** Runs whose fire time came from flooring started_at (job id without the scheduler's fire time). */
  fireFromFloor: number;
  /** Runs per second while a fire drained, runs / (last finish − first start): the median over the fires. */
  runsPerS: number;
  errors: Array<{ kind: string | null; error: string; n: number }>;
}

interface RunTiming {
  run: RunRow;
  fire: number;
  fromFloor: boolean;
  job?: JobTimes;
}

/** Fire time per run: the scheduler job id's millis, else started_at floored to its minute. */
export function timeRuns(runs: RunRow[], jobTimes: Map<string, JobTimes>): RunTiming[] {
  return runs.flatMap((run) => {
    const fromId = fireOfJobId(run.job_id);
    const t = fromId ?? run.started ?? run.queued;
    if (t === null) return [];
    return [
      {
        run,
        fire: fromId ?? Math.floor(t / MINUTE_MS) * MINUTE_MS,
        fromFloor: fromId === null,
        job: run.job_id ? jobTimes.get(run.job_id) : undefined,
      },
    ];
  });
}

export function segmentStats(label: string, fires: number[], timed: RunTiming[], connectors: number): SegmentStats {
  const wanted = new Set(fires);
  const mine = timed.filter((t) => wanted.has(t.fire) && t.run.trigger === 'schedule');
  const started = mine.filter((t) => t.run.started !== null);
  const byFire = new Map<number, RunTiming[]>();
  for (const t of mine) byFire.set(t.fire, [...(byFire.get(t.fire) ?? []), t]);
  let missed = 0;
  let drainMs = 0;
  const rates: number[] = [];
  for (const f of fires) {
    const list = byFire.get(f) ?? [];
    missed += connectors - new Set(list.map((t) => t.run.connector_id)).size;
    const last = Math.max(0, ...list.map((t) => t.run.finished ?? 0));
    if (last > 0) drainMs = Math.max(drainMs, last - f);
    const first = Math.min(...list.filter((t) => t.run.started !== null).map((t) => t.run.started!));
    if (last > first) rates.push((list.length * 1000) / (last - first));
  }
  const errors = new Map<string, { kind: string | null; error: string; n: number }>();
  for (const t of mine) {
    if (!t.run.error) continue;
    const key = `${t.run.error_kind}|${t.run.error}`;
    const e = errors.get(key) ?? { kind: t.run.error_kind, error: t.run.error, n: 0 };
    e.n++;
    errors.set(key, e);
  }
  const count = (s: string) => mine.filter((t) => t.run.status === s).length;
  return {
    label,
    fires: fires.length,
    expected: fires.length * connectors,
    runs: mine.length,
    succeeded: count('succeeded'),
    skipped: count('skipped'),
    failed: count('failed'),
    missed,
    unfinished: mine.filter((t) => t.run.finished === null).length,
    retried: mine.filter((t) => t.run.attempts > 1).length,
    rowsRead: mine.reduce((a, t) => a + t.run.rows_read, 0),
    delayMs: distribution(started.map((t) => t.run.started! - t.fire)),
    pickupMs: distribution(mine.filter((t) => t.job?.processedOn).map((t) => t.job!.processedOn! - t.fire)),
    prepMs: distribution(started.filter((t) => t.job?.processedOn).map((t) => t.run.started! - t.job!.processedOn!)),
    durationMs: distribution(started.filter((t) => t.run.finished !== null).map((t) => t.run.finished! - t.run.started!)),
    drainMs,
    startedAfterNextMinute: started.filter((t) => t.run.started! - t.fire >= MINUTE_MS).length,
    fireFromFloor: mine.filter((t) => t.fromFloor).length,
    runsPerS: distribution(rates).median,
    errors: [...errors.values()].sort((a, b) => b.n - a.n).slice(0, 10),
  };
}
