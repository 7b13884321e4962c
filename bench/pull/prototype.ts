/**
 * A prototype, outside jobs/: the pull loop of jobs/run-pull.ts with the next source batch read while
 * the current one is written (double buffering; the commit of each batch with its cursor is unchanged,
 * and at most two batches are in memory). Measured in-process against runPull itself on the same
 * table, so the difference is the loop alone.
 *
 *   npx tsx bench/pull/prototype.ts [--rows 1000000] [--runs 2] [--batch-size 5000]
 */
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { validateConnectorConfig } from '../../connectors/connector-config';
import { compileRecordMapper, RowMappingError } from '../../connectors/map-record';
import { createConnector } from '../../connectors/registry';
import { runPull } from '../../jobs/run-pull';
import { ingest } from '../../src/core/ingest';
import { createIngestion, finishIngestion } from '../../src/core/ingestions';
import { withTransaction } from '../../src/db/pool';
import { SecretBox } from '../../src/crypto/secret-box';
import { createRun, finishRun } from '../../src/store/connector-runs';
import { loadConnectorForRun, type ConnectorForRun } from '../../src/store/connectors';
import { formatBytes } from '../lib/stats';
import { log, PullBench } from './harness';
import { createPgProducts } from './products';

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '2' },
    'batch-size': { type: 'string', default: '5000' },
    'pg-url': { type: 'string', default: 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});
const rows = Number(opts.rows);
const batchSize = Number(opts['batch-size']);

/** runPull's loop (first run, no retries, no DLQ of mapping errors) with one batch read ahead. */
async function prefetchPull(pool: pg.Pool, connector: ConnectorForRun, runId: string): Promise<number> {
  const definition = validateConnectorConfig({ connector_type: connector.connectorType, connection_config: connector.connectionConfig, ...connector.settings });
  const target = { tenantId: connector.tenantId, vertical: connector.vertical, entityType: connector.entityType };
  const source = createConnector(definition);
  let rowsRead = 0;
  let ingestionId: string | null = null;
  try {
    const now = await source.clock();
    const plan = { mode: 'incremental' as const, cursor: null, now, lastPull: null, batchSize: definition.batch_size };
    const described = await source.describe(plan);
    const mapRow = compileRecordMapper(definition, described.primaryKey);
    const it = source.read(plan, new AbortController().signal)[Symbol.asyncIterator]();
    let next = it.next();
    for (;;) {
      const r = await next;
      if (r.done) break;
      next = it.next(); // read the following page while this one is written
      next.catch(() => {}); // surfaced when awaited
      const batch = r.value;
      const records: unknown[] = [];
      for (const row of batch.rows) {
        const mapped = mapRow(row);
        if (!(mapped instanceof RowMappingError)) records.push(mapped);
      }
      ingestionId = await withTransaction(pool, async (c) => {
        let id = ingestionId;
        if (!id) {
          id = await createIngestion(c, connector.tenantId, target, 'connector', connector.name);
          await c.query('update connector_runs set ingestion_id = $2 where id = $1', [runId, id]);
        }
        const res = await ingest(c, target, records, { ingestionId: id, source: 'connector' });
        if (batch.cursor) await c.query('update connector_state set cursor = $2, updated_at = now() where connector_id = $1', [connector.id, JSON.stringify(batch.cursor)]);
        await c.query(
          `update connector_runs set rows_read = rows_read + $2, inserted = inserted + $3, updated = updated + $4, unchanged = unchanged + $5,
             rejected = rejected + $6, cursor_after = coalesce($7, cursor_after) where id = $1`,
          [runId, batch.rows.length, res.inserted, res.updated, res.duplicates, res.rejected, batch.cursor ? JSON.stringify(batch.cursor) : null],
        );
        return id;
      });
      rowsRead += batch.rows.length;
    }
    if (ingestionId) await finishIngestion(pool, ingestionId);
    return rowsRead;
  } finally {
    await source.close();
  }
}

async function main(): Promise<void> {
  const bench = new PullBench({ pgAdminUrl: opts['pg-url'], mysqlAdminUrl: '', needMysql: false });
  try {
    await bench.setup();
    await createPgProducts(bench.source.url, 'products', rows);
    const box = SecretBox.fromEnv({}, true);
    const results: Record<string, number[]> = { runPull: [], prefetch: [] };
    for (let run = 1; run <= Number(opts.runs); run++) {
      for (const variant of ['runPull', 'prefetch'] as const) {
        await bench.truncate('entities');
        const id = await bench.ours.createConnector({ tenant: 'bench', vertical: 'proto', entityType: `${variant}_${run}`, connectorType: 'postgresql', dsn: bench.source.url, table: 'products', batchSize });
        const connector = (await loadConnectorForRun(bench.pool, box, id))!;
        const runId = await createRun(bench.pool, { connectorId: id, tenantId: connector.tenantId, trigger: 'manual', mode: 'incremental', status: 'running' });
        await bench.settle();
        const rss0 = process.memoryUsage().rss;
        const t0 = performance.now();
        const n = variant === 'runPull'
          ? (await runPull({ pool: bench.pool, connector, runId, mode: 'incremental', signal: new AbortController().signal })).rowsRead
          : await prefetchPull(bench.pool, connector, runId);
        const ms = performance.now() - t0;
        await finishRun(bench.pool, runId, { status: 'succeeded' });
        if (n !== rows) throw new Error(`${variant}: read ${n} rows, expected ${rows}`);
        results[variant]!.push(ms);
        log(`run ${run} ${variant}: ${(ms / 1000).toFixed(1)} s, ${Math.round((rows * 1000) / ms).toLocaleString('en')} rows/s (bench RSS ${formatBytes(rss0)} → ${formatBytes(process.memoryUsage().rss)})`);
      }
    }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
    console.log(`in-process first load of ${rows.toLocaleString('en')} rows, batch ${batchSize}: runPull ${(med(results.runPull!) / 1000).toFixed(1)} s, prefetch ${(med(results.prefetch!) / 1000).toFixed(1)} s → ${(med(results.runPull!) / med(results.prefetch!)).toFixed(2)}× (${JSON.stringify(results)})`);
  } finally {
    await bench.cleanup();
  }
}

main().catch((err: Error) => {
  log(`failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
