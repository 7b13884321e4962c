import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createPullQueue, type PullJobData } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { reconcileSchedules } from '../../jobs/schedule-reconciler';
import { summarizeCpuProfile, type ProfileSummary } from '../lib/cpuprofile-summary';
import { machineCpuMs, processCpuMs, readVmBytes, watchProcess, watchProcessesNamed } from '../lib/proc-stats';
import type { RedisServer } from '../lib/redis-server';
import { formatMs } from '../lib/stats';
import { loadRuns, segmentStats, timeRuns, type SegmentStats } from './analyze';
import { BENCH_APP, createPlatform, dropPlatform, type Platform } from './fixture';
import { MINUTE_MS, nextMinute, Probe, sleepUntil, WaitSampler } from './observe';
import { startWorkerProcess, type WorkerOutput, type WorkerProcess } from './worker-process';

export interface ScenarioOptions {
  adminUrl: string;
  sourceUrl: string;
  sourceDatabase: string;
  connectors: number;
  minutes: number;
  concurrency: number;
  redis: RedisServer;
  sharedVertical: boolean;
  keep: boolean;
  log(msg: string): void;
  /** Registers a clean-up for an interrupted run (Ctrl-C); returns its removal. */
  track(cleanup: () => Promise<unknown>): () => void;
  /** Minutes after the last measured fire before its unfinished runs are given up on. */
  settleMinutes: number;
  /** Where to write a CPU profile of the worker (its whole life), or undefined for none. */
  profileDir?: string;
}

/** Worker, PostgreSQL and machine CPU from one fire to USAGE_SPAN_MS after it (just before the next). */
export interface MinuteUsage {
  fire: string;
  spanMs: number;
  workerCpuMs: number | null;
  /** Every postgres process on the machine: other users of the server are in it too. */
  postgresCpuMs: number;
  /** Whole machine, all cores: how much else competed with the worker. */
  machineBusyPercent: number;
}

export interface IdleMeasurement {
  start: string;
  end: string;
  windowMs: number;
  workerCpuMs: number | null;
  /** Worker CPU as % of one core over the window. */
  workerCpuPercent: number | null;
  workerRssBytes: number | null;
  workerPeakRssInWindowBytes: number | null;
  redisCpuPercent: number | null;
  /** Every postgres process on the machine (other users of the server included). */
  postgresCpuPercent: number;
  machineBusyPercent: number;
  /** Must be 0: a run inside the window would make it a busy window. */
  runsStartedInWindow: number;
}

export interface ScenarioResult {
  concurrency: number;
  connectors: number;
  database: string;
  armMs: number;
  schedulersArmed: number;
  /** Distinct `next` values over the schedulers after arming (1: they all fire together). */
  distinctNextFires: number;
  firstFire: string;
  workerStartupMs: number;
  workerReadyBeforeFirstFire: boolean;
  fires: Array<{ fire: string; settledAfterMs: number | null }>;
  perFire: SegmentStats[];
  firstMinute: SegmentStats;
  laterMinutes: SegmentStats | null;
  overall: SegmentStats;
  /** Runs for fires after the measured ones (the worker kept running while waiting for an idle window). */
  runsAfterMeasuredFires: number;
  usage: MinuteUsage[];
  idle: IdleMeasurement | { skipped: string };
  workerPeakRssBytes: number | null;
  postgresWaits: ReturnType<WaitSampler['summary']>;
  bullmqCounts: Record<string, number>;
  redisUsedMemoryBytes: number | null;
  workerOutput: WorkerOutput;
  workerStop: { code: number | null; ms: number };
  /** With --profile: where the worker's CPU went over its whole life (start-up, every fire, idle). */
  profile?: { file: string; summary: ProfileSummary };
}

