/**
 * A fleet of connectors on one schedule run by one or more `bin/qanatix.mjs worker` processes on one Redis: every fire
 * in a window of whole minutes is counted against `connector_runs` (its `scheduled_for`), so a fire that never became
 * a run shows as missed whatever the schedule; start delays are `started_at − scheduled_for`; the workers' CPU over
 * the window is divided by the runs in it.
 */
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { firesBetween, resolveSchedule } from '../../jobs/schedule';
import { createPullQueue } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { reconcileSchedules } from '../../jobs/schedule-reconciler';
import { distribution, type Distribution } from '../lib/percentiles';
import { readFileSync } from 'node:fs';
import { machineCpuMs, processCpuMs, watchProcessesNamed } from '../lib/proc-stats';
import type { RedisServer } from '../lib/redis-server';
import { formatMs } from '../lib/stats';
import { createPlatform, dropPlatform, type Platform } from './fixture';
import { MINUTE_MS, nextMinute, sleepUntil } from './observe';
import { startSampler, type BurstSample } from './sample';
import { cpuBetween, startAccounting, type CpuSnapshot } from './accounting';
import { startWorkerProcess, type WorkerProcess } from './worker-process';
import { monotonicUs, profileOfPid, profileWindow, threadCpuBetween, threadCpuMs, type ProfileWindow } from './profile-window';
import { freePort } from '../lib/child-process';

const METRICS_TOKEN = randomBytes(16).toString('hex');

export interface FleetOptions {
  adminUrl: string;
  sourceUrl: string;
  connectors: number;
  schedule: string;
  workers: number;
  concurrency: number;
  minutes: number;
  redis: RedisServer;
  keep: boolean;
  /** Sample what the runs wait on during the window (bench/schedule/sample.ts). */
  sample?: boolean;
  bin?: string;
  /** Write a V8 CPU profile of each worker here (diagnosis only: it slows the workers). */
  profileDir?: string;
  workerEnv?: Record<string, string>;
  log(msg: string): void;
  track(cleanup: () => Promise<unknown>): () => void;
}

export interface FleetResult {
  connectors: number;
  schedule: string;
  workers: number;
  concurrency: number;
  window: { start: string; end: string; minutes: number };
  /** Connector × fire pairs the schedules make in the window. */
  expectedFires: number;
  /** Of them, fires with a run that started. */
  ran: number;
  /** Fires with no run row at all (not even a `missed` one): silent misses. */
  silent: number;
  /** Fires recorded as `missed` by the workers' reconcilers. */
  recordedMissed: number;
  /** Fires whose run had not started when the measurement ended. */
  unstarted: number;
  failed: number;
  /** Start delay of every run in the window; and without each connector's first run (its full read). */
  delayMs: Distribution;
  laterDelayMs: Distribution;
  /** Distinct fire seconds: how spread the fires were. */
  distinctFireSeconds: number;
  /** Runs after each connector's first, per second of the time some run was in progress (the workers' throughput). */
  laterRunsPerBusySecond: number;
  workersCpuMs: number;
  /** The workers' CPU over the window (runs, reconciler, BullMQ, idle) divided by the runs in it. */
  cpuPerRunMs: number;
  /** The CPU of the PostgreSQL backends serving the fleet's platform and source databases, likewise per run. */
  postgresCpuPerRunMs?: number;
  /** Redis commands over the window (runs, reconcilers, BullMQ's polling) ÷ runs started. */
  redisCommandsPerRun: number;
  machineBusyPercent: number;
  loadAverage: { start: number; end: number };
  /** Who spent the CPU, minute by minute (bench/schedule/accounting.ts); the first holds each connector's first, full run. */
  minutes: MinuteAccount[];
  sample?: BurstSample;
  /** With profileDir: where the workers' main threads spent the later minutes (each connector's first run left out). */
  profile?: { runs: number; window: ProfileWindow };
}

