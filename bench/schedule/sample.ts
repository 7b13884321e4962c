/**
 * What a burst of scheduled runs waits on, sampled every `intervalMs` while it runs: the platform and source
 * databases' backends (pg_stat_activity: state, wait event, statement), Redis (its own CPU, commands and their
 * time, slow log), and each worker's event-loop delay (its /metrics). Means are "backends in that state at an
 * instant, on average": a class near the pool's size is a queue.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { machineCpuMs, processCpuMs } from '../lib/proc-stats';

export interface SamplerOptions {
  adminUrl: string;
  platformDb: string;
  sourceDb: string;
  redisUrl: string;
  redisPid: number;
  /** Each worker's pid and WORKER_METRICS_PORT (served with `metricsToken`). */
  workerPids: number[];
  metricsPorts: number[];
  metricsToken: string;
  intervalMs?: number;
}

export interface BurstSample {
  samples: number;
  seconds: number;
  /** Samples (and their seconds) in which the workers used at least a fifth of a core: the bursts. Means below are over them. */
  burstSamples: number;
  burstSeconds: number;
  /** During the bursts: the workers' CPU (% of one core, each), Redis' and the whole machine's (% of all cores). */
  burstCpu: { workerPercent: number; redisPercent: number; machinePercent: number };
  /** Per database: mean backends in each `application · state · wait event` class, and the busiest statements. */
  databases: Record<
    string,
    { classes: Array<{ what: string; mean: number; max: number }>; statements: Array<{ what: string; mean: number }> }
  >;
  redis: {
    cpuPercent: number;
    commands: Array<{ command: string; calls: number; usecPerCall: number; usecTotal: number }>;
    slowlog: Array<{ usec: number; command: string }>;
  };
  /** Each worker's event-loop delay (prom-client's histogram over the process's life, read at the end), ms. */
  eventLoop: Array<{ port: number; p50: number; p99: number; max: number } | null>;
}

export function startSampler(o: SamplerOptions): { stop(): Promise<BurstSample> } {
  const client = new pg.Client({ connectionString: o.adminUrl, application_name: 'qanatix-bench-sampler' });
  const redis = new Redis(o.redisUrl, { maxRetriesPerRequest: 1 });
  const classes = new Map<string, { sum: number; max: number }>();
  const statements = new Map<string, number>();
  let samples = 0;
  let burstSamples = 0;
  const burst = { ms: 0, worker: 0, redis: 0, busy: 0, total: 0 };
  let stopped = false;
  const started = Date.now();
  const ready = (async () => {
    await client.connect();
    await redis.config('SET', 'slowlog-log-slower-than', '2000');
    await redis.slowlog('RESET');
    return { cpu: processCpuMs(o.redisPid) ?? 0, commands: commandStats(await redis.info('commandstats')) };
  })();
  const workersCpu = () => o.workerPids.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0);
  const loop = (async () => {
    await ready;
    let last = { t: Date.now(), worker: workersCpu(), redis: processCpuMs(o.redisPid) ?? 0, machine: machineCpuMs() };
    while (!stopped) {
      const t = Date.now();
      const { rows } = await client.query<{ db: string; app: string; state: string; wait: string; query: string }>(
        `select datname as db, application_name as app, coalesce(state, '') as state,
                coalesce(wait_event_type || ':' || wait_event, 'cpu') as wait, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) as query
           from pg_stat_activity where datname in ($1, $2) and pid <> pg_backend_pid()`,
        [o.platformDb, o.sourceDb],
      );
      const cur = { t: Date.now(), worker: workersCpu(), redis: processCpuMs(o.redisPid) ?? 0, machine: machineCpuMs() };
      const inBurst = cur.worker - last.worker >= 0.2 * (cur.t - last.t);
      if (inBurst) {
        burstSamples++;
        burst.ms += cur.t - last.t;
        burst.worker += cur.worker - last.worker;
        burst.redis += cur.redis - last.redis;
        burst.busy += cur.machine.busy - last.machine.busy;
        burst.total += cur.machine.total - last.machine.total;
      }
      last = cur;
      samples++;
      if (!inBurst) {
        await new Promise((r) => setTimeout(r, Math.max(0, (o.intervalMs ?? 100) - (Date.now() - t))));
        continue;
      }
      const now = new Map<string, number>();
      for (const r of rows) {
        const db = r.db === o.platformDb ? 'platform' : 'source';
        const key = `${db}|${r.app} · ${r.state}${r.state === 'idle' ? '' : ` · ${r.wait}`}`;
        now.set(key, (now.get(key) ?? 0) + 1);
        if (r.state !== 'idle') statements.set(`${db}|${r.query}`, (statements.get(`${db}|${r.query}`) ?? 0) + 1);
      }
      for (const [key, n] of now) {
        const c = classes.get(key) ?? { sum: 0, max: 0 };
        c.sum += n;
        c.max = Math.max(c.max, n);
        classes.set(key, c);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, (o.intervalMs ?? 100) - (Date.now() - t))));
    }
  })();
  return {
    async stop() {
      stopped = true;
      const { cpu: cpu0, commands: commands0 } = await ready;
      await loop;
      const seconds = (Date.now() - started) / 1000;
      const cpu1 = processCpuMs(o.redisPid) ?? cpu0;
      // Since the sampling began (the fleet reads the server's totals too: they are not reset).
      const commands = [...commandStats(await redis.info('commandstats'))]
        .map(([command, c]) => {
          const calls = c.calls - (commands0.get(command)?.calls ?? 0);
          const usecTotal = c.usec - (commands0.get(command)?.usec ?? 0);
          return { command, calls, usecTotal, usecPerCall: Math.round((10 * usecTotal) / Math.max(1, calls)) / 10 };
        })
        .sort((a, b) => b.usecTotal - a.usecTotal)
        .slice(0, 12);
      const slow = (await redis.slowlog('GET', 20)) as Array<[number, number, number, string[]]>;
      const eventLoop = await Promise.all(o.metricsPorts.map((port) => eventLoopDelay(port, o.metricsToken)));
      await client.end();
      redis.disconnect();
      const databases: BurstSample['databases'] = {};
      for (const [key, c] of [...classes].sort((a, b) => b[1].sum - a[1].sum)) {
        const [db, what] = key.split('|') as [string, string];
        (databases[db] ??= { classes: [], statements: [] }).classes.push({ what, mean: c.sum / Math.max(1, burstSamples), max: c.max });
      }
      for (const [key, n] of [...statements].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
        const [db, what] = key.split('|') as [string, string];
        const d = (databases[db] ??= { classes: [], statements: [] });
        if (d.statements.length < 10) d.statements.push({ what, mean: n / Math.max(1, burstSamples) });
      }
      return {
        samples,
        seconds,
        burstSamples,
        burstSeconds: burst.ms / 1000,
        burstCpu: {
          workerPercent: (100 * burst.worker) / Math.max(1, burst.ms) / Math.max(1, o.workerPids.length),
          redisPercent: (100 * burst.redis) / Math.max(1, burst.ms),
          machinePercent: (100 * burst.busy) / Math.max(1, burst.total),
        },
        databases,
        redis: {
          cpuPercent: (100 * (cpu1 - cpu0)) / (seconds * 1000),
          commands,
          slowlog: slow.map((e) => ({ usec: e[2], command: e[3].slice(0, 3).join(' ').slice(0, 80) })),
        },
        eventLoop,
      };
    },
  };
}