const iso = (t: number) => new Date(t).toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The worker must be up before the first fire: a fire during its start-up would measure the start-up. */
const LEAD_MS = 25_000;
const IDLE_WINDOW_MS = 30_000;
/** Idle windows lie between :15 and :58 of a minute, well clear of the fire at :00 and its reconciliation. */
const IDLE_EARLIEST_MS = 15_000;
const IDLE_LATEST_END_MS = 58_000;
const IDLE_MIN_WINDOW_MS = 10_000;
const IDLE_GRACE_MS = 3_000;
const USAGE_SPAN_MS = 58_000;

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const { log } = o;
  let platform: Platform | undefined;
  let worker: WorkerProcess | undefined;
  let conn: Redis | undefined;
  let queue: Queue<PullJobData> | undefined;
  let waits: WaitSampler | undefined;
  const timers: NodeJS.Timeout[] = [];
  const untrack: Array<() => void> = [];
  try {
    const admin = createRedis(o.redis.url);
    await admin.flushall();
    admin.disconnect();

    const t0 = Date.now();
    platform = await createPlatform(o.adminUrl, {
      count: o.connectors,
      sourceUrl: o.sourceUrl,
      schedule: '* * * * *',
      sharedVertical: o.sharedVertical,
    });
    const saved = platform;
    if (!o.keep) untrack.push(o.track(() => dropPlatform(saved)));
    log(`c=${o.concurrency}: ${platform.db.name} migrated, ${o.connectors} connectors saved in ${formatMs(Date.now() - t0)}`);
    conn = createRedis(o.redis.url);
    queue = createPullQueue(conn);
    const probe = new Probe(queue, conn, platform.pool);

    if (nextMinute(Date.now()) - Date.now() < LEAD_MS) {
      log(`c=${o.concurrency}: waiting for the next minute so the worker is up before the first fire`);
      await sleepUntil(nextMinute(Date.now()) + 500);
    }
    const armStart = Date.now();
    const armed = await reconcileSchedules(platform.pool, queue);
    const armMs = Date.now() - armStart;
    const schedulers = await queue.getJobSchedulers(0, -1, true);
    const nexts = new Set(schedulers.map((s) => s.next));
    const firstFire = Math.min(...schedulers.map((s) => s.next ?? Infinity));
    if (!Number.isFinite(firstFire)) throw new Error('no job scheduler has a next fire time after arming');
    log(`c=${o.concurrency}: ${armed.added.length} schedulers armed in ${formatMs(armMs)}; first fire ${iso(firstFire)}`);

    const workerStart = Date.now();
    const profileDir = o.profileDir ? join(o.profileDir, `c${o.concurrency}`) : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    worker = startWorkerProcess({ databaseUrl: platform.db.url, redisUrl: o.redis.url, concurrency: o.concurrency, profileDir });
    const started = worker;
    untrack.unshift(o.track(() => started.stop()));
    for (;;) {
      if (worker.exited()) throw new Error(`the worker exited (${worker.exited()}):\n${worker.service.tail()}`);
      if ((await queue.getWorkers()).length > 0) break;
      if (Date.now() - workerStart > 60_000) throw new Error(`the worker did not connect within 60 s:\n${worker.service.tail()}`);
      await sleep(100);
    }
    const workerReady = Date.now();
    log(`c=${o.concurrency}: worker pid ${worker.pid} ready in ${formatMs(workerReady - workerStart)}`);

    const fires = Array.from({ length: o.minutes }, (_, i) => firstFire + i * MINUTE_MS);
    const lastFire = fires.at(-1)!;

    // CPU per minute, sampled on the boundaries themselves.
    const usage: MinuteUsage[] = [];
    const pid = worker.pid;
    for (const f of fires) {
      timers.push(
        setTimeout(() => {
          const cpu0 = processCpuMs(pid);
          const machine0 = machineCpuMs();
          const stopPg = watchProcessesNamed('postgres', 500);
          timers.push(
            setTimeout(
              () => {
                const cpu1 = processCpuMs(pid);
                const machine1 = machineCpuMs();
                usage.push({
                  fire: iso(f),
                  spanMs: USAGE_SPAN_MS,
                  workerCpuMs: cpu0 !== null && cpu1 !== null ? cpu1 - cpu0 : null,
                  postgresCpuMs: stopPg(),
                  machineBusyPercent: (100 * (machine1.busy - machine0.busy)) / Math.max(1, machine1.total - machine0.total),
                });
              },
              f + USAGE_SPAN_MS - Date.now(),
            ),
          );
        }, f - Date.now()),
      );
    }

    waits = new WaitSampler(platform.pool, [platform.db.name, o.sourceDatabase], BENCH_APP);
    waits.start();
    const settledAt = new Map<number, number>();
    const pending = [...fires];
    let nextHarvest = Date.now() + 10_000;
    const settleDeadline = lastFire + o.settleMinutes * MINUTE_MS;
    while (pending.length && Date.now() < settleDeadline) {
      if (worker.exited())
        throw new Error(
          `the worker exited mid-run (${worker.exited()}); nothing here stops it before the end, so something else signalled it:\n${worker.service.tail()}`,
        );
      const f = pending[0]!;
      if (Date.now() >= f + 2_000 && (await probe.fireSettled(f))) {
        settledAt.set(f, Date.now());
        pending.shift();
        const { rows } = await platform.pool.query<{ n: number }>(
          "select count(*)::int as n from connector_runs where job_id like '%:' || $1",
          [String(f)],
        );
        log(`c=${o.concurrency}: fire ${iso(f).slice(11, 19)} settled after ${formatMs(Date.now() - f)}, ${rows[0]!.n} runs`);
        continue;
      }
      if (Date.now() >= nextHarvest) {
        await probe.harvest();
        nextHarvest = Date.now() + 10_000;
      }
      await sleep(1_000);
    }
    waits.stop();
    await probe.harvest();
    // Before the idle window, which resets VmHWM to measure its own peak.
    const workerPeakRssBytes = readVmBytes(worker.pid, 'VmHWM');
    if (pending.length)
      log(
        `c=${o.concurrency}: fires ${pending.map((f) => iso(f).slice(11, 19)).join(', ')} did not settle within ${o.settleMinutes} minutes of the last fire`,
      );

    // Idle: a 30 s window with no fire in it, after the last measured fire's runs are done.
    const idle = await measureIdle(o, probe, platform, worker, o.redis, Date.now() + 3 * MINUTE_MS);
    if ('skipped' in idle) log(`c=${o.concurrency}: idle CPU not measured: ${idle.skipped}`);
    else
      log(
        `c=${o.concurrency}: idle worker CPU ${idle.workerCpuPercent?.toFixed(2)}% of a core over ${formatMs(idle.windowMs)}, RSS ${((idle.workerRssBytes ?? 0) / 2 ** 20).toFixed(0)} MiB`,
      );

    // The last minute's CPU sample lands just before the next fire; stop the worker only after it.
    while (usage.length < fires.length && Date.now() < lastFire + MINUTE_MS) await sleep(200);
    for (const t of timers) clearTimeout(t);
    await probe.harvest();
    const bullmqCounts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
    const memory = /used_memory:(\d+)/.exec(await conn.info('memory'));
    const workerStop = await worker.stop();
    log(`c=${o.concurrency}: worker stopped (SIGTERM) in ${formatMs(workerStop.ms)}, exit code ${workerStop.code}`);

    // One profile per thread: tsx's module-hooks thread writes its own; the busiest one is the main thread.
    const profile = profileDir
      ? readdirSync(profileDir)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => ({
            file: join(profileDir, f),
            summary: summarizeCpuProfile(JSON.parse(readFileSync(join(profileDir, f), 'utf8')), 20),
          }))
          .sort((a, b) => b.summary.totalMs - b.summary.idleMs - (a.summary.totalMs - a.summary.idleMs))[0]
      : undefined;
    if (profileDir && !profile) log(`c=${o.concurrency}: no CPU profile was written to ${profileDir}`);

    const runs = await loadRuns(platform.pool);
    const timed = timeRuns(runs, probe.jobTimes);
    const measured = new Set(fires);
    const perFire = fires.map((f, i) => segmentStats(`minute ${i + 1}`, [f], timed, o.connectors));
    return {
      concurrency: o.concurrency,
      connectors: o.connectors,
      database: platform.db.name,
      armMs,
      schedulersArmed: schedulers.length,
      distinctNextFires: nexts.size,
      firstFire: iso(firstFire),
      workerStartupMs: workerReady - workerStart,
      workerReadyBeforeFirstFire: workerReady < firstFire,
      fires: fires.map((f) => ({ fire: iso(f), settledAfterMs: settledAt.has(f) ? settledAt.get(f)! - f : null })),
      perFire,
      firstMinute: perFire[0]!,
      laterMinutes: fires.length > 1 ? segmentStats(`minutes 2–${fires.length}`, fires.slice(1), timed, o.connectors) : null,
      overall: segmentStats('all minutes', fires, timed, o.connectors),
      runsAfterMeasuredFires: timed.filter((t) => !measured.has(t.fire) && t.fire > lastFire).length,
      usage,
      idle,
      workerPeakRssBytes,
      postgresWaits: waits.summary(),
      bullmqCounts,
      redisUsedMemoryBytes: memory ? Number(memory[1]) : null,
      workerOutput: worker.output(),
      workerStop,
      profile,
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const u of untrack) u();
    waits?.stop();
    await worker?.stop().catch(() => {});
    await queue?.close().catch(() => {});
    conn?.disconnect();
    if (platform) {
      if (o.keep) {
        await platform.pool.end().catch(() => {});
        log(`c=${o.concurrency}: kept ${platform.db.url}`);
      } else {
        await dropPlatform(platform).catch((err: Error) => log(`could not drop ${platform?.db.name}: ${err.message}`));
      }
    }
  }
}

