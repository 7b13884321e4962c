/**
 * bench/peers (issue 8): our pull side by side with dlt, Sling and the SQL ceiling, on the same
 * PostgreSQL products table and the same server: first full load, an unchanged incremental re-run, and
 * an incremental run after 1% of the rows changed (new price and updated_at).
 *
 *   npx tsx bench/peers/run.ts [--rows 1000000] [--runs 3] [--tools ceiling,floor,ours,dlt,sling] [--batch-size 5000] [--out FILE]
 *
 * Each run starts every tool from nothing (ours: a new connector on an empty entities table; the
 * ceiling: an empty table of the entities shape; dlt: no pipeline state, no dataset; Sling: no target
 * table), then: every tool's first load and unchanged re-run, the 1% change, every tool's incremental.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, writeJsonResult } from '../lib/results';
import { watchProcessesNamed } from '../lib/proc-stats';
import { formatBytes } from '../lib/stats';
import type { Watermark } from '../pull/ceiling';
import { check, log, PullBench, reportFailure } from '../pull/harness';
import { changeOnePercent, createPgProducts } from '../pull/products';
import { markdownReport, summarize, type Measurement, type Pass, type Scenario, type Tool } from '../pull/report';
import { DltPeer, ensurePeers, SlingPeer, type PeerRun } from './peers';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ALL: Tool[] = ['ceiling', 'floor', 'ours', 'dlt', 'sling'];

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    // Our connector's batch_size (rows per read page and per batch transaction).
    'batch-size': { type: 'string', default: '5000' },
    tools: { type: 'string', default: ALL.join(',') },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: join(ROOT, 'bench/results/peers-latest.json') },
  },
});
const rows = Number(opts.rows);
const runs = Number(opts.runs);
let tools = opts.tools.split(',').filter(Boolean) as Tool[];
const batchSize = Number(opts['batch-size']);
if (![rows, runs, batchSize].every((n) => Number.isInteger(n) && n > 0) || tools.some((t) => !ALL.includes(t))) {
  console.error(`--rows, --runs and --batch-size take positive integers; --tools a comma list of ${ALL.join(', ')}`);
  process.exit(2);
}

const bench = new PullBench({ pgAdminUrl: opts['pg-url'], mysqlAdminUrl: '', needMysql: false });
let dlt: DltPeer | undefined;
let sling: SlingPeer | undefined;
const cleanup = async () => {
  dlt?.cleanup();
  sling?.cleanup();
  await bench.cleanup();
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().finally(() => process.exit(130)));

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const install = await ensurePeers(log);
  log(`peers: ${JSON.stringify(install)}`);
  const notes: string[] = [];
  if (!install.dlt.ok) {
    notes.push(`dlt could not be installed: ${install.dlt.error}`);
    tools = tools.filter((t) => t !== 'dlt');
  }
  if (!install.sling.ok) {
    notes.push(`Sling could not be installed: ${install.sling.error}`);
    tools = tools.filter((t) => t !== 'sling');
  }
  await bench.setup();
  const pgVersion = (await bench.client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  const query = (sql: string) => bench.client.query(sql);
  if (tools.includes('dlt')) dlt = new DltPeer(bench.source.url, bench.platform.url);
  if (tools.includes('sling')) sling = new SlingPeer(install.sling.binary!, bench.source.url, bench.platform.url);
  log(`platform database ${bench.platform.name}, source ${bench.source.name}; tools ${tools.join(', ')}`);

  const scenarios = new Map<string, Scenario>();
  const add = (pass: Pass, tool: Tool, m: Measurement) => {
    const id = `PostgreSQL/${pass}/${tool}`;
    if (!scenarios.has(id)) scenarios.set(id, { key: `PostgreSQL/${pass}`, source: 'PostgreSQL', pass, tool, tableRows: rows, runs: [] });
    scenarios.get(id)!.runs.push(m);
    log(
      `run ${m.run} ${id}: ${(m.wallMs / 1000).toFixed(2)} s, ${Math.round(m.rowsPerS).toLocaleString('en')} rows/s, peak RSS ${formatBytes(m.peakRssBytes)}`,
    );
  };
  const peerMeasure = async (run: number, rowsInPass: number, load: () => Promise<PeerRun>): Promise<Measurement> => {
    await bench.settle();
    const stopPg = watchProcessesNamed('postgres');
    const r = await load();
    const postgresCpuMs = stopPg();
    return {
      run,
      rows: rowsInPass,
      wallMs: r.wallMs,
      rowsPerS: (rowsInPass * 1000) / r.wallMs,
      peakRssBytes: r.tree.peakRssBytes,
      startRssBytes: null,
      loaderCpuMs: r.tree.cpuMs,
      postgresCpuMs,
      counts: { reportedRows: r.reportedRows ?? -1, processes: r.tree.processes },
    };
  };
  /** The target must equal the source after each pass: same row count and the same sum of prices. */
  const verify = async (tool: Tool, table: string) => {
    const { rows: t } = await bench.client.query<{ n: string; s: string }>(
      `select count(*)::text as n, sum(price)::text as s from ${table}`,
    );
    const expected = await sourceTotals();
    if (t[0]!.n !== expected.n || Number(t[0]!.s) !== Number(expected.s))
      throw new Error(`${tool}: target ${table} has ${t[0]!.n} rows, sum(price) ${t[0]!.s}; the source ${expected.n}, ${expected.s}`);
  };
  const sourceTotals = async () => {
    const pg = await import('pg');
    const c = new pg.default.Client({ connectionString: bench.source.url });
    await c.connect();
    try {
      return (await c.query<{ n: string; s: string }>('select count(*)::text as n, sum(price)::text as s from products')).rows[0]!;
    } finally {
      await c.end();
    }
  };
  const oursTotals = async () => {
    const { rows: r } = await bench.client.query<{ n: string; s: string }>(
      `select count(*)::text as n, sum((vertical_data->>'price')::numeric)::text as s from entities where vertical = 'peers'`,
    );
    const expected = await sourceTotals();
    if (r[0]!.n !== expected.n || Number(r[0]!.s) !== Number(expected.s))
      throw new Error(`ours: entities hold ${r[0]!.n} rows, sum(price) ${r[0]!.s}; the source ${expected.n}, ${expected.s}`);
  };
  /** The floor's or the ceiling's table must hold the source's rows: the same count and the same sum of prices. */
  const entitiesTotals = async (tool: 'floor' | 'ceiling') => {
    const { rows: r } = await bench.client.query<{ n: string; s: string }>(
      `select count(*)::text as n, sum((vertical_data->>'price')::numeric)::text as s from ${tool}_entities`,
    );
    const expected = await sourceTotals();
    if (r[0]!.n !== expected.n || Number(r[0]!.s) !== Number(expected.s))
      throw new Error(`${tool}: ${r[0]!.n} rows, sum(price) ${r[0]!.s}; the source ${expected.n}, ${expected.s}`);
  };

  for (let run = 1; run <= runs; run++) {
    // The source is rebuilt each run, so every run's 1% change starts from the same table.
    await bench.settle();
    await createPgProducts(bench.source.url, 'products', rows);
    const ceilingSrc = { kind: 'postgresql' as const, url: bench.source.url, table: 'products' };
    let watermark: Watermark | null = null;
    let connectorId = '';

    for (const tool of tools) {
      if (tool === 'ceiling') {
        await bench.truncate('ceiling_entities');
        const a = await bench.ceiling(run, ceilingSrc, 'peers', null, { copied: rows, written: rows });
        add('first', 'ceiling', a.m);
        const b = await bench.ceiling(run, ceilingSrc, 'peers', a.watermark, { copied: 0, written: 0 });
        add('incremental-unchanged', 'ceiling', b.m);
        watermark = b.watermark;
      } else if (tool === 'floor') {
        // A first load only: it compares nothing, so it has no incremental pass.
        await bench.truncate('floor_entities');
        add('first', 'floor', await bench.floor(run, ceilingSrc, `r${run}`, rows));
        await entitiesTotals('floor');
      } else if (tool === 'ours') {
        await bench.truncate('entities');
        connectorId = await bench.ours.createConnector({
          tenant: 'bench',
          vertical: 'peers',
          entityType: `r${run}`,
          connectorType: 'postgresql',
          connectionConfig: { dsn: bench.source.url },
          table: 'products',
          batchSize,
        });
        add('first', 'ours', await bench.pull(run, connectorId, 'incremental', rows, { rows_read: rows, inserted: rows, rejected: 0 }));
        add('incremental-unchanged', 'ours', await bench.pull(run, connectorId, 'incremental', 0, { rows_read: 0 }));
      } else {
        const peer = tool === 'dlt' ? dlt! : sling!;
        await peer.reset(query);
        const first = await peerMeasure(run, rows, () => peer.load());
        check(tool, { rows: first.counts.reportedRows! }, { rows });
        add('first', tool, first);
        await verify(tool, peer.table());
        add('incremental-unchanged', tool, await peerMeasure(run, 0, () => peer.load()));
      }
    }

    await bench.settle();
    const changed = await changeOnePercent(bench.source.url, 'products', run);
    log(`changed ${changed.toLocaleString('en')} rows (1%)`);
    for (const tool of tools) {
      if (tool === 'floor') continue;
      if (tool === 'ceiling') {
        const c = await bench.ceiling(run, ceilingSrc, 'peers', watermark, { written: changed });
        add('incremental-1pct', 'ceiling', c.m);
        await entitiesTotals('ceiling');
      } else if (tool === 'ours') {
        add(
          'incremental-1pct',
          'ours',
          await bench.pull(run, connectorId, 'incremental', changed, { rows_read: changed, updated: changed, inserted: 0 }),
        );
        await oursTotals();
      } else {
        const peer = tool === 'dlt' ? dlt! : sling!;
        add('incremental-1pct', tool, await peerMeasure(run, changed, () => peer.load()));
        await verify(tool, peer.table());
      }
    }
  }

  const list = [...scenarios.values()];
  const summary = summarize(list, ['dlt', 'sling', 'floor']);
  const machine = machineInfo();
  notes.push(
    `PostgreSQL ${pgVersion}; source and targets on the same server; ${rows.toLocaleString('en')}-row products table, rebuilt each run; ${runs} run(s): median (min–max)`,
    `ours: \`qanatix worker\` child process, table-mode connector on updated_at (lag 0, batch ${batchSize}), manual pull job; wall = run queued_at → finished_at; RSS = worker VmHWM`,
    `dlt ${install.dlt.version ?? '?'}: bench/peers/dlt_pipeline.py — sql_table(backend="pyarrow", chunk_size=50000, incremental=dlt.sources.incremental("updated_at"), write_disposition="merge", primary_key="id", reflection_level="full_with_precision"), loader_file_format="csv" (COPY); wall = the python process from start to exit (interpreter start and imports included, as a scheduled run pays them); RSS = sampled sum over its process tree`,
    `Sling ${install.sling.version ?? '?'}: bench/peers/sling-replication.yaml — mode incremental, primary_key [id], update_key updated_at, use_bulk (COPY); the binary from the PyPI package sling-linux-amd64 (the "sling" wrapper package only downloads its binary from GitHub, which fails here${install.sling.error ? `: ${install.sling.error}` : ''})`,
    'ceiling: COPY (SELECT … WHERE (updated_at, id) > watermark) TO STDOUT | COPY FROM STDIN into staging, then INSERT … ON CONFLICT … WHERE content_hash IS DISTINCT FROM into a table of the entities shape, hashes and JSON computed in SQL',
    "floor (first load only): PostgreSQL alone writing the same entities, nothing compared: COPY (SELECT a time-ordered id, tenant, vertical, type, name, id, 's:' || id, to_jsonb(row) - 'name' … ORDER BY updated_at, id) TO STDOUT piped into COPY FROM STDIN of a table of the entities shape (same columns, defaults and the three B-tree indexes), as a first load's COPY writes; two backends, one per core. What the shape itself costs on this server",
    'checked after each peer pass: the target holds exactly the source rows (count and sum(price)); ours and the ceiling after the 1% pass the same way',
    "ours vs this = the tool's median wall time over ours = our throughput divided by its throughput (> 1: we are faster); the unchanged incremental moves no rows, so it compares wall times only",
  );
  writeJsonResult(opts.out, {
    bench: 'peers',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    postgres: pgVersion,
    params: { rows, runs, tools },
    install,
    notes,
    summary,
    scenarios: list,
  });
  log(`wrote ${opts.out}`);
  console.log(
    '\n' +
      markdownReport('bench/peers: ours, dlt, Sling and the SQL ceiling (PostgreSQL → PostgreSQL)', machine, notes, summary, [
        'ceiling',
        'floor',
        'ours',
        'dlt',
        'sling',
      ]) +
      '\n',
  );
}

main().catch(reportFailure(bench)).finally(cleanup);