function commandStats(info: string): Map<string, { calls: number; usec: number }> {
  return new Map(
    [...info.matchAll(/cmdstat_(\S+?):calls=(\d+),usec=(\d+)/g)].map((m) => [m[1]!, { calls: Number(m[2]), usec: Number(m[3]) }]),
  );
}

async function eventLoopDelay(port: number, token: string): Promise<{ port: number; p50: number; p99: number; max: number } | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    const read = (name: string) => Number(new RegExp(`^qanatix_nodejs_eventloop_lag_${name}_seconds (\\S+)`, 'm').exec(text)?.[1]) * 1000;
    return { port, p50: read('p50'), p99: read('p99'), max: read('max') };
  } catch {
    return null;
  }
}

/** The sample as Markdown lines. */
export function sampleReport(s: BurstSample): string {
  const c = s.burstCpu;
  const lines = [
    `Sampled ${s.samples} times over ${s.seconds.toFixed(1)} s; in ${s.burstSamples} (${s.burstSeconds.toFixed(1)} s) the workers were busy (the bursts).`,
    `During the bursts: each worker ${c.workerPercent.toFixed(0)}% of a core, Redis ${c.redisPercent.toFixed(0)}% of a core, the machine ${c.machinePercent.toFixed(0)}% of all cores.`,
    'Means below are over the burst samples.',
    '',
  ];
  for (const [db, d] of Object.entries(s.databases)) {
    lines.push(`${db} backends (mean / max at an instant):`);
    for (const c of d.classes) lines.push(`  ${c.mean.toFixed(2)} / ${c.max}  ${c.what}`);
    lines.push(`${db} statements not idle (mean):`);
    for (const st of d.statements) lines.push(`  ${st.mean.toFixed(2)}  ${st.what}`);
  }
  lines.push(`redis over the whole window: ${s.redis.cpuPercent.toFixed(0)}% of a core`);
  for (const c of s.redis.commands)
    lines.push(`  ${c.command}: ${c.calls} calls, ${c.usecPerCall} µs each, ${(c.usecTotal / 1000).toFixed(0)} ms`);
  for (const e of s.redis.slowlog) lines.push(`  slow: ${e.usec} µs ${e.command}`);
  for (const e of s.eventLoop)
    lines.push(
      e
        ? `worker :${e.port} event loop delay p50 ${e.p50.toFixed(1)} ms, p99 ${e.p99.toFixed(1)} ms, max ${e.max.toFixed(1)} ms`
        : 'worker: no metrics',
    );
  return lines.join('\n');
}
