import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { fireOfJobId, type PullJobData } from '../../jobs/pull-queue';

export { fireOfJobId };

export const MINUTE_MS = 60_000;

/** The next minute boundary strictly after `t`. */
export const nextMinute = (t: number) => Math.floor(t / MINUTE_MS) * MINUTE_MS + MINUTE_MS;

export async function sleepUntil(t: number): Promise<void> {
  const ms = t - Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms));
}

/** What BullMQ itself recorded about one job: when a worker took it (`processedOn`) and finished it. */
export interface JobTimes {
  /** Created (ms); for a scheduler's job, when the previous iteration was taken. */
  timestamp: number | null;
  delay: number | null;
  processedOn: number | null;
  finishedOn: number | null;
  attemptsMade: number | null;
}

/**
 * Read-only probes of the queue and the runs table, cheap enough to call every second while the worker
 * is measured (a few list reads and one indexed count).
 */
export class Probe {
  /** BullMQ trims completed jobs (removeOnComplete count 1,000): their times are copied before that. */
  readonly jobTimes = new Map<string, JobTimes>();
  private harvestedUntil = 0;

  constructor(
    private readonly queue: Queue<PullJobData>,
    private readonly redis: Redis,
    private readonly pool: pg.Pool,
  ) {}

  /** Ids of jobs not finished in Redis: waiting, active, prioritized, or delayed (future or due). */
  async openJobIds(): Promise<{ ready: string[]; delayed: string[] }> {
    const [ready, delayed] = await Promise.all([
      this.queue.getRanges(['waiting', 'active', 'prioritized'], 0, -1),
      this.queue.getRanges(['delayed'], 0, -1),
    ]);
    return { ready, delayed };
  }

  /** Every job made for `fire` has been taken and its run has finished (or was never made). */
  async fireSettled(fire: number): Promise<boolean> {
    const { ready, delayed } = await this.openJobIds();
    const suffix = `:${fire}`;
    if (ready.some((id) => id.endsWith(suffix)) || delayed.some((id) => id.endsWith(suffix))) return false;
    const { rows } = await this.pool.query<{ n: number }>(
      "select count(*)::int as n from connector_runs where job_id like '%' || $1 and finished_at is null",
      [suffix],
    );
    return rows[0]!.n === 0;
  }

  /** Nothing to do until the next fire: no job ready or due, no run unfinished. */
  async idle(now = Date.now()): Promise<boolean> {
    const { ready, delayed } = await this.openJobIds();
    if (ready.length > 0) return false;
    if (delayed.some((id) => (fireOfJobId(id) ?? 0) <= now)) return false;
    const { rows } = await this.pool.query<{ n: number }>('select count(*)::int as n from connector_runs where finished_at is null');
    return rows[0]!.n === 0;
  }

  /** Copies BullMQ's timestamps of the jobs whose runs finished since the last call (one pipeline). */
  async harvest(): Promise<void> {
    const since = this.harvestedUntil;
    this.harvestedUntil = Date.now();
    const { rows } = await this.pool.query<{ job_id: string }>(
      `select job_id from connector_runs where job_id is not null and finished_at is not null and finished_at >= to_timestamp($1::float8 / 1000) - interval '30 seconds'`,
      [since],
    );
    const ids = rows.map((r) => r.job_id).filter((id) => !this.jobTimes.get(id)?.finishedOn);
    if (ids.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const id of ids)
      pipeline.hmget(`${this.queue.qualifiedName}:${id}`, 'timestamp', 'delay', 'processedOn', 'finishedOn', 'attemptsMade');
    const replies = (await pipeline.exec()) ?? [];
    const num = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? null : Number(v));
    replies.forEach(([err, value], i) => {
      if (err || !Array.isArray(value)) return;
      const [timestamp, delay, processedOn, finishedOn, attemptsMade] = value as Array<string | null>;
      if (processedOn === null && timestamp === null) return; // already trimmed
      this.jobTimes.set(ids[i]!, {
        timestamp: num(timestamp),
        delay: num(delay),
        processedOn: num(processedOn),
        finishedOn: num(finishedOn),
        attemptsMade: num(attemptsMade),
      });
    });
  }
}

/**
 * Samples what the platform's and the source's PostgreSQL sessions wait on (pg_stat_activity), to tell
 * lock contention from plain CPU or I/O when delays grow.
 */
export class WaitSampler {
  readonly counts = new Map<string, number>();
  samples = 0;
  activeSessions = 0;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly databases: string[],
    private readonly ownApplication: string,
  ) {}

  start(everyMs = 1_000): void {
    this.timer = setInterval(() => void this.sample(), everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { rows } = await this.pool.query<{ what: string; n: number }>(
        `select coalesce(wait_event_type || ':' || wait_event, 'CPU (no wait)') as what, count(*)::int as n
           from pg_stat_activity where datname = any($1) and state = 'active' and application_name <> $2 group by 1`,
        [this.databases, this.ownApplication],
      );
      this.samples++;
      for (const r of rows) {
        this.activeSessions += r.n;
        this.counts.set(r.what, (this.counts.get(r.what) ?? 0) + r.n);
      }
    } catch {
      // a sample lost to a busy server is not worth failing the benchmark for
    } finally {
      this.busy = false;
    }
  }

  summary(): { samples: number; meanActiveSessions: number; waits: Array<{ what: string; share: number }> } {
    const total = [...this.counts.values()].reduce((a, b) => a + b, 0) || 1;
    return {
      samples: this.samples,
      meanActiveSessions: this.samples ? this.activeSessions / this.samples : 0,
      waits: [...this.counts].sort((a, b) => b[1] - a[1]).map(([what, n]) => ({ what, share: n / total })),
    };
  }
}
