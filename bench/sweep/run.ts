/**
 * bench/sweep: a key sweep of 1M source keys with 1% deleted at the source, against the ceiling of one SQL
 * anti-join on the same server (the source's keys already in the platform database: no reading, no transfer).
 *
 *   npx tsx bench/sweep/run.ts [--rows 1000000] [--deleted 0.01] [--runs 3] [--batch 20000] [--out FILE]
 *
 * Ours: `runPull` in mode `sweep` in a child process (a PostgreSQL source, its connector's entities in the platform
 * database), timed from its start to its last commit, with the child's peak RSS. Ceiling: the same deletes as one
 * `DELETE … WHERE NOT EXISTS (…)` against a copy of the source table in the platform database. Each run puts the
 * deleted entities back first. Goals: ours ≥ 0.5× the ceiling, RSS ≤ 256 MiB.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { SecretBox } from '../../src/crypto/secret-box';
import { migrate } from '../../src/db/migrate';
import { createRun } from '../../src/store/connector-runs';
import { insertConnector } from '../../src/store/connectors';
import { ensureTenant } from '../../src/auth/api-keys';
import { createScratchDatabase } from '../lib/pg-scratch';
import { machineInfo, writeJsonResult } from '../lib/results';
import { median } from '../lib/stats';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    deleted: { type: 'string', default: '0.01' },
    runs: { type: 'string', default: '3' },
    batch: { type: 'string', default: '20000' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
    out: { type: 'string', default: join(ROOT, 'bench/results/sweep-latest.json') },
  },
});
const rows = Number(opts.rows);
const share = Number(opts.deleted);
const runs = Number(opts.runs);
const batch = Number(opts.batch);
const every = Math.round(1 / share);
const log = (msg: string) => console.error(`[sweep] ${msg}`);

const source = await createScratchDatabase(opts['pg-url'], 'qsweep_src');
const platform = await createScratchDatabase(opts['pg-url'], 'qsweep_plat');
const pool = new pg.Pool({ connectionString: platform.url, max: 2 });
const src = new pg.Client({ connectionString: source.url });
try {
  await src.connect();
  await migrate(pool);
  log(`${rows.toLocaleString('en')} source rows, ${(share * 100).toFixed(2)}% deleted, ${runs} runs, batch ${batch}`);
  await src.query('create table products (id bigint primary key, name text not null, updated_at timestamptz not null)');
  await src.query(
    `insert into products select g, 'product ' || g, '2026-01-01'::timestamptz + g * interval '1 ms' from generate_series(1, $1) g`,
    [rows],
  );
  await src.query('vacuum analyze products');

  const tenantId = await ensureTenant(pool, 'bench');
  const connectorId = crypto.randomUUID();
  await insertConnector(pool, SecretBox.fromEnv({}, true), tenantId, connectorId, {
    name: 'sweep',
    connector_type: 'postgresql',
    vertical: 'bench',
    entity_type: 'product',
    connection_config: { dsn: source.url },
    settings: { table: 'products', cursor: { column: 'updated_at' }, batch_size: batch, deletes: { mode: 'hard', max_fraction: 1 } },
    schedule: null,
    timezone: 'UTC',
    enabled: true,
  });
  // The connector's entities, as its pulls would have left them (one per source row).
  await pool.query(
    `insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash, connector_id)
     select $1, 'bench', 'product', 'product ' || g, g::text, 's:' || g, jsonb_build_object('id', g), md5(g::text), $2
       from generate_series(1, $3::int) g`,
    [tenantId, connectorId, rows],
  );
  // The ceiling's side: the source's keys in the platform database.
  await pool.query('create table source_keys (id bigint primary key)');
  await pool.query(`insert into source_keys select g from generate_series(1, $1::int) g where g % $2::int <> 0`, [rows, every]);
  await pool.query('vacuum analyze entities');
  await pool.query('vacuum analyze source_keys');
  await src.query('delete from products where id % $1 = 0', [every]);
  await src.query('vacuum analyze products');
  const expected = Math.floor(rows / every);

  const restore = () =>
    pool.query(
      `insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash, connector_id)
       select $1, 'bench', 'product', 'product ' || g, g::text, 's:' || g, jsonb_build_object('id', g), md5(g::text), $2
         from generate_series($4::int, $3::int, $4::int) g on conflict do nothing`,
      [tenantId, connectorId, rows, every],
    );

  const ours: Array<{ ms: number; rss: number }> = [];
  const ceiling: number[] = [];
  for (let i = 0; i < runs; i++) {
    await restore();
    await pool.query('vacuum analyze entities');
    const runId = await createRun(pool, { connectorId, tenantId, trigger: 'manual', mode: 'sweep', status: 'running' });
    const child = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'bench/sweep/sweep-child.ts'), platform.url, connectorId, runId],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    if (child.status !== 0) throw new Error(`the sweep failed: ${child.stderr}`);
    const result = JSON.parse(child.stdout.trim().split('\n').pop()!) as {
      ms: number;
      maxRssBytes: number;
      outcome: { run?: { deleted: number } };
    };
    if (result.outcome.run?.deleted !== expected)
      throw new Error(`the sweep deleted ${JSON.stringify(result.outcome)}, expected ${expected}`);
    ours.push({ ms: result.ms, rss: result.maxRssBytes });
    log(`ours run ${i + 1}: ${(result.ms / 1000).toFixed(2)} s, peak RSS ${(result.maxRssBytes / 2 ** 20).toFixed(0)} MiB`);

    await restore();
    await pool.query('vacuum analyze entities');
    const started = performance.now();
    const { rowCount } = await pool.query(
      `delete from entities e where e.tenant_id = $1 and e.vertical = 'bench' and e.entity_type = 'product' and e.connector_id = $2
          and not exists (select 1 from source_keys k where k.id::text = e.source_id)`,
      [tenantId, connectorId],
    );
    const ms = performance.now() - started;
    if (rowCount !== expected) throw new Error(`the anti-join deleted ${rowCount}, expected ${expected}`);
    ceiling.push(ms);
    log(`ceiling run ${i + 1}: ${(ms / 1000).toFixed(2)} s`);
  }
  const oursMs = median(ours.map((o) => o.ms));
  const ceilingMs = median(ceiling);
  const result = {
    benchmark: 'sweep',
    date: new Date().toISOString(),
    machine: machineInfo(),
    rows,
    deleted: expected,
    batch,
    runs,
    ours: {
      medianMs: Math.round(oursMs),
      keysPerSecond: Math.round(rows / (oursMs / 1000)),
      peakRssMiB: Math.round(Math.max(...ours.map((o) => o.rss)) / 2 ** 20),
      all: ours,
    },
    ceiling: { medianMs: Math.round(ceilingMs), keysPerSecond: Math.round(rows / (ceilingMs / 1000)), all: ceiling },
    ratio: Number((ceilingMs / oursMs).toFixed(3)),
    goals: { ratio: 0.5, peakRssMiB: 256 },
    command: `npx tsx bench/sweep/run.ts --rows ${rows} --deleted ${share} --runs ${runs} --batch ${batch}`,
  };
  writeJsonResult(opts.out, result);
  console.log(
    JSON.stringify({
      ratio: result.ratio,
      ours: result.ours.medianMs,
      ceiling: result.ceiling.medianMs,
      peakRssMiB: result.ours.peakRssMiB,
    }),
  );
} finally {
  await src.end().catch(() => {});
  await pool.end();
  await source.drop();
  await platform.drop();
}
