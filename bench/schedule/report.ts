import { sampleReport } from './sample';
import { formatSummary } from '../lib/cpuprofile-summary';
import { markdownTable } from '../lib/markdown';
import type { Distribution } from '../lib/percentiles';
import type { MachineInfo } from '../lib/results';
import { formatBytes, formatMs } from '../lib/stats';
import type { SegmentStats } from './analyze';
import type { FleetResult, MinuteAccount } from './fleet';
import { groupScope } from './accounting';
import type { ScenarioResult } from './scenario';

export interface ScheduleBenchResult {
  benchmark: 'schedule';
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  postgres: string;
  redis: string;
  /** The commit measured, and whether src/, jobs/, connectors/ or bin/ had uncommitted edits. */
  revision: { commit: string; dirty: boolean };
  options: {
    connectors: number;
    minutes: number;
    concurrency: number[];
    rows: number;
    sharedVertical: boolean;
    schedule: string;
    profiled: boolean;
  };
  fleets: FleetResult[];
  scenarios: ScenarioResult[];
}

const ms = (d: Distribution, k: keyof Distribution) => (d.n ? formatMs(d[k]) : '—');
const seconds = (msValue: number | null | undefined) =>
  msValue === null || msValue === undefined ? '—' : `${(msValue / 1000).toFixed(2)} s`;
const pct = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : `${v.toFixed(digits)}%`;

function outcome(s: SegmentStats): string {
  const parts = [`${s.succeeded}/${s.expected}`];
  if (s.skipped) parts.push(`${s.skipped} skipped`);
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.missed) parts.push(`${s.missed} missed`);
  if (s.unfinished) parts.push(`${s.unfinished} unfinished`);
  if (s.retried) parts.push(`${s.retried} retried`);
  return parts.join(', ');
}

function delayRow(c: number, s: SegmentStats, note = ''): string[] {
  return [
    String(c),
    s.label + note,
    outcome(s),
    ms(s.delayMs, 'median'),
    ms(s.delayMs, 'p90'),
    ms(s.delayMs, 'p99'),
    ms(s.delayMs, 'max'),
    `${ms(s.pickupMs, 'median')} / ${ms(s.pickupMs, 'p99')}`,
    `${ms(s.prepMs, 'median')} / ${ms(s.prepMs, 'p99')}`,
    `${ms(s.durationMs, 'median')} / ${ms(s.durationMs, 'p99')}`,
    formatMs(s.drainMs),
    Number.isFinite(s.runsPerS) ? s.runsPerS.toFixed(1) : '—',
  ];
}

/**
 * What one empty incremental run asks of the servers after the first run of its definition (counted from the code:
 * jobs/pull-processor.ts, jobs/run-pull.ts, src/store/, connectors/postgresql/postgresql-session.ts).
 */
/** Counted by `npx tsx bench/schedule/round-trips.ts` (each statement a client sends); Redis per run by the fleets' commandstats. */
export const ROUND_TRIPS = [
  [
    'platform PostgreSQL',
    'connector, run of the fire and advisory lock in one statement (insert or find, with any cancel request; on the connection that keeps ' +
      "the lock); attempt open (run, state, cursor and the last successful run's columns in one statement); end (the attempt's start: " +
      'source clock, cursor, columns and started event; next :last_pull, held-back rows, succeeded outcome and its events; one statement, ' +
      'on the session holding the lock); unlock; all four prepared once per connection (no notification claim without a notify URL)',
    '4',
  ],
  [
    'source PostgreSQL (kept connection)',
    'describe (BEGIN with session reset, the source clock and LIMIT 0 in one write; the catalog statement, prepared once per connection ' +
      'and planned once, with COMMIT in one write); one keyset page with the held-back count beside it (BEGIN and page in one write, ' +
      'count and COMMIT in one write): 8 statements',
    '4',
  ],
  ['Redis (BullMQ)', "job taken (moveToActive, next fire's job made), job finished (moveToFinished, next job fetched)", '2–3'],
];

