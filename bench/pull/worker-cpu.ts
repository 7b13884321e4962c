/**
 * bench/pull/worker-cpu (issue 18): the worker's CPU per row on a PostgreSQL first load, without the writes. The products
 * rows are read through the connector's real read path (keyset pages), mapped, prepared (`prepareBatch`) and turned
 * into what the write sends (`--form`: a first load's COPY text, or the upsert's document), batch after batch, as a pull does before its writes; this
 * process's CPU time (user + system) and peak RSS are what it reports. Two more forms size what is left: `read` (the
 * rows read and dropped) and `direct` (each row written straight into its COPY line, no record in between); `ready` is
 * `copy` with the records made from the source's COPY text (ReadPlan.readyRecords), as a pull makes them. Run it with
 * the worker's young-generation cap:
 *
 *   NODE_OPTIONS=--max-semi-space-size=8 npx tsx bench/pull/worker-cpu.ts [--rows 200000] [--rounds 3] [--json text|parsed|parsed,text]
 *     [--form copy|ready|document|direct|read|read,copy,ready] [--batch 5000]
 *
 * The table is created once in a scratch database and dropped at the end; the rounds read it again and again. With
 * `--db NAME` the products table of that database is read instead (created there when it is missing, kept), so two
 * versions of the code can be compared on the same rows, alternating.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { validateConnectorConfig } from '../../connectors/connector-config';
import { PostgresqlConnector } from '../../connectors/postgresql/postgresql-connector';
import { mapRows, rowMapping } from '../../jobs/run-pull';
import { prepareBatch } from '../../src/core/ingest';
import { entitiesCopy } from '../../src/core/copy-entities';
import { entitiesDocument } from '../../src/core/upsert-entities';
import { createPgProducts } from './products';
import type { Row } from '../../connectors/contract';
import { JsonText } from '../../src/core/json-text';
import type { EntityRow } from '../../src/core/record';

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '3' },
    // Rows per read page and batch (the connector's batch_size).
    batch: { type: 'string', default: '5000' },
    db: { type: 'string' },
    // `parsed`: jsonb objects parsed into objects and stringified again (the read before `ReadPlan.jsonText`); a list
    // (`parsed,text`) takes its modes in turn, round after round, to compare them in the same minutes.
    json: { type: 'string', default: 'text' },
    // What a batch is sent as: `copy`, a first load's COPY text (copy-entities.ts), or `document`, the upsert's jsonb
    // document; each encoded to UTF-8 as the driver sends it. A list alternates round by round, as `--json` does.
    form: { type: 'string', default: 'copy' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});
const [rows, rounds] = [opts.rows, opts.rounds].map(Number) as [number, number];
/** Stands for the tenant and the connector in the COPY text (a UUID's length). */
const TENANT = '00000000-0000-4000-8000-000000000001';
const jsonModes = opts.json.split(',');
if (!jsonModes.every((m) => m === 'text' || m === 'parsed')) throw new Error('--json takes text, parsed or a list of them');
const forms = opts.form.split(',');
if (!forms.every((f) => f === 'copy' || f === 'ready' || f === 'document' || f === 'direct' || f === 'read'))
  throw new Error('--form takes copy, ready, document, direct, read or a list of them');

/**
 * `--form direct`: a sketch of the least a worker could do per row, to size that lever: each driver row written straight
 * into its entity's document (no record, no normalized copy, no checks), then the COPY text. Not what a pull does.
 */
