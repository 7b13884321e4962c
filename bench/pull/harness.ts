import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { PullMode } from '../../jobs/pull-queue';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { ensureTenant } from '../../src/auth/api-keys';
import { createScratchDatabase, type ScratchDatabase } from '../lib/pg-scratch';
import { watchProcessesNamed } from '../lib/proc-stats';
import { startRedisServer, type RedisServer } from '../lib/redis-server';
import { CEILING_TABLE, FLOOR_TABLE, loadCeiling, loadFloor, prepareCeiling, type CeilingSource, type Watermark } from './ceiling';
import { OursHarness } from './ours';
import type { Measurement } from './report';

export const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

/**
 * Other benchmarks on this machine (bench/schedule, bench/ingest-http) would distort our figures and
 * we theirs: wait while one runs (every 10 s, up to 15 min) before each measured phase.
 */
export async function waitForQuietMachine(maxMs = 15 * 60_000): Promise<void> {
  if (process.env.QANATIX_BENCH_NO_WAIT === '1') return; // smoke tests only: figures may be distorted
  const deadline = Date.now() + maxMs;
  let announced = false;
  for (;;) {
    let busy = '';
    try {
      busy = execFileSync('pgrep', ['-f', 'bench/schedule|bench/ingest-http'], { encoding: 'utf8' }).trim();
    } catch {
      busy = ''; // pgrep exits 1 when nothing matches
    }
    if (!busy || Date.now() > deadline) {
      if (busy) log(`another benchmark still runs after ${maxMs / 60_000} min (pids ${busy.replace(/\n/g, ' ')}); measuring anyway`);
      return;
    }
    if (!announced) log(`another benchmark is running (pids ${busy.replace(/\n/g, ' ')}); waiting`);
    announced = true;
    await new Promise((r) => setTimeout(r, 10_000));
  }
}

export interface HarnessOptions {
  pgAdminUrl: string;
  mysqlAdminUrl: string;
  needMysql: boolean;
}

/** Scratch databases (source and platform on the PostgreSQL server, a source database on MariaDB), our own Redis. */
export class PullBench {
  source!: ScratchDatabase;
  platform!: ScratchDatabase;
  mysqlUrl: string | null = null;
  redis!: RedisServer;
  pool!: pg.Pool;
  client!: pg.Client;
  ours!: OursHarness;
  tenantId!: string;
  private mysqlDb: string | null = null;
  private cleanups: Array<() => Promise<unknown>> = [];

  constructor(private readonly o: HarnessOptions) {}

  async setup(): Promise<void> {
    this.source = await createScratchDatabase(this.o.pgAdminUrl, 'qbench_pullsrc');
    this.platform = await createScratchDatabase(this.o.pgAdminUrl, 'qbench_pull');
    this.pool = createPool(this.platform.url, 4);
    await migrate(this.pool);
    this.client = new pg.Client({ connectionString: this.platform.url, application_name: 'qanatix-bench' });
    await this.client.connect();
    await prepareCeiling(this.client);
    this.tenantId = await ensureTenant(this.pool, 'bench');
    this.redis = await startRedisServer();
    this.ours = new OursHarness(this.pool, this.platform.url, this.redis.url);
    if (this.o.needMysql) {
      this.mysqlDb = `qbench_pull_${process.pid}`;
      const admin = await mysql.createConnection({ uri: this.o.mysqlAdminUrl });
      await admin.query(`CREATE DATABASE ${this.mysqlDb}`);
      await admin.end();
      const u = new URL(this.o.mysqlAdminUrl);
      u.pathname = `/${this.mysqlDb}`;
      this.mysqlUrl = u.toString();
    }
  }

  /** Work to undo at cleanup (a source created outside the scratch databases). */
  onCleanup(undo: () => Promise<unknown>): void {
    this.cleanups.push(undo);
  }

  async cleanup(): Promise<void> {
    for (const undo of this.cleanups.splice(0)) await undo().catch((err: Error) => log(`cleanup: ${err.message}`));
    await this.ours?.close().catch(() => {});
    await this.client?.end().catch(() => {});
    await this.pool?.end().catch(() => {});
    await this.redis?.stop().catch(() => {});
    for (const db of [this.platform, this.source]) await db?.drop().catch((err: Error) => log(`could not drop ${db.name}: ${err.message}`));
    if (this.mysqlDb) {
      const admin = await mysql.createConnection({ uri: this.o.mysqlAdminUrl }).catch(() => null);
      await admin?.query(`DROP DATABASE IF EXISTS ${this.mysqlDb}`).catch(() => {});
      await admin?.end();
      this.mysqlDb = null;
    }
  }

  /** Nothing dirty left to flush from the previous phase, so each measured pass starts alike. */
  async settle(): Promise<void> {
    await this.client.query('checkpoint');
    await waitForQuietMachine();
  }

  async truncate(table: 'entities' | typeof CEILING_TABLE | typeof FLOOR_TABLE): Promise<void> {
    await this.client.query(`truncate ${table}`);
    await this.client.query('vacuum analyze ' + table);
  }