function fleetReport(r: ScheduleBenchResult): string[] {
  if (r.fleets.length === 0) return [];
  const out: string[] = [];
  out.push(`## Scheduled pulls: fleets (every fire counted against \`connector_runs\`)`, '');
  out.push(
    `Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), ${formatBytes(r.machine.memoryBytes)} RAM, ${r.machine.os}; Node ${r.machine.node}; ` +
      `PostgreSQL ${r.postgres}; Redis ${r.redis}; code at ${r.revision.commit}${r.revision.dirty ? ' with uncommitted edits' : ''}. ` +
      `Source: one table of ${r.options.rows} rows; each connector writes its own vertical. Run ${r.startedAt}.`,
    '',
    'Delay = `started_at − scheduled_for` (the fire time the run was made for). "later" leaves out each connector\'s first run in the window ' +
      '(its full read). Silent = fires with no run row at all; recorded missed = fires the reconcilers recorded as `missed`. ' +
      "CPU per run = the workers' CPU over the window (runs, reconciler, BullMQ, idle time) ÷ runs started; PostgreSQL CPU " +
      "per run likewise, of the backends serving the fleet's platform and source databases. " +
      'Runs/s = later runs ÷ seconds in which any run was in progress.',
    '',
  );
  const d = (x: Distribution) => (x.n ? `${formatMs(x.median)} / ${formatMs(x.p90)} / ${formatMs(x.p99)} / ${formatMs(x.max)}` : '—');
  out.push(
    markdownTable(
      [
        'connectors × schedule',
        'workers × concurrency',
        'window',
        'fires expected',
        'ran',
        'silent',
        'recorded missed',
        'not started',
        'failed',
        'delay med / p90 / p99 / max',
        'later: med / p90 / p99 / max',
        'fire seconds',
        'runs/s',
        'CPU per run',
        'PostgreSQL CPU per run',
        'Redis cmds per run',
        'machine busy',
        'load avg start → end',
      ],
      r.fleets.map((f) => [
        `${f.connectors.toLocaleString('en')} × \`${f.schedule}\``,
        `${f.workers} × ${f.concurrency}`,
        `${f.window.start.slice(11, 16)}–${f.window.end.slice(11, 16)} (${f.window.minutes} min)`,
        f.expectedFires.toLocaleString('en'),
        f.ran.toLocaleString('en'),
        String(f.silent),
        String(f.recordedMissed),
        String(f.unstarted),
        String(f.failed),
        d(f.delayMs),
        d(f.laterDelayMs),
        String(f.distinctFireSeconds),
        f.laterRunsPerBusySecond.toFixed(1),
        `${f.cpuPerRunMs.toFixed(2)} ms`,
        f.postgresCpuPerRunMs === undefined ? '—' : `${f.postgresCpuPerRunMs.toFixed(2)} ms`,
        f.redisCommandsPerRun.toFixed(1),
        pct(f.machineBusyPercent, 0),
        `${f.loadAverage.start.toFixed(1)} → ${f.loadAverage.end.toFixed(1)}`,
      ]),
    ),
    '',
    "Round trips of one empty incremental run (after its definition's first run):",
    '',
    markdownTable(['server', 'what', 'round trips'], ROUND_TRIPS),
    '',
  );
  return out;
}

