/**
 * bench/schedule: scheduled pulls at scale against a small table, run by `bin/qanatix.mjs worker` child processes.
 *
 * Fleets (the default, fleet.ts): every fire of a window of whole minutes counted against `connector_runs`:
 *   unspread  --connectors connectors on "* * * * *", one worker (start delay, runs/s, CPU per run)
 *   spread    the same on "H * * * * *" (each connector at a second of its own)
 *   fleet     --fleet-connectors on --fleet-schedule across --fleet-workers processes for --fleet-minutes (missed fires)
 * Classic (--scenarios classic): the per-minute breakdown (queue wait, prep, run time, idle CPU) per --concurrency.
 *
 *   npx tsx bench/schedule/run.ts [--scenarios unspread,spread,fleet,classic] [--connectors 1000] [--minutes 3]
 *       [--fleet-connectors 10000] [--fleet-schedule "*\/5 * * * *"] [--fleet-workers 4] [--fleet-minutes 15]
 *       [--fleet-concurrency 8] [--concurrency 2,8] [--rows 100] [--shared-vertical] [--keep] [--profile]
 *       [--settle-minutes 5] [--pg-url URL] [--out FILE]
 *       [--sample] [--bin OTHER/bin/qanatix.mjs] [--worker-env NAME=value,...]
 *
 * --sample: what each fleet's bursts wait on (sample.ts); --bin: the workers run another build (an A/B comparison,
 * alternated with this one in the same minutes); --worker-env: worker settings under comparison.
 *
 * Every scenario gets a fresh platform database and an emptied private redis-server.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import pg from 'pg';
import type { ScratchDatabase } from '../lib/pg-scratch';
import { startRedisServer, type RedisServer } from '../lib/redis-server';
import { machineInfo, writeJsonResult } from '../lib/results';
import { createSourceDatabase } from './fixture';
import { markdownReport, type ScheduleBenchResult } from './report';
import { runFleet, type FleetResult } from './fleet';
import { runScenario, type ScenarioResult } from './scenario';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'unspread,spread,fleet' },
    connectors: { type: 'string', default: '1000' },
    'fleet-connectors': { type: 'string', default: '10000' },
    'fleet-schedule': { type: 'string', default: '*/5 * * * *' },
    'fleet-workers': { type: 'string', default: '4' },
    'fleet-minutes': { type: 'string', default: '15' },
    'fleet-concurrency': { type: 'string', default: '8' },
    minutes: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '2,8' },
    rows: { type: 'string', default: '100' },
    'shared-vertical': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    // How long after the last measured fire its runs may take before the scenario gives up on them.
    'settle-minutes': { type: 'string', default: '5' },
    // A CPU profile of each worker (diagnosis only: profiling slows the worker, so its delays are not the figures).
    profile: { type: 'boolean', default: false },
    // What the runs wait on during each fleet's window: database wait events, Redis, event-loop delay (diagnosis).
    sample: { type: 'boolean', default: false },
    // Another build of the CLI for the workers (an A/B comparison: a checkout of the other revision, bundled).
    bin: { type: 'string' },
    // Worker settings under comparison, as NAME=value,NAME=value.
    'worker-env': { type: 'string', default: '' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: join(ROOT, 'bench/results/schedule-latest.json') },
  },
});
const connectors = Number(opts.connectors);
const minutes = Number(opts.minutes);
const rows = Number(opts.rows);
const settleMinutes = Number(opts['settle-minutes']);
const concurrencies = opts.concurrency.split(',').map(Number);
const chosen = new Set(opts.scenarios.split(','));
const workerEnv = Object.fromEntries(
  opts['worker-env']
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const fleetOpts = {
  connectors: Number(opts['fleet-connectors']),
  workers: Number(opts['fleet-workers']),
  minutes: Number(opts['fleet-minutes']),
  concurrency: Number(opts['fleet-concurrency']),
};
if (![connectors, minutes, rows, settleMinutes, ...concurrencies, ...Object.values(fleetOpts)].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('--connectors, --minutes, --rows, --settle-minutes, --concurrency and the --fleet-* counts take positive integers');
  process.exit(2);
}
if (![...chosen].every((c) => ['unspread', 'spread', 'fleet', 'classic'].includes(c))) {
  console.error('--scenarios is a comma list of unspread, spread, fleet and classic');
  process.exit(2);
}

const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
let redis: RedisServer | undefined;
let source: ScratchDatabase | undefined;
/** Clean-ups of the scenario in progress, for Ctrl-C: run last-registered first (the worker before its database). */
const tracked: Array<() => Promise<unknown>> = [];
const track = (fn: () => Promise<unknown>) => {
  tracked.push(fn);
  return () => void tracked.splice(tracked.indexOf(fn), 1);
};

async function cleanup(): Promise<void> {
  for (const fn of tracked.splice(0).reverse()) await fn().catch(() => {});
  await redis?.stop().catch(() => {});
  redis = undefined;
  if (source && !opts.keep) await source.drop().catch((err: Error) => log(`could not drop ${source?.name}: ${err.message}`));
  source = undefined;
}

/** A command's stdout, or null when it fails (no stdin: bench/lib's runCommand can hit EPIPE on a fast exit). */
async function output(command: string, args: string[]): Promise<string | null> {
  try {
    return (await promisify(execFile)(command, args, { cwd: ROOT })).stdout;
  } catch {
    return null;
  }
}

/** The code measured: others commit while a benchmark runs, so say which revision and whether it had edits. */
async function revision(): Promise<{ commit: string; dirty: boolean }> {
  const head = await output('git', ['rev-parse', '--short', 'HEAD']);
  const status = await output('git', ['status', '--porcelain', '--', 'src', 'jobs', 'connectors', 'bin']);
  return { commit: head?.trim() || 'unknown', dirty: (status?.trim() ?? '') !== '' };
}

async function serverVersions(adminUrl: string): Promise<{ postgres: string; redis: string }> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  const { rows: r } = await client.query<{ server_version: string }>('show server_version');
  await client.end();
  const v = await output('redis-server', ['--version']);
  return { postgres: r[0]!.server_version, redis: /v=(\S+)/.exec(v ?? '')?.[1] ?? 'unknown' };
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const versions = await serverVersions(opts['pg-url']);
  const code = await revision();
  redis = await startRedisServer();
  log(`private redis-server ${versions.redis} on ${redis.url} (pid ${redis.pid})`);
  source = await createSourceDatabase(opts['pg-url'], rows);
  log(`source database ${source.name}: ${rows} rows`);

  const fleets: FleetResult[] = [];
  const fleet = (connectorsN: number, schedule: string, workers: number, concurrency: number, mins: number) =>
    runFleet({
      adminUrl: opts['pg-url'],
      sourceUrl: source!.url,
      connectors: connectorsN,
      schedule,
      workers,
      concurrency,
      minutes: mins,
      redis: redis!,
      keep: opts.keep,
      sample: opts.sample,
      bin: opts.bin,
      profileDir: opts.profile ? join(ROOT, 'bench/results/profiles', `fleet-${startedAt.replace(/[:.]/g, '-')}`) : undefined,
      workerEnv,
      log,
      track,
    });
  if (chosen.has('unspread')) fleets.push(await fleet(connectors, '* * * * *', 1, fleetOpts.concurrency, minutes));
  if (chosen.has('spread')) fleets.push(await fleet(connectors, 'H * * * * *', 1, fleetOpts.concurrency, minutes));
  if (chosen.has('fleet'))
    fleets.push(await fleet(fleetOpts.connectors, opts['fleet-schedule'], fleetOpts.workers, fleetOpts.concurrency, fleetOpts.minutes));

  const scenarios: ScenarioResult[] = [];
  for (const concurrency of chosen.has('classic') ? concurrencies : []) {
    scenarios.push(
      await runScenario({
        adminUrl: opts['pg-url'],
        sourceUrl: source.url,
        sourceDatabase: source.name,
        connectors,
        minutes,
        concurrency,
        redis,
        sharedVertical: opts['shared-vertical'],
        keep: opts.keep,
        log,
        track,
        settleMinutes,
        profileDir: opts.profile ? join(ROOT, 'bench/results/profiles', `schedule-${startedAt.replace(/[:.]/g, '-')}`) : undefined,
      }),
    );
  }

  const result: ScheduleBenchResult = {
    benchmark: 'schedule',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    postgres: versions.postgres,
    redis: versions.redis,
    revision: code,
    options: {
      connectors,
      minutes,
      concurrency: concurrencies,
      rows,
      sharedVertical: opts['shared-vertical'],
      schedule: '* * * * *',
      profiled: opts.profile,
    },
    fleets,
    scenarios,
  };
  writeJsonResult(opts.out, result);
  log(`wrote ${opts.out}`);
  console.log(markdownReport(result));
}

process.once('SIGINT', () => {
  log('interrupted: stopping the worker and redis-server, dropping the databases');
  void cleanup().finally(() => process.exit(130));
});
try {
  await main();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
