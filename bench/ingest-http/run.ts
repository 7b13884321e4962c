/**
 * bench/ingest-http: records/s of the push API (10k-record batches, one NDJSON stream, an unchanged
 * re-post) against the same rows loaded by plain SQL on the same PostgreSQL (the ceiling).
 *
 *   npx tsx bench/ingest-http/run.ts [--records 1000000] [--runs 3] [--concurrency 1,2]
 *       [--only batch,repost,stream,ceiling] [--profile] [--server-root DIR] [--out FILE]
 *
 * The API server is a child process, restarted for every scenario; this process is the load
 * generator on loopback. Every scenario starts from an empty `entities` table and its own target.
 */
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { busiestProfile, formatSummary, summarizeCpuProfile } from '../lib/cpuprofile-summary';
import { createScratchDatabase, type ScratchDatabase } from '../lib/pg-scratch';
import { machineCpuMs, watchProcess, watchProcessesNamed } from '../lib/proc-stats';
import { machineInfo, writeJsonResult } from '../lib/results';
import { formatBytes } from '../lib/stats';
import { ApiServer } from './api-server';
import { entityRow, loadCeiling, resetStaging, writeCeilingInputs } from './ceiling';
import { postBatches, postStream, type Endpoint } from './http-load';
import { batchBody } from './products';
import { markdownReport, summarize, type Measurement, type Scenario } from './report';
import { storedHashSql } from '../../src/core/upsert-entities';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PARTS = ['batch', 'repost', 'stream', 'ceiling'] as const;
const VERTICAL = 'bench';

const { values: opts } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    'batch-size': { type: 'string', default: '10000' },
    // Requests in flight for batches, and parallel psql sessions for the ceiling.
    concurrency: { type: 'string', default: '1,2' },
    only: { type: 'string', default: PARTS.join(',') },
    profile: { type: 'boolean', default: false },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
    // A checkout to run the server from (another revision, or a clean export while the tree is mid-edit).
    'server-root': { type: 'string', default: ROOT },
    out: { type: 'string', default: join(ROOT, 'bench/results/ingest-http-latest.json') },
  },
});
const records = Number(opts.records);
const runs = Number(opts.runs);
const batchSize = Number(opts['batch-size']);
const concurrencies = opts.concurrency.split(',').map(Number);
const only = new Set(opts.only.split(','));
if (![records, runs, batchSize, ...concurrencies].every((n) => Number.isInteger(n) && n > 0) || batchSize > 10_000) {
  console.error('--records, --runs, --batch-size and --concurrency take positive integers; --batch-size at most 10000 (the API limit)');
  process.exit(2);
}
if ([...only].some((p) => !(PARTS as readonly string[]).includes(p))) {
  console.error(`--only takes a comma list of: ${PARTS.join(', ')}`);
  process.exit(2);
}

const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
const csvPrefix = join(tmpdir(), `qbench-ceiling-${process.pid}`);
const profileDir = join(ROOT, 'bench/results/profiles', `ingest-http-${new Date().toISOString().replace(/[:.]/g, '-')}`);
let db: ScratchDatabase | undefined;
let api: ApiServer | undefined;
let client: pg.Client | undefined;
let ceilingFiles = new Map<number, string[]>();

/** Idempotent: runs on success, failure and Ctrl-C alike, so no server, database or file is left behind. */
async function cleanup(): Promise<void> {
  await client?.end().catch(() => {});
  client = undefined;
  await api?.stop().catch(() => {});
  api = undefined;
  await db?.drop().catch((err: Error) => log(`could not drop ${db?.name}: ${err.message}`));
  db = undefined;
  for (const file of [...ceilingFiles.values()].flat()) rmSync(file, { force: true });
}
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));

/** What a scenario's own clock and the server's answers say. */
interface Timed {
  wallMs: number;
  bytesSent: number | null;
  counts: Record<string, number>;
}

/** Runs one timed phase while watching the server process, PostgreSQL and the machine. */
async function measure(run: number, watchServer: boolean, fn: () => Promise<Timed>): Promise<Measurement> {
  const stopServer = watchServer ? watchProcess(api!.pid) : null;
  const stopPostgres = watchProcessesNamed('postgres');
  const bench0 = process.cpuUsage();
  const machine0 = machineCpuMs();
  const r = await fn();
  const bench = process.cpuUsage(bench0);
  return {
    run,
    records,
    wallMs: r.wallMs,
    recordsPerS: (records * 1000) / r.wallMs,
    bytesSent: r.bytesSent,
    server: stopServer ? stopServer() : null,
    postgresCpuMs: stopPostgres(),
    benchCpuMs: (bench.user + bench.system) / 1000,
    machineBusyMs: machineCpuMs().busy - machine0.busy,
    counts: r.counts,
  };
}