/** Runs, and CPU per run by who spent it, for the minute of the first runs, the later minutes, and the whole window. */
function accountingReport(f: FleetResult): string[] {
  if (!f.minutes?.length) return [];
  const parts: Array<[string, MinuteAccount[]]> = [
    ['first minute', f.minutes.slice(0, 1)],
    ...(f.minutes.length > 1 ? [['later minutes', f.minutes.slice(1)] as [string, MinuteAccount[]]] : []),
    ['whole window', f.minutes],
  ];
  const sum = (ms: MinuteAccount[], pick: (m: MinuteAccount) => number) => ms.reduce((a, m) => a + pick(m), 0);
  const groups = [...new Set(f.minutes.flatMap((m) => Object.keys(m.cpu.postgres)))].sort();
  const fleetGroups = groups.filter((g) => ['platform', 'source'].includes(groupScope(g)));
  const perRun = (ms: MinuteAccount[], pick: (m: MinuteAccount) => number) => {
    const runs = sum(ms, (m) => m.runs);
    return runs ? (sum(ms, pick) / runs).toFixed(2) : '—';
  };
  const pgOf = (m: MinuteAccount, gs: string[]) => gs.reduce((a, g) => a + (m.cpu.postgres[g]?.cpuMs ?? 0), 0);
  const out = [
    '',
    `Who spent the CPU of ${f.connectors.toLocaleString('en')} × \`${f.schedule}\` on ${f.workers} × ${f.concurrency}, ms per run ` +
      '(each minute from its fire to half a second before the next; PostgreSQL = its processes serving the platform and source databases):',
    '',
    markdownTable(
      ['part', 'runs (first runs)', 'runs/s', 'worker', 'PostgreSQL', 'Redis', 'all three', 'Redis cmds per run'],
      parts.map(([label, ms]) => [
        label,
        `${sum(ms, (m) => m.runs)} (${sum(ms, (m) => m.firstRuns)})`,
        (
          sum(ms, (m) => m.runs) /
          Math.max(
            0.001,
            sum(ms, (m) => m.busySeconds),
          )
        ).toFixed(1),
        perRun(ms, (m) => m.cpu.workersMs),
        perRun(ms, (m) => pgOf(m, fleetGroups)),
        perRun(ms, (m) => m.cpu.redisMs),
        perRun(ms, (m) => m.cpu.workersMs + pgOf(m, fleetGroups) + m.cpu.redisMs),
        perRun(ms, (m) => m.redisCommands),
      ]),
    ),
    '',
    'PostgreSQL by process (application_name, or backend_type for a server process), ms per run, and processes started per minute; ' +
      '"server" and "other databases" serve everyone on the server and are not in the figures above:',
    '',
    markdownTable(
      ['processes', ...parts.map(([label]) => label), 'started per minute'],
      groups.map((g) => [
        g,
        ...parts.map(([, ms]) => perRun(ms, (m) => m.cpu.postgres[g]?.cpuMs ?? 0)),
        (sum(f.minutes, (m) => m.cpu.postgres[g]?.born ?? 0) / f.minutes.length).toFixed(1),
      ]),
    ),
    ...threadReport(f),
    ...profileReport(f),
  ];
  return out;
}

/** The workers' CPU in the later minutes by thread: the main thread runs the JavaScript, V8Worker threads collect garbage. */
function threadReport(f: FleetResult): string[] {
  const later = f.minutes.slice(1).filter((m) => m.workerThreads);
  const runs = later.reduce((a, m) => a + m.runs, 0);
  if (!runs) return [];
  const names = [...new Set(later.flatMap((m) => Object.keys(m.workerThreads!)))].sort();
  const perRun = (name: string, kind: 'user' | 'system') => later.reduce((a, m) => a + (m.workerThreads![name]?.[kind] ?? 0), 0) / runs;
  const rows = names.map((n) => [n, perRun(n, 'user'), perRun(n, 'system')] as const).filter(([, u, s]) => u + s > 0);
  return [
    '',
    "The workers' CPU in the later minutes by thread, ms per run (user and system time; clock ticks of 10 ms, so small figures are coarse):",
    '',
    markdownTable(
      ['thread', 'user', 'system', 'both'],
      rows.map(([n, u, s]) => [n, u.toFixed(3), s.toFixed(3), (u + s).toFixed(3)]),
    ),
  ];
}

/** Where the main threads' time went in the later minutes, from the workers' V8 CPU profiles. */
function profileReport(f: FleetResult): string[] {
  if (!f.profile?.runs) return [];
  const { runs, window: w } = f.profile;
  const inclusive = new Map(w.inclusive.map((i) => [i.owner, i.ms]));
  const ms = (x: number) => (x / runs).toFixed(3);
  return [
    '',
    `Where the workers' main threads spent the later minutes (V8 CPU profile: ${ms(w.busyMs)} ms per run sampled busy; a profiled ` +
      'worker is slower, and a sample taken in a system call counts its wall time, so read shares, not totals). "Self" charges a ' +
      "sample to the package or source file nearest its leaf (Node's own modules and built-ins are charged to their caller); " +
      '"with callees" counts every sample with that owner anywhere on its stack:',
    '',
    markdownTable(
      ['owner', 'self ms per run', 'with callees'],
      w.owners.slice(0, 25).map((o) => [o.owner, ms(o.ms), inclusive.has(o.owner) ? ms(inclusive.get(o.owner)!) : '—']),
    ),
    '',
    'Busiest leaf functions, ms per run:',
    '',
    markdownTable(
      ['function', 'owner', 'ms per run'],
      w.leaves.slice(0, 15).map((l) => [`\`${l.fn}\``, l.owner, ms(l.ms)]),
    ),
  ];
}