/** One minute of the window: the runs of its fires, and the CPU and Redis commands spent in it (to 0.5 s before the next). */
export interface MinuteAccount {
  fire: string;
  runs: number;
  /** Of them, connectors' first runs in the window (a full read). */
  firstRuns: number;
  /** Seconds in which some run of this minute was in progress. */
  busySeconds: number;
  redisCommands: number;
  cpu: CpuSnapshot;
  /** The workers' CPU in the minute by thread name, user and system (ms). */
  workerThreads?: Record<string, { user: number; system: number }>;
}

export async function runFleet(o: FleetOptions): Promise<FleetResult> {
  const label = `${o.connectors} × "${o.schedule}", ${o.workers} worker${o.workers > 1 ? 's' : ''} × c=${o.concurrency}`;
  let platform: Platform | undefined;
  const workers: WorkerProcess[] = [];
  const untrack: Array<() => void> = [];
  const admin = createRedis(o.redis.url);
  try {
    await admin.flushall();
    const t0 = Date.now();
    platform = await createPlatform(o.adminUrl, {
      count: o.connectors,
      sourceUrl: o.sourceUrl,
      schedule: o.schedule,
      sharedVertical: false,
    });
    const saved = platform;
    if (!o.keep) untrack.push(o.track(() => dropPlatform(saved)));
    o.log(`${label}: ${o.connectors} connectors saved in ${formatMs(Date.now() - t0)}`);
    const queue = createPullQueue(admin);
    await reconcileSchedules(platform.pool, queue);
    const metricsPorts: number[] = [];
    for (let i = 0; i < o.workers; i++) {
      const metricsPort = o.sample ? await freePort() : undefined;
      if (metricsPort) metricsPorts.push(metricsPort);
      const w = startWorkerProcess({
        databaseUrl: platform.db.url,
        redisUrl: o.redis.url,
        concurrency: o.concurrency,
        metricsPort,
        bin: o.bin,
        profileDir: o.profileDir,
        extraEnv: { ...(o.sample ? { METRICS_TOKEN } : {}), ...o.workerEnv },
      });
      workers.push(w);
      untrack.push(o.track(() => w.stop()));
    }
    while ((await queue.getWorkers()).length < o.workers) await new Promise((r) => setTimeout(r, 200));
    // The window opens on a minute boundary after every worker is up, and lasts whole minutes.
    const start = nextMinute(Date.now() + 5_000);
    const end = start + o.minutes * MINUTE_MS;
    await sleepUntil(start - 50);
    const sampler = o.sample
      ? startSampler({
          adminUrl: o.adminUrl,
          platformDb: platform.db.name,
          sourceDb: new URL(o.sourceUrl).pathname.slice(1),
          redisUrl: o.redis.url,
          redisPid: o.redis.pid,
          workerPids: workers.map((w) => w.pid),
          metricsPorts,
          metricsToken: METRICS_TOKEN,
        })
      : undefined;
    const cpu0 = workers.map((w) => processCpuMs(w.pid) ?? 0);
    const backends = watchBackends([platform.db.name, new URL(o.sourceUrl).pathname.slice(1)]);
    const redis0 = await redisCalls(admin);
    const accounting = startAccounting({
      adminUrl: o.adminUrl,
      platformDb: platform.db.name,
      sourceDb: new URL(o.sourceUrl).pathname.slice(1),
      workerPids: workers.map((w) => w.pid),
      redisPid: o.redis.pid,
    });
    // Each minute's runs are done long before the next fire: its account closes half a second before it.
    const pids = workers.map((w) => w.pid);
    const mark = (redisCommands: number) => ({ cpu: accounting.snapshot(), redisCommands, threads: threadCpuMs(pids), at: monotonicUs() });
    const marks: Array<ReturnType<typeof mark>> = [mark(redis0)];
    const markTimers = Array.from({ length: o.minutes - 1 }, (_, i) =>
      setTimeout(
        () => void redisCalls(admin).then((redisCommands) => marks.push(mark(redisCommands))),
        start + (i + 1) * MINUTE_MS - 500 - Date.now(),
      ),
    );
    const machine0 = machineCpuMs();
    const load0 = loadavg()[0]!;
    o.log(`${label}: measuring ${new Date(start).toISOString().slice(11, 19)}–${new Date(end).toISOString().slice(11, 19)}`);
    await sleepUntil(end);
    const cpu1 = workers.map((w) => processCpuMs(w.pid) ?? 0);
    const postgresCpuMs = backends();
    const redis1 = await redisCalls(admin);
    for (const t of markTimers) clearTimeout(t);
    marks.push(mark(redis1));
    await accounting.stop();
    const machine1 = machineCpuMs();
    const load1 = loadavg()[0]!;
    const sample = await sampler?.stop();
    // Runs of fires inside the window may still be going: give them up to three minutes.
    const settle = end + 3 * MINUTE_MS;
    const unfinished = async () =>
      (
        await platform!.pool.query<{ n: number }>(
          `select count(*)::int as n from connector_runs where scheduled_for < to_timestamp($1::float8 / 1000) and finished_at is null and status <> 'missed'`,
          [end],
        )
      ).rows[0]!.n;
    while (Date.now() < settle && (await unfinished()) > 0) await new Promise((r) => setTimeout(r, 1_000));
    // The reconcilers record a fire as missed once it is a minute old: one more pass covers the window's last fires.
    await reconcileSchedules(platform.pool, queue, Date.now() + MINUTE_MS);
    await queue.close();
    for (const w of workers) await w.stop();

    const { rows } = await platform.pool.query<{
      connector_id: string;
      fire: number;
      status: string;
      started: number | null;
      finished: number | null;
      first: boolean;
    }>(
      `select connector_id, (extract(epoch from scheduled_for) * 1000)::float8 as fire, status,
              (extract(epoch from started_at) * 1000)::float8 as started, (extract(epoch from finished_at) * 1000)::float8 as finished,
              scheduled_for = min(scheduled_for) over (partition by connector_id) as first
         from connector_runs where scheduled_for >= to_timestamp($1::float8 / 1000) and scheduled_for < to_timestamp($2::float8 / 1000)`,
      [start, end],
    );
    const seen = new Set(rows.map((r) => `${r.connector_id}|${r.fire}`));
    const expandedFires = new Map<string, number[]>();
    let expectedFires = 0;
    let silent = 0;
    for (const id of platform.connectorIds) {
      const pattern = resolveSchedule(o.schedule, id);
      let fires = expandedFires.get(pattern);
      if (!fires) expandedFires.set(pattern, (fires = firesBetween(pattern, 'UTC', start - 1, end, 100_000)));
      expectedFires += fires.length;
      for (const f of fires) if (!seen.has(`${id}|${f}`)) silent++;
    }
    const started = rows.filter((r) => r.started !== null && r.status !== 'missed');
    const later = started.filter((r) => !r.first);
    const workersCpuMs = cpu1.reduce((a, c, i) => a + c - cpu0[i]!, 0);
    const minutes = marks.slice(1).map((m, i): MinuteAccount => {
      const fire = start + i * MINUTE_MS;
      const runs = started.filter((r) => r.fire >= fire && r.fire < fire + MINUTE_MS);
      return {
        fire: new Date(fire).toISOString(),
        runs: runs.length,
        firstRuns: runs.filter((r) => r.first).length,
        busySeconds: busySeconds(runs),
        // Less the INFO that read the count.
        redisCommands: m.redisCommands - marks[i]!.redisCommands - 1,
        cpu: cpuBetween(marks[i]!.cpu, m.cpu),
        workerThreads: threadCpuBetween(marks[i]!.threads, m.threads),
      };
    });
    const profile = o.profileDir && marks.length > 2 ? laterMinutesProfile(o.profileDir, pids, marks[1]!.at, marks.at(-1)!.at) : undefined;
    return {
      connectors: o.connectors,
      schedule: o.schedule,
      workers: o.workers,
      concurrency: o.concurrency,
      window: { start: new Date(start).toISOString(), end: new Date(end).toISOString(), minutes: o.minutes },
      expectedFires,
      ran: started.length,
      silent,
      recordedMissed: rows.filter((r) => r.status === 'missed').length,
      unstarted: rows.filter((r) => r.started === null && r.status !== 'missed').length,
      failed: rows.filter((r) => r.status === 'failed').length,
      delayMs: distribution(started.map((r) => r.started! - r.fire)),
      laterDelayMs: distribution(later.map((r) => r.started! - r.fire)),
      distinctFireSeconds: new Set(rows.map((r) => Math.floor(r.fire / 1000))).size,
      laterRunsPerBusySecond: later.length / Math.max(0.001, busySeconds(later)),
      workersCpuMs,
      cpuPerRunMs: workersCpuMs / Math.max(1, started.length),
      postgresCpuPerRunMs: postgresCpuMs / Math.max(1, started.length),
      // Less the first INFO itself.
      redisCommandsPerRun: (redis1 - redis0 - 1) / Math.max(1, started.length),
      machineBusyPercent: (100 * (machine1.busy - machine0.busy)) / Math.max(1, machine1.total - machine0.total),
      loadAverage: { start: load0, end: load1 },
      minutes,
      sample,
      ...(profile ? { profile: { runs: minutes.slice(1).reduce((a, m) => a + m.runs, 0), window: profile } } : {}),
    };
  } finally {
    for (const w of workers) await w.stop().catch(() => {});
    for (const u of untrack) u();
    admin.disconnect();
    if (platform) {
      if (o.keep) await platform.pool.end().catch(() => {});
      else await dropPlatform(platform).catch((err: Error) => o.log(`could not drop ${platform?.db.name}: ${err.message}`));
    }
  }
}