/** A bench that measured failures would report nonsense: the server's counts must be what we sent. */
function expectCounts(what: string, counts: Record<string, number>, expected: Record<string, number>): void {
  const wrong = Object.entries(expected).filter(([k, v]) => counts[k] !== v);
  if (wrong.length) throw new Error(`${what}: expected ${JSON.stringify(expected)}, the server reported ${JSON.stringify(counts)}`);
}

/** Every scenario starts on an empty table with nothing dirty to flush, so runs are comparable. */
async function freshTable(): Promise<void> {
  await client!.query('truncate entities');
  await client!.query('checkpoint');
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  db = await createScratchDatabase(opts['pg-url'], 'qbench');
  api = new ApiServer({ root: opts['server-root'], databaseUrl: db.url, profileDir: opts.profile ? profileDir : undefined });
  await api.restart('setup'); // migrates the fresh database
  const apiKey = await api.createKey('bench', 'ingest');
  client = new pg.Client({ connectionString: db.url, application_name: 'qanatix-bench' });
  await client.connect();
  const tenantId = (await client.query<{ id: string }>(`select id from tenants where name = 'bench'`)).rows[0]!.id;
  const pgVersion = (await client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  log(`database ${db.name}, API from ${opts['server-root']} on ${api.baseUrl}`);

  // Inputs are built before any clock starts: the batch bodies (so the load generator does not take
  // CPU from the server on a small box) and the ceiling's COPY files. The stream is generated as sent.
  const bodies: Buffer[] = [];
  if (only.has('batch') || only.has('repost')) {
    for (let s = 0; s < records; s += batchSize) bodies.push(batchBody(s, Math.min(batchSize, records - s)));
    log(`prepared ${bodies.length} batch bodies, ${formatBytes(bodies.reduce((a, b) => a + b.length, 0))}`);
  }
  if (only.has('ceiling')) {
    ceilingFiles = await writeCeilingInputs(csvPrefix, records, concurrencies);
    log(`prepared COPY input in ${csvPrefix}-*.csv`);
  }

  const scenarios = new Map<string, Scenario>();
  const add = (id: string, label: string, m: Measurement, ceiling?: string[]) => {
    if (!scenarios.has(id)) scenarios.set(id, { id, label, ceiling, runs: [] });
    scenarios.get(id)!.runs.push(m);
    log(
      `run ${m.run} ${label}: ${Math.round(m.recordsPerS).toLocaleString('en')} records/s, ${(m.wallMs / 1000).toFixed(1)} s, server peak RSS ${formatBytes(m.server?.peakRssBytes)}`,
    );
  };
  const endpoint = (entityType: string): Endpoint => ({ baseUrl: api!.baseUrl, apiKey, vertical: VERTICAL, entityType });
  const loadCeilings = concurrencies.map((s) => `ceiling-s${s}`);
  const repostCeilings = concurrencies.map((s) => `ceiling-repost-s${s}`);
  const notes: string[] = [];
  const n = records;

  for (let run = 1; run <= runs; run++) {
    let loaded: Endpoint | undefined;
    if (only.has('batch') || only.has('repost')) {
      for (const c of concurrencies) {
        await freshTable();
        await api.restart(`r${run}-batch-c${c}`);
        const target = (loaded = endpoint(`r${run}_batch_c${c}`));
        const m = await measure(run, true, () => postBatches(target, bodies, c));
        expectCounts(`batch, ${c} in flight`, m.counts, { inserted: n, updated: 0, unchanged: 0, rejected: 0 });
        if (only.has('batch')) add(`batch-c${c}`, `batch ${batchSize / 1000}k, ${c} in flight`, m, loadCeilings);
      }
      if (run === 1) notes.push(...(await compareWithCeilingRows(tenantId, loaded!)));
    }
    if (only.has('repost')) {
      const c = concurrencies.at(-1)!;
      const target = loaded!;
      await api.restart(`r${run}-repost-c${c}`);
      const m = await measure(run, true, () => postBatches(target, bodies, c));
      expectCounts('re-post', m.counts, { inserted: 0, updated: 0, unchanged: n, rejected: 0 });
      add(`repost-c${c}`, `batch re-post unchanged, ${c} in flight`, m, repostCeilings);
    }
    if (only.has('stream')) {
      await freshTable();
      await api.restart(`r${run}-stream`);
      const m = await measure(run, true, () => postStream(endpoint(`r${run}_stream`), n));
      expectCounts('stream', m.counts, { inserted: n, updated: 0, unchanged: 0, rejected: 0 });
      add('stream', 'NDJSON stream, 1 request', m, loadCeilings);
    }
    if (only.has('ceiling')) {
      await api.stop(); // a quiet machine: the ceiling does not use the API
      for (const sessions of concurrencies) {
        await freshTable();
        for (const repost of [false, true]) {
          await resetStaging(client, sessions);
          const m = await measure(run, false, async () => {
            const r = await loadCeiling(db!.url, tenantId, VERTICAL, `r${run}_ceiling_s${sessions}`, ceilingFiles.get(sessions)!);
            return { wallMs: r.wallMs, bytesSent: null, counts: { copied: r.copied, written: r.written } };
          });
          expectCounts('ceiling', m.counts, { copied: n, written: repost ? 0 : n });
          const what = `COPY + INSERT … ON CONFLICT, ${sessions} session${sessions > 1 ? 's' : ''}`;
          if (repost) add(`ceiling-repost-s${sessions}`, `ceiling re-post unchanged: ${what}`, m);
          else add(`ceiling-s${sessions}`, `ceiling: ${what}`, m);
        }
      }
    }
  }
  await api.stop();

  const list = [...scenarios.values()];
  const summary = summarize(list);
  const machine = machineInfo();
  const params = { records, runs, batchSize, concurrencies, only: [...only], profile: opts.profile, serverRoot: opts['server-root'] };
  writeJsonResult(opts.out, {
    bench: 'ingest-http',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    postgres: pgVersion,
    params,
    notes,
    summary,
    scenarios: list,
  });
  log(`wrote ${opts.out}`);
  const extra = [
    `PostgreSQL ${pgVersion} on the same machine; ${records.toLocaleString('en')} records × ${runs} run(s): median and min–max; a fresh API process per scenario`,
    'server RSS: the API process at the start of the run → its peak during the run (VmHWM, reset at the start)',
    'CPU µs/record: CPU time of the API process and of all PostgreSQL processes per record (cores busy: see the JSON)',
    "others busy: average cores used by everything else on the machine (psql, the kernel, other users' work)",
    '× ceiling: against the best ceiling (1 or more sessions); the re-post against the best ceiling re-post',
    ...notes,
  ];
  console.log('\n' + markdownReport('bench/ingest-http', machine, extra, summary) + '\n');
  if (opts.profile) printProfiles();
}

/** The ceiling must load the rows the API stores; a sample of hashes shows whether it does. */
async function compareWithCeilingRows(tenantId: string, target: Endpoint): Promise<string[]> {
  const sample = [...new Set([0, Math.floor(records / 2), records - 1])].map(entityRow);
  const { rows } = await client!.query<{ source_id: string; content_hash: string }>(
    `select source_id, ${storedHashSql('e')} as content_hash from entities e
      where tenant_id = $1 and vertical = $2 and entity_type = $3 and source_id = any($4)`,
    [tenantId, target.vertical, target.entityType, sample.map((r) => r.sourceId)],
  );
  const stored = new Map(rows.map((r) => [r.source_id, r.content_hash]));
  const differ = sample.filter((r) => stored.get(r.sourceId) !== r.hash);
  if (differ.length === 0) return [];
  const note = `WARNING: ${differ.length}/${sample.length} sampled ceiling rows differ from the API's (content_hash): the ceiling loads other data`;
  log(note);
  return [note];
}

/** The server's main-thread profile of each scenario (its other threads idle throughout). */
function printProfiles(): void {
  for (const tag of readdirSync(profileDir)
    .filter((t) => t !== 'setup')
    .sort()) {
    const files = readdirSync(join(profileDir, tag))
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(profileDir, tag, f));
    const main = busiestProfile(files);
    if (main) console.log(`### server CPU profile: ${tag} (${main.file})\n\n${formatSummary(summarizeCpuProfile(main.profile, 20))}\n`);
  }
}

main()
  .catch((err: Error) => {
    log(`failed: ${err.stack ?? err.message}`);
    // A 503 from Fastify itself means the server was closing: something signalled it (SIGTERM/SIGINT).
    if (api) log(`API server ${api.state()}; its last output:\n${api.tail()}`);
    process.exitCode = 1;
  })
  .finally(cleanup);
