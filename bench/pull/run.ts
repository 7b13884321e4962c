/**
 * bench/pull (issue 4): rows/s and peak RSS of our pull through the worker path, from PostgreSQL and
 * from MariaDB, first load and an unchanged re-pull, against the SQL ceiling on the same servers; and a
 * scaling row (our first load at several sizes).
 *
 *   npx tsx bench/pull/run.ts [--rows 1000000] [--runs 3] [--sources pg,mysql,mongo,neo4j]
 *       [--mongo-rows 100000] [--neo4j-rows ROWS]
 *       [--scaling 100000,1000000,3000000] [--scaling-runs 1] [--profile auto|always|never] [--out FILE]
 *
 * "Unchanged re-pull" re-reads every row with none changed: an incremental run with nothing new reads 0
 * rows, so ours runs it as mode `full` (cursor reset, all rows read, all found unchanged) and the
 * ceiling re-copies the table and runs the same INSERT … ON CONFLICT, which skips every row.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { busiestProfile, formatSummary, summarizeCpuProfile } from '../lib/cpuprofile-summary';
import { machineInfo, writeJsonResult } from '../lib/results';
import { formatBytes } from '../lib/stats';
import type { CeilingSource } from './ceiling';
import { explainPullBatch, explainUpsert } from './explain';
import { log, PullBench, reportFailure, waitForQuietMachine } from './harness';
import { createMongoProducts, createNeo4jProducts, dropMongoDatabase, dropNeo4jLabel } from './documents';
import { createMysqlProducts, createPgProducts } from './products';
import { markdownReport, scalingTable, summarize, type Measurement, type Pass, type Scenario } from './report';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    sources: { type: 'string', default: 'pg,mysql,mongo,neo4j' },
    scaling: { type: 'string', default: '100000,1000000,3000000' },
    'scaling-runs': { type: 'string', default: '1' },
    profile: { type: 'string', default: 'auto' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
    'mysql-url': { type: 'string', default: process.env.QANATIX_BENCH_MYSQL_URL ?? 'mysql://qanatix:qanatix@127.0.0.1:3306/mysql' },
    'mongo-url': { type: 'string', default: process.env.QANATIX_BENCH_MONGO_URL ?? 'mongodb://127.0.0.1:27017/' },
    'neo4j-url': { type: 'string', default: process.env.QANATIX_BENCH_NEO4J_URL ?? 'bolt://neo4j:qanatix-test@127.0.0.1:7687' },
    // FerretDB (the services script's MongoDB) runs the keyset filter as a scan of the whole collection per page.
    'mongo-rows': { type: 'string', default: '100000' },
    'neo4j-rows': { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'bench/results/pull-latest.json') },
  },
});
const rows = Number(opts.rows);
const runs = Number(opts.runs);
const scalingRuns = Number(opts['scaling-runs']);
const SOURCES = ['pg', 'mysql', 'mongo', 'neo4j'] as const;
type Source = (typeof SOURCES)[number];
const sources = opts.sources.split(',').filter(Boolean) as Source[];
const scaling = opts.scaling.split(',').filter(Boolean).map(Number);
const docRows = { mongo: Number(opts['mongo-rows']), neo4j: Number(opts['neo4j-rows'] ?? rows) };
if (
  ![rows, runs, scalingRuns, docRows.mongo, docRows.neo4j, ...scaling].every((n) => Number.isInteger(n) && n > 0) ||
  sources.some((s) => !SOURCES.includes(s))
) {
  console.error(
    '--rows, --runs, --scaling, --mongo-rows, --neo4j-rows take positive integers; --sources a comma list of pg, mysql, mongo, neo4j',
  );
  process.exit(2);
}
if (!['auto', 'always', 'never'].includes(opts.profile)) {
  console.error('--profile is auto (when ours < 0.7× the ceiling), always or never');
  process.exit(2);
}

const bench = new PullBench({ pgAdminUrl: opts['pg-url'], mysqlAdminUrl: opts['mysql-url'], needMysql: sources.includes('mysql') });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void bench.cleanup().finally(() => process.exit(130)));

const scaleTable = (n: number) => (n === rows ? 'products' : `products_${n}`);

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  await bench.setup();
  const pgVersion = (await bench.client.query<{ server_version: string }>('show server_version')).rows[0]!.server_version;
  log(
    `platform database ${bench.platform.name}, source ${bench.source.name}${bench.mysqlUrl ? `, MariaDB ${new URL(bench.mysqlUrl).pathname.slice(1)}` : ''}`,
  );

  await waitForQuietMachine(); // generating the data loads the database server too
  let t0 = performance.now();
  await createPgProducts(bench.source.url, 'products', rows);
  log(`PostgreSQL products: ${rows.toLocaleString('en')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (bench.mysqlUrl) {
    t0 = performance.now();
    await createMysqlProducts(bench.mysqlUrl, 'products', rows);
    log(`MariaDB products: ${rows.toLocaleString('en')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (const n of scaling) if (n !== rows) await createPgProducts(bench.source.url, scaleTable(n), n);
  const mongo = { uri: opts['mongo-url'], database: `qbench_pull_${process.pid}`, collection: 'products' };
  const neo4jUrl = new URL(opts['neo4j-url']);
  const neo4jParts = {
    uri: `${neo4jUrl.protocol}//${neo4jUrl.host}`,
    user: decodeURIComponent(neo4jUrl.username),
    password: decodeURIComponent(neo4jUrl.password),
    database: 'neo4j',
  };
  const neo4jLabel = `QbenchProduct${process.pid}`;
  if (sources.includes('mongo')) {
    t0 = performance.now();
    await createMongoProducts(mongo.uri, mongo.database, mongo.collection, docRows.mongo);
    bench.onCleanup(() => dropMongoDatabase(mongo.uri, mongo.database));
    log(`MongoDB products: ${docRows.mongo.toLocaleString('en')} documents in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (sources.includes('neo4j')) {
    t0 = performance.now();
    bench.onCleanup(() => dropNeo4jLabel(neo4jParts, neo4jLabel));
    await createNeo4jProducts(neo4jParts, neo4jLabel, docRows.neo4j);
    log(`Neo4j products: ${docRows.neo4j.toLocaleString('en')} nodes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  const srcOf = (s: 'pg' | 'mysql'): CeilingSource & { dsn: string } =>
    s === 'pg'
      ? { kind: 'postgresql', url: bench.source.url, table: 'products', dsn: bench.source.url }
      : { kind: 'mysql', url: bench.mysqlUrl!, table: 'products', dsn: bench.mysqlUrl! };

  const scenarios = new Map<string, Scenario>();
  const add = (source: string, pass: Pass, tool: 'ours' | 'ceiling', m: Measurement) => {
    const id = `${source}/${pass}/${tool}`;
    if (!scenarios.has(id)) scenarios.set(id, { key: `${source}/${pass}`, source, pass, tool, tableRows: m.rows, runs: [] });
    scenarios.get(id)!.runs.push(m);
    log(
      `run ${m.run} ${id}: ${Math.round(m.rowsPerS).toLocaleString('en')} rows/s, ${(m.wallMs / 1000).toFixed(1)} s, peak RSS ${formatBytes(m.peakRssBytes)}`,
    );
  };

  for (let run = 1; run <= runs; run++) {
    for (const s of sources) {
      if (s === 'mongo' || s === 'neo4j') {
        const n = docRows[s];
        const sourceName = s === 'mongo' ? 'MongoDB' : 'Neo4j';
        const connection = s === 'mongo' ? { uri: mongo.uri, database: mongo.database, collection: mongo.collection } : neo4jParts;
        const ceilingSrc: CeilingSource =
          s === 'mongo'
            ? { kind: 'mongodb', uri: mongo.uri, database: mongo.database, container: mongo.collection }
            : { kind: 'neo4j', ...neo4jParts, container: neo4jLabel };
        await bench.truncate('ceiling_entities');
        const ceilingOf = (written: number) => bench.ceiling(run, ceilingSrc, `${s}_r${run}`, null, { copied: n, written, landed: n });
        add(sourceName, 'first', 'ceiling', (await ceilingOf(n)).m);
        add(sourceName, 'rescan-unchanged', 'ceiling', (await ceilingOf(0)).m);
        await bench.truncate('entities');
        const id = await bench.ours.createConnector({
          tenant: 'bench',
          vertical: 'ours',
          entityType: `${s}_r${run}`,
          connectorType: s === 'mongo' ? 'mongodb' : 'neo4j',
          connectionConfig: connection,
          table: s === 'mongo' ? mongo.collection : neo4jLabel,
        });
        add(sourceName, 'first', 'ours', await bench.pull(run, id, 'incremental', n, { rows_read: n, inserted: n, rejected: 0 }));
        add(
          sourceName,
          'rescan-unchanged',
          'ours',
          await bench.pull(run, id, 'full', n, { rows_read: n, inserted: 0, updated: 0, unchanged: n }),
        );
        continue;
      }
      const src = srcOf(s);
      const sourceName = s === 'pg' ? 'PostgreSQL' : 'MariaDB';
      // The ceiling: an empty table, then the same rows again (all unchanged).
      await bench.truncate('ceiling_entities');
      const ceilingOf = (written: number) => bench.ceiling(run, src, `${s}_r${run}`, null, { copied: rows, written, landed: rows });
      add(sourceName, 'first', 'ceiling', (await ceilingOf(rows)).m);
      add(sourceName, 'rescan-unchanged', 'ceiling', (await ceilingOf(0)).m);
      // Ours: a fresh connector on an empty entities table; first run (no cursor yet), then a full re-pull.
      await bench.truncate('entities');
      const id = await bench.ours.createConnector({
        tenant: 'bench',
        vertical: 'ours',
        entityType: `${s}_r${run}`,
        connectorType: s === 'pg' ? 'postgresql' : 'mysql',
        connectionConfig: { dsn: src.dsn },
        table: 'products',
      });
      add(sourceName, 'first', 'ours', await bench.pull(run, id, 'incremental', rows, { rows_read: rows, inserted: rows, rejected: 0 }));
      add(
        sourceName,
        'rescan-unchanged',
        'ours',
        await bench.pull(run, id, 'full', rows, { rows_read: rows, inserted: 0, updated: 0, unchanged: rows }),
      );
    }
  }

  // Scaling: our first load at each size, PostgreSQL source, fresh entities table and worker each time.
  const scalingPoints: Array<{
    rows: number;
    run: number;
    wallMs: number;
    rowsPerS: number;
    peakRssBytes: number | null;
    startRssBytes: number | null;
  }> = [];
  for (let run = 1; run <= scalingRuns; run++) {
    for (const n of scaling) {
      await bench.truncate('entities');
      const id = await bench.ours.createConnector({
        tenant: 'bench',
        vertical: 'scaling',
        entityType: `n${n}_r${run}`,
        connectorType: 'postgresql',
        connectionConfig: { dsn: bench.source.url },
        table: scaleTable(n),
      });
      const m = await bench.pull(run, id, 'incremental', n, { rows_read: n, inserted: n });
      scalingPoints.push({
        rows: n,
        run,
        wallMs: m.wallMs,
        rowsPerS: m.rowsPerS,
        peakRssBytes: m.peakRssBytes,
        startRssBytes: m.startRssBytes,
      });
      log(
        `scaling ${n.toLocaleString('en')} rows: ${(m.wallMs / 1000).toFixed(1)} s, ${Math.round(m.rowsPerS).toLocaleString('en')} rows/s, peak RSS ${formatBytes(m.peakRssBytes)}`,
      );
    }
  }
  const scalingMedians = scaling.map((n) => {
    const pts = scalingPoints.filter((p) => p.rows === n).sort((a, b) => a.wallMs - b.wallMs);
    const mid = pts[pts.length >> 1]!;
    return { ...mid, peakRssBytes: Math.max(...pts.map((p) => p.peakRssBytes ?? 0)) || null };
  });

  const list = [...scenarios.values()];
  const summary = summarize(list);
  const short = summary.filter((s) => s.ours_vs_ceiling !== null && s.ours_vs_ceiling < 0.7);

  // Where the time goes: a CPU profile of the worker on a PostgreSQL first load, and the plans of a batch's statements.
  const diagnosis: { profile?: string; explain?: string } = {};
  if (opts.profile === 'always' || (opts.profile === 'auto' && short.length > 0)) {
    const dir = join(ROOT, 'bench/results/profiles', `pull-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    await bench.truncate('entities');
    const source = sources.includes('mysql') && !sources.includes('pg') ? 'mysql' : 'pg';
    const src = srcOf(source);
    const id = await bench.ours.createConnector({
      tenant: 'bench',
      vertical: 'profile',
      entityType: source,
      connectorType: source === 'pg' ? 'postgresql' : 'mysql',
      connectionConfig: { dsn: src.dsn },
      table: 'products',
    });
    const first = await bench.pull(0, id, 'incremental', rows, { rows_read: rows }, join(dir, 'first'));
    const rescan = await bench.pull(0, id, 'full', rows, { rows_read: rows }, join(dir, 'rescan'));
    const parts: string[] = [];
    for (const [name, m] of [
      ['first load', first],
      ['unchanged re-pull', rescan],
    ] as const) {
      const sub = join(dir, name === 'first load' ? 'first' : 'rescan');
      const files = readdirSync(sub, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(sub, f));
      const main = busiestProfile(files);
      if (main)
        parts.push(
          `### worker CPU profile, ${source} ${name} (${(m.wallMs / 1000).toFixed(1)} s with --cpu-prof; ${main.file})\n\n${formatSummary(summarizeCpuProfile(main.profile, 25))}`,
        );
    }
    diagnosis.profile = parts.join('\n\n');
    const plans = [
      await explainUpsert(bench.client, bench.tenantId, 'profile', source, 5000),
      await explainPullBatch(bench.client, id, 5000),
    ];
    diagnosis.explain = plans.join('\n\n');
  }

  const machine = machineInfo();
  const notes = [
    `PostgreSQL ${pgVersion}; ${rows.toLocaleString('en')}-row products table (13 columns: bigint id, text, numeric, double, int, boolean, jsonb/JSON, timestamptz/DATETIME(6)); ${runs} run(s): median (min–max)`,
    "ours: `qanatix worker` child process (fresh per pass), table-mode connector on cursor updated_at (lag 0, batch_size 5000), a manual pull job enqueued on its own Redis; wall = run queued_at → finished_at (database clock); peak RSS = the worker's VmHWM during the pass (reset when the job is enqueued)",
    'unchanged re-pull: all rows re-read, none changed (ours: mode full; an incremental run with nothing new reads 0 rows)',
    'ceiling: COPY (SELECT …) TO STDOUT (PostgreSQL) or `mariadb --batch --quick` TSV (MariaDB) piped into COPY … FROM STDIN of an unlogged staging table, then one INSERT … SELECT … ON CONFLICT … WHERE content_hash IS DISTINCT FROM into a table of the entities shape; name, source_id, dedup_key, vertical_data (row as jsonb minus name) and sha256 content_hash computed in SQL. Its peak RSS is of the psql/mariadb client processes (sampled)',
    `MongoDB (${sources.includes('mongo') ? docRows.mongo.toLocaleString('en') : '—'} documents) and Neo4j (${sources.includes('neo4j') ? docRows.neo4j.toLocaleString('en') : '—'} nodes): the same products (price and cost as doubles; attributes a nested document in MongoDB, a JSON string in Neo4j) in a collection with an index on (updated_at, _id) and under a label with a unique id and a range index on updated_at; collection/label mode on cursor updated_at`,
    'MongoDB and Neo4j ceilings (neither mongoexport nor cypher-shell is installed): bench/pull/document-export.ts run by plain node, the official driver with no application logic. MongoDB: one find({}) (no sort, no filter) projecting the 13 fields, batch size 10,000, default BSON decoding; Neo4j: one auto-commit MATCH (n:Label) RETURN n.id, n.sku, … (13 properties), fetch size 10,000. Each row is written to stdout as COPY text (dates ISO 8601, the nested attributes document as JSON text) into the same psql COPY and INSERT … ON CONFLICT as the SQL ceilings, the staging price and cost double precision (as stored); the wall time includes starting node and the driver (~0.3 s)',
    "every ceiling pass is checked after the clock stops: COPY and INSERT row counts, then the rows in its table (count, sum of source_id, sum of stock) equal to the source's",
    'loader cores / postgres cores: CPU time of the loading process(es) and of all PostgreSQL processes divided by wall time (2 cores = the whole machine)',
    "ours vs this: the tool's median wall time over ours = our throughput divided by its throughput (> 1: we are faster)",
  ];
  writeJsonResult(opts.out, {
    bench: 'pull',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    postgres: pgVersion,
    params: { rows, runs, sources, docRows, scaling, scalingRuns, batchSize: 5000 },
    notes,
    summary,
    scaling: { medians: scalingMedians, points: scalingPoints },
    diagnosis,
    scenarios: list,
  });
  log(`wrote ${opts.out}`);
  console.log('\n' + markdownReport('bench/pull: ours vs the SQL ceiling', machine, notes, summary, ['ceiling', 'ours']) + '\n');
  console.log(`### scaling: our first load from PostgreSQL\n\n${scalingTable(scalingMedians)}\n`);
  if (diagnosis.profile) console.log(diagnosis.profile + '\n');
  if (diagnosis.explain) {
    console.log(
      `### EXPLAIN (ANALYZE, BUFFERS) of a pull batch's statements (upsert, run bookkeeping), one 5000-row batch\n\n${diagnosis.explain}\n`,
    );
  }
}

main()
  .catch(reportFailure(bench))
  .finally(() => bench.cleanup());