export function markdownReport(r: ScheduleBenchResult): string {
  const o = r.options;
  const out: string[] = fleetReport(r);
  for (const f of r.fleets) out.push(...accountingReport(f));
  for (const f of r.fleets.filter((f) => f.sample))
    out.push(
      '',
      `What ${f.connectors.toLocaleString('en')} × \`${f.schedule}\` on ${f.workers} × ${f.concurrency} waited on:`,
      '',
      '```',
      sampleReport(f.sample!),
      '```',
    );
  if (r.scenarios.length === 0) return out.join('\n');
  out.push(
    `## Scheduled pulls: ${o.connectors.toLocaleString('en')} connectors on "${o.schedule}" (UTC), ${o.minutes} minutes per worker concurrency`,
  );
  if (o.profiled)
    out.push(
      '',
      '**Profiled run: the worker ran under `--cpu-prof`, so its delays and CPU are inflated; use it for where the time goes, not for the figures.**',
    );
  out.push('');
  out.push(
    `Machine: ${r.machine.cores} cores (${r.machine.cpuModel}), ${formatBytes(r.machine.memoryBytes)} RAM, ${r.machine.os}; Node ${r.machine.node}; PostgreSQL ${r.postgres}; Redis ${r.redis}; code at ${r.revision.commit}${r.revision.dirty ? ' with uncommitted edits' : ''}. ` +
      `One \`bin/qanatix.mjs worker\` process; source: one table of ${o.rows} rows (primary key, \`updated_at\` cursor); ` +
      `${o.sharedVertical ? 'all connectors write one vertical' : 'each connector writes its own vertical'}. Run ${r.startedAt}.`,
  );
  out.push('');
  out.push(
    'Delay = `connector_runs.started_at` − the fire time in the scheduler job id (`repeat:connector:<id>:<ms>`). ' +
      'Queue wait = BullMQ `processedOn` − fire; prep = run start − `processedOn` (next-iteration scheduling, connector load, run row, advisory lock). ' +
      'Minute 1 is every connector\'s first (full) read; later minutes are empty incremental reads. "missed": no run at all for that fire.',
  );
  out.push('');
  const rows: string[][] = [];
  for (const s of r.scenarios) {
    for (const [i, m] of s.perFire.entries()) rows.push(delayRow(s.concurrency, m, i === 0 ? ' (full read)' : ''));
    if (s.laterMinutes && s.perFire.length > 2) rows.push(delayRow(s.concurrency, s.laterMinutes));
    rows.push(delayRow(s.concurrency, s.overall));
  }
  out.push(
    markdownTable(
      [
        'concurrency',
        'minute',
        'succeeded / expected',
        'delay median',
        'p90',
        'p99',
        'max',
        'queue wait med / p99',
        'prep med / p99',
        'run med / p99',
        'all done after',
        'runs/s',
      ],
      rows,
      ['right', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
  out.push('');
  const idleRows = r.scenarios.map((s) => {
    const idle = 'skipped' in s.idle ? null : s.idle;
    const first = s.usage.find((u) => u.fire === s.fires[0]?.fire);
    const later = s.usage.filter((u) => u.fire !== s.fires[0]?.fire);
    const avg = (xs: Array<number | null>) => (xs.length ? xs.reduce<number>((a, b) => a + (b ?? 0), 0) / xs.length : null);
    return [
      String(s.concurrency),
      idle ? `${idle.start.slice(11, 19)}–${idle.end.slice(11, 19)}` : `not measured: ${(s.idle as { skipped: string }).skipped}`,
      pct(idle?.workerCpuPercent),
      idle ? formatBytes(idle.workerRssBytes) : '—',
      pct(idle?.redisCpuPercent),
      formatBytes(s.workerPeakRssBytes),
      `${seconds(first?.workerCpuMs)} / ${seconds(avg(later.map((u) => u.workerCpuMs)))}`,
      `${pct(first?.machineBusyPercent, 0)} / ${pct(avg(later.map((u) => u.machineBusyPercent)), 0)}`,
      `${s.workerOutput.errors} / ${s.workerOutput.warnings}`,
    ];
  });
  out.push(
    markdownTable(
      [
        'concurrency',
        'idle window (UTC, no fire)',
        'worker CPU idle (% of 1 core)',
        'worker RSS idle',
        'redis CPU idle',
        'worker peak RSS',
        'worker CPU / minute: first / later',
        'machine busy: first / later minutes',
        'worker log errors / warnings',
      ],
      idleRows,
      ['right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
  const notes: string[] = [];
  for (const s of r.scenarios) {
    const unsettled = s.fires.filter((f) => f.settledAfterMs === null).map((f) => f.fire.slice(11, 19));
    if (unsettled.length)
      notes.push(
        `c=${s.concurrency}: the runs of the fire(s) at ${unsettled.join(', ')} never all finished; "missed" there counts jobs still queued when the benchmark gave up.`,
      );
    if (!s.workerReadyBeforeFirstFire)
      notes.push(
        `c=${s.concurrency}: the worker was not ready before the first fire (start-up ${formatMs(s.workerStartupMs)}); minute 1 includes start-up.`,
      );
    if (s.distinctNextFires > 1) notes.push(`c=${s.concurrency}: schedulers armed with ${s.distinctNextFires} different first fire times.`);
    if (s.overall.startedAfterNextMinute)
      notes.push(`c=${s.concurrency}: ${s.overall.startedAfterNextMinute} runs started a minute or more after their fire.`);
    if (s.overall.fireFromFloor)
      notes.push(`c=${s.concurrency}: ${s.overall.fireFromFloor} runs had no fire time in their job id (floored started_at used).`);
    if (s.runsAfterMeasuredFires)
      notes.push(`c=${s.concurrency}: ${s.runsAfterMeasuredFires} runs of later fires while waiting for an idle window (not counted).`);
    const idle = 'skipped' in s.idle ? null : s.idle;
    if (idle && idle.runsStartedInWindow)
      notes.push(`c=${s.concurrency}: ${idle.runsStartedInWindow} runs started inside the idle window.`);
    if (idle && idle.machineBusyPercent > 20)
      notes.push(
        `c=${s.concurrency}: the machine was ${idle.machineBusyPercent.toFixed(0)}% busy during the idle window (other processes).`,
      );
    for (const e of s.overall.errors.slice(0, 3)) notes.push(`c=${s.concurrency}: ${e.n}× ${e.kind ?? 'error'}: ${e.error.slice(0, 160)}`);
    for (const m of s.workerOutput.samples.filter((x) => x.level !== 'info').slice(0, 5))
      notes.push(`c=${s.concurrency}: worker ${m.level} ×${m.n}: ${m.msg.slice(0, 200)}`);
    const waits = s.postgresWaits.waits
      .slice(0, 4)
      .map((w) => `${w.what} ${(w.share * 100).toFixed(0)}%`)
      .join(', ');
    if (waits)
      notes.push(
        `c=${s.concurrency}: active PostgreSQL sessions (platform + source) averaged ${s.postgresWaits.meanActiveSessions.toFixed(2)}; sampled waits: ${waits}.`,
      );
  }
  if (notes.length) out.push('', ...notes.map((n) => `- ${n}`));
  for (const s of r.scenarios) {
    if (s.profile)
      out.push('', `### Worker CPU profile, concurrency ${s.concurrency} (${s.profile.file})`, '', formatSummary(s.profile.summary));
  }
  return out.join('\n');
}