function directRows(rows: Row[], nameColumn: string, keyColumn: string): EntityRow[] {
  const out: EntityRow[] = [];
  const keyText = new Map<string, string>();
  for (const row of rows) {
    let json = '';
    let tail = '';
    for (const key in row) {
      if (key === nameColumn) continue;
      const v = row[key];
      let k = keyText.get(key);
      if (k === undefined) keyText.set(key, (k = JSON.stringify(key) + ':'));
      if (v instanceof JsonText) {
        tail += ',' + k + v.spliced()!;
        continue;
      }
      const text =
        typeof v === 'string'
          ? JSON.stringify(v)
          : typeof v === 'number'
            ? Number.isFinite(v)
              ? String(v)
              : 'null'
            : v === null
              ? 'null'
              : String(v);
      json += (json ? ',' : '{') + k + text;
    }
    const sourceId = String(row[keyColumn]);
    out.push({ name: row[nameColumn] as string, sourceId, dedupKey: 's:' + sourceId, data: json + tail + '}' });
  }
  return out;
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: opts['pg-url'] });
  await admin.connect();
  const name = opts.db ?? `qbench_wcpu_${process.pid}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error('--db takes a plain lower-case database name');
  const exists = (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
  if (!exists) await admin.query(`create database ${name}`);
  const url = new URL(opts['pg-url']);
  url.pathname = `/${name}`;
  try {
    const source = new pg.Client({ connectionString: url.toString() });
    await source.connect();
    const have = await source
      .query<{ n: string }>('select count(*)::text as n from products')
      .then((r) => Number(r.rows[0]!.n))
      .catch(() => null);
    await source.end();
    if (have !== rows) await createPgProducts(url.toString(), 'products', rows);
    const definition = validateConnectorConfig({
      connector_type: 'postgresql',
      connection_config: { dsn: url.toString() },
      table: 'products',
      cursor: { column: 'updated_at', lag_seconds: 0 },
      batch_size: Number(opts.batch),
    });
    const results: string[] = [];
    for (let round = 1; round <= rounds; round++) {
      const source = new PostgresqlConnector(definition);
      const plan = { mode: 'full' as const, cursor: null, now: new Date().toISOString(), lastPull: null, batchSize: definition.batch_size };
      const json = jsonModes[(round - 1) % jsonModes.length]!;
      const form = forms[(round - 1) % forms.length]!;
      const described = await source.describe(plan);
      const mapping = rowMapping(definition, described.primaryKey);
      let read = 0;
      let bytes = 0;
      let peakRss = process.memoryUsage.rss();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      // `ready`: as `copy`, the records made from the source's COPY text where they can be (a pull's way); `copy`: from rows.
      const readyRecords = form === 'ready';
      for await (const batch of source.read({ ...plan, jsonText: json === 'text', readyRecords }, new AbortController().signal)) {
        // `--form read`: the rows read through the connector and dropped, the floor of what a pull's worker does.
        if (form === 'read') {
          read += batch.rows.length;
          continue;
        }
        if (form === 'direct') {
          const direct = directRows(batch.rows, definition.name_column, described.primaryKey[0]!);
          read += batch.rows.length;
          for (const chunk of entitiesCopy(direct, TENANT, 'bench', 'product', TENANT).chunks()) bytes += chunk.length;
          continue;
        }
        const { records, positions, refused } = mapRows(batch.rows, mapping, read);
        read += batch.rows.length;
        const prepared = prepareBatch(records, null, { positions, refused });
        if (form === 'document') bytes += Buffer.from(entitiesDocument(prepared.rows)).length;
        else for (const chunk of entitiesCopy(prepared.rows, TENANT, 'bench', 'product', TENANT).chunks()) bytes += chunk.length;
        peakRss = Math.max(peakRss, process.memoryUsage.rss());
      }
      const cpu = process.cpuUsage(cpu0);
      const cpuS = (cpu.user + cpu.system) / 1e6;
      const wallS = (performance.now() - t0) / 1000;
      await source.close();
      if (read !== rows) throw new Error(`read ${read} rows, expected ${rows}`);
      const line =
        `round ${round} (json ${json}, ${form}): ${read.toLocaleString('en')} rows, CPU ${cpuS.toFixed(2)} s (${((cpuS / read) * 1e6).toFixed(2)} µs a row, ` +
        `${((cpuS * 1e6) / read).toFixed(1)} CPU-s per million), wall ${wallS.toFixed(2)} s, documents ${(bytes / 1e6).toFixed(0)} MB, ` +
        `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB`;
      console.log(line);
      results.push(line);
    }
  } finally {
    if (!opts.db) await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