  async ceiling(
    run: number,
    src: CeilingSource,
    entityType: string,
    since: Watermark | null,
    expect: { copied?: number; written?: number; landed?: number },
  ): Promise<{ m: Measurement; watermark: Watermark | null }> {
    await this.settle();
    const stopPg = watchProcessesNamed('postgres');
    const r = await loadCeiling(this.client, this.platform.url, src, { tenantId: this.tenantId, vertical: 'ceiling', entityType }, since);
    const postgresCpuMs = stopPg();
    check('ceiling', { copied: r.copied, written: r.written }, { copied: expect.copied, written: expect.written });
    if (expect.landed !== undefined) await this.checkLanded(entityType, expect.landed);
    const rows = r.copied;
    return {
      m: {
        run,
        rows,
        wallMs: r.wallMs,
        rowsPerS: (rows * 1000) / r.wallMs,
        peakRssBytes: r.tree.peakRssBytes,
        startRssBytes: null,
        loaderCpuMs: r.tree.cpuMs,
        postgresCpuMs,
        counts: { copied: r.copied, written: r.written },
      },
      watermark: r.watermark,
    };
  }

  /** The entities shape's floor (ceiling.ts `loadFloor`): a first load of `src`, checked to have copied `rows` rows. */
  async floor(run: number, src: { url: string; table: string }, entityType: string, rows: number): Promise<Measurement> {
    await this.settle();
    const stopPg = watchProcessesNamed('postgres');
    const r = await loadFloor(src, this.platform.url, { tenantId: this.tenantId, vertical: 'floor', entityType });
    const postgresCpuMs = stopPg();
    check('floor', { copied: r.copied }, { copied: rows });
    return {
      run,
      rows: r.copied,
      wallMs: r.wallMs,
      rowsPerS: (r.copied * 1000) / r.wallMs,
      peakRssBytes: r.tree.peakRssBytes,
      startRssBytes: null,
      loaderCpuMs: r.tree.cpuMs,
      postgresCpuMs,
      counts: { copied: r.copied },
    };
  }

  /** What the ceiling's table holds for `entityType`: products 1..n, by count, the sum of their ids and of their stock. */
  async checkLanded(entityType: string, n: number): Promise<void> {
    const { rows } = await this.client.query<{ rows: string; id_sum: string; stock_sum: string }>(
      `select count(*)::text as rows, coalesce(sum(source_id::bigint), 0)::text as id_sum,
              coalesce(sum((vertical_data->>'stock')::bigint), 0)::text as stock_sum
         from ${CEILING_TABLE} where tenant_id = $1 and vertical = 'ceiling' and entity_type = $2`,
      [this.tenantId, entityType],
    );
    let stockSum = 0;
    for (let g = 1; g <= n; g++) stockSum += (g * 31) % 500; // products.ts and documents.ts: stock = (g * 31) % 500
    const got = { rows: Number(rows[0]!.rows), id_sum: Number(rows[0]!.id_sum), stock_sum: Number(rows[0]!.stock_sum) };
    check('ceiling rows landed', got, { rows: n, id_sum: (n * (n + 1)) / 2, stock_sum: stockSum });
  }

  /** One pull by a fresh worker process; `rows` is what the pass had to handle (for rows/s). */
  async pull(
    run: number,
    connectorId: string,
    mode: PullMode,
    rows: number,
    expect: Partial<Record<'rows_read' | 'inserted' | 'updated' | 'unchanged' | 'rejected', number>>,
    profileDir?: string,
  ): Promise<Measurement> {
    await this.ours.startWorker(profileDir);
    await this.settle();
    const stopPg = watchProcessesNamed('postgres');
    // Every PostgreSQL process of the machine counts other people's work too; the bench's own backends count only this pull's.
    const stopBackends = watchProcessesNamed('postgres', 200, (pid) => this.ownBackend(pid));
    const r = await this.ours.pull(connectorId, mode);
    const postgresCpuMs = stopPg();
    const backendCpuMs = stopBackends();
    await this.ours.stopWorker();
    check('ours', r.counts, expect);
    return {
      run,
      rows,
      wallMs: r.wallMs,
      rowsPerS: (rows * 1000) / r.wallMs,
      peakRssBytes: r.worker.peakRssBytes,
      startRssBytes: r.worker.startRssBytes,
      loaderCpuMs: r.worker.cpuMs,
      postgresCpuMs,
      counts: { ...r.counts, observedMs: Math.round(r.observedMs), backendCpuMs },
    };
  }

  /** Whether `pid` is a backend connected to this bench's platform or source database (its title names the database). */
  private ownBackend(pid: number): boolean {
    try {
      const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return title.includes(` ${this.platform.name} `) || title.includes(` ${this.source.name} `);
    } catch {
      return false;
    }
  }
}

/** A bench's `main().catch(…)`: the error, and what the worker printed last when it was ours that failed. */
export function reportFailure(bench: PullBench): (err: Error) => void {
  return (err) => {
    log(`failed: ${err.stack ?? err.message}`);
    const tail = bench.ours?.tail();
    if (tail) log(`worker output:\n${tail}`);
    process.exitCode = 1;
  };
}

/** A bench that measured failures would report nonsense: the counts must be what the pass implies. */
export function check(what: string, counts: Record<string, number>, expected: Record<string, number | undefined>): void {
  const wrong = Object.entries(expected).filter(([k, v]) => v !== undefined && counts[k] !== v);
  if (wrong.length) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(counts)}`);
}