/**
 * Measures the worker while nothing is queued or running and no fire is due: from :15 to :45 of a minute
 * when the fire's runs are done by :15; when they take longer, from 3 s after they are done to :58 at the
 * latest (at least 10 s), so a worker busy for most of every minute is still measured between fires.
 */
async function measureIdle(
  o: ScenarioOptions,
  probe: Probe,
  platform: Platform,
  worker: WorkerProcess,
  redis: RedisServer,
  deadline: number,
): Promise<IdleMeasurement | { skipped: string }> {
  let start: number;
  let end: number;
  for (;;) {
    const now = Date.now();
    if (now > deadline) return { skipped: `the worker was never idle between :15 and :45 of a minute (deadline ${iso(deadline)})` };
    if (worker.exited()) return { skipped: `the worker exited (${worker.exited()})` };
    const minute = Math.floor(now / MINUTE_MS) * MINUTE_MS;
    const s = now - minute;
    if (s < IDLE_EARLIEST_MS) {
      await sleepUntil(minute + IDLE_EARLIEST_MS);
      continue;
    }
    if (s > IDLE_LATEST_END_MS - IDLE_MIN_WINDOW_MS - IDLE_GRACE_MS) {
      await sleepUntil(minute + MINUTE_MS + IDLE_EARLIEST_MS);
      continue;
    }
    if (await probe.idle()) {
      // A few seconds' grace, so the tail of the last run (its commits, freed memory) is not counted as idle.
      await sleep(IDLE_GRACE_MS);
      start = Date.now();
      end = Math.min(start + IDLE_WINDOW_MS, minute + IDLE_LATEST_END_MS);
      if (end - start >= IDLE_MIN_WINDOW_MS && (await probe.idle())) break;
      continue;
    }
    await sleep(500);
  }
  o.log(`c=${o.concurrency}: measuring idle CPU from ${iso(start).slice(11, 19)} for ${((end - start) / 1000).toFixed(1)} s`);
  const stopWorker = watchProcess(worker.pid, 1_000);
  const stopPg = watchProcessesNamed('postgres', 1_000);
  const redis0 = processCpuMs(redis.pid);
  await sleepUntil(end);
  end = Date.now();
  const w = stopWorker();
  const pgMs = stopPg();
  const redis1 = processCpuMs(redis.pid);
  const windowMs = end - start;
  const { rows } = await platform.pool.query<{ n: number }>(
    'select count(*)::int as n from connector_runs where started_at between to_timestamp($1::float8 / 1000) and to_timestamp($2::float8 / 1000)',
    [start, end],
  );
  const pct = (ms: number | null) => (ms === null ? null : (100 * ms) / windowMs);
  return {
    start: iso(start),
    end: iso(end),
    windowMs,
    workerCpuMs: w.cpuMs,
    workerCpuPercent: pct(w.cpuMs),
    workerRssBytes: readVmBytes(worker.pid, 'VmRSS'),
    workerPeakRssInWindowBytes: w.peakRssBytes,
    redisCpuPercent: redis0 !== null && redis1 !== null ? pct(redis1 - redis0) : null,
    postgresCpuPercent: pct(pgMs)!,
    machineBusyPercent: (100 * w.machineBusyMs) / Math.max(1, w.machineTotalMs),
    runsStartedInWindow: rows[0]!.n,
  };
}