/** Commands the Redis server has run since it started (its commandstats). */
async function redisCalls(redis: ReturnType<typeof createRedis>): Promise<number> {
  const stats = await redis.info('commandstats');
  return [...stats.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Seconds in which at least one of the runs was in progress (the union of their start–finish intervals). */
function busySeconds(runs: Array<{ started: number | null; finished: number | null }>): number {
  const spans = runs
    .filter((r) => r.started !== null && r.finished !== null)
    .map((r) => [r.started!, r.finished!] as const)
    .sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [s, e] = spans[0] ?? [0, 0];
  for (const [a, b] of spans.slice(1)) {
    if (a > e) {
      total += e - s;
      [s, e] = [a, b];
    } else e = Math.max(e, b);
  }
  return (total + e - s) / 1000;
}

/**
 * CPU of the PostgreSQL backends connected to `databases` (their process titles name the database) during the window:
 * sampled, because a pool closes idle connections between bursts and an exited backend takes its counters with it.
 */
function watchBackends(databases: string[], sampleMs = 200): () => number {
  return watchProcessesNamed('postgres', sampleMs, (pid) => {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return databases.some((db) => title.includes(` ${db} `));
    } catch {
      return false; // gone meanwhile
    }
  });
}

/** The workers' profiles over [fromUs, toUs), merged (the workers have written them on exit). */
function laterMinutesProfile(dir: string, pids: number[], fromUs: number, toUs: number): ProfileWindow | undefined {
  const windows = pids.flatMap((pid) => {
    const file = profileOfPid(dir, pid);
    return file ? [profileWindow(file, fromUs, toUs)] : [];
  });
  if (windows.length === 0) return undefined;
  if (windows.length === 1) return windows[0];
  const merge = <T extends { ms: number }>(lists: T[][], key: (t: T) => string) => {
    const m = new Map<string, T>();
    for (const t of lists.flat()) {
      const k = key(t);
      const had = m.get(k);
      m.set(k, had ? { ...had, ms: had.ms + t.ms } : { ...t });
    }
    return [...m.values()].sort((a, b) => b.ms - a.ms);
  };
  return {
    busyMs: windows.reduce((a, w) => a + w.busyMs, 0),
    idleMs: windows.reduce((a, w) => a + w.idleMs, 0),
    owners: merge(
      windows.map((w) => w.owners),
      (t) => t.owner,
    ),
    inclusive: merge(
      windows.map((w) => w.inclusive),
      (t) => t.owner,
    ),
    leaves: merge(
      windows.map((w) => w.leaves),
      (t) => t.fn,
    ).slice(0, 25),
  };
}
