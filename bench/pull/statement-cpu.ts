/**
 * bench/pull/statement-cpu (issue 18): what the core's write statement costs PostgreSQL, piece by piece, as CPU time
 * of the one backend that runs it (read from /proc, so other load on the machine barely moves it; the database must
 * run on this machine). A scratch database migrated like the platform's, the products rows as the core's batch
 * documents (`entitiesDocument`, or the COPY's input for the COPY), each statement its own transaction into an emptied entities table; the variants
 * alternate, `--rounds` times each.
 *
 * The client's CPU time (this process: sending the documents, parsing what the statement answers) is reported beside it.
 *
 *   npx tsx bench/pull/statement-cpu.ts [--rows 200000] [--batch 5000] [--rounds 3] [--only TEXT,TEXT]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  BATCH_WORK_MEM_SQL,
  entitiesDocument,
  UPSERT_ENTITIES_COUNTED_SQL,
  UPSERT_ENTITIES_SQL,
  type EntityRow,
} from '../../src/core/upsert-entities';
import { COPY_NEW_ENTITIES_SQL, copyIn, entitiesCopy } from '../../src/core/copy-entities';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { createPgProducts } from './products';

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    batch: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '3' },
    only: { type: 'string' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});
const [rows, batch, rounds] = [opts.rows, opts.batch, opts.rounds].map(Number) as [number, number, number];

const RECORDSET = 'jsonb_to_recordset($4::jsonb) as t(n text, s text, k text, d jsonb)';
/** How a batch of new rows was written before `COPY_NEW_ENTITIES_SQL`: a plain insert from the document, no content hash. */
const PLAIN_INSERT = `insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash, connector_id)
  select $1, $2, $3, t.n, t.s, t.k, t.d, null, $5::uuid from ${RECORDSET}`;
/**
 * Each variant takes the core's five parameters (tenant, vertical, entity type, document, connector); the COPY takes the
 * batch's COPY input (`entitiesCopy`, made in the timed loop as the core makes it in the batch's transaction).
 */
const VARIANTS: Record<string, string> = {
  'receive the document': 'select length($4::text), $1::uuid, $2, $3, $5::uuid',
  'parse it as jsonb': 'select jsonb_typeof($4::jsonb), $1::uuid, $2, $3, $5::uuid',
  'parse + jsonb_to_recordset': `select count(t.d), $1::uuid, $2, $3, $5::uuid from ${RECORDSET}`,
  '+ the content hash': `select count(encode(sha256(convert_to(t.n || E'\\n' || t.d::text, 'UTF8')), 'hex')), $1::uuid, $2, $3, $5::uuid from ${RECORDSET}`,
  'the upsert, default work_mem': UPSERT_ENTITIES_SQL,
  'the plain insert, default work_mem': PLAIN_INSERT,
  'the upsert (UPSERT_ENTITIES_SQL)': UPSERT_ENTITIES_SQL,
  'the plain insert of new rows (before)': PLAIN_INSERT,
  'the COPY of new rows (COPY_NEW_ENTITIES_SQL)': COPY_NEW_ENTITIES_SQL,
  'the upsert, counts only (UPSERT_ENTITIES_COUNTED_SQL)': UPSERT_ENTITIES_COUNTED_SQL,
};
/** `--only a,b`: the variants whose labels contain one of these texts. */
const only = opts.only?.split(',').filter(Boolean);
if (only) for (const label of Object.keys(VARIANTS)) if (!only.some((o) => label.includes(o))) delete VARIANTS[label];
/** The core's batch transaction sets its work_mem (`BATCH_WORK_MEM_SQL`); these variants keep the server's default. */
const DEFAULT_WORK_MEM = (label: string) => label.endsWith('default work_mem');

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: opts['pg-url'] });
  await admin.connect();
  const name = `qbench_stmt_${process.pid}`;
  await admin.query(`create database ${name}`);
  const url = new URL(opts['pg-url']);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), 2);
  try {
    await migrate(pool);
    await createPgProducts(url.toString(), 'products', rows);
    const tenantId = (await pool.query<{ id: string }>("insert into tenants (name) values ('bench') returning id")).rows[0]!.id;
    const { rows: products } = await pool.query<{ id: string; name: string; d: string }>(
      "select id::text, name, (to_jsonb(p) - 'name')::text as d from products p order by updated_at, id",
    );
    const docs: string[] = [];
    const parts: EntityRow[][] = [];
    for (let i = 0; i < products.length; i += batch) {
      const part: EntityRow[] = products
        .slice(i, i + batch)
        .map((p) => ({ name: p.name, sourceId: p.id, dedupKey: `s:${p.id}`, data: p.d }));
      parts.push(part);
      docs.push(entitiesDocument(part));
    }
    const c = await pool.connect();
    try {
      const pid = (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
      const cpuMs = () => {
        const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
        return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in clock ticks of 10 ms
      };
      const results = new Map<string, number[]>();
      const clientResults = new Map<string, number[]>();
      for (let round = 0; round < rounds; round++) {
        for (const [label, sql] of Object.entries(VARIANTS)) {
          await c.query('truncate entities');
          await c.query('checkpoint');
          await c.query(DEFAULT_WORK_MEM(label) ? 'reset work_mem' : BATCH_WORK_MEM_SQL.replace(' local', ''));
          const before = cpuMs();
          const client = process.cpuUsage();
          for (let i = 0; i < docs.length; i++) {
            if (sql === COPY_NEW_ENTITIES_SQL) await copyIn(c, sql, entitiesCopy(parts[i]!, tenantId, 'bench', 'product', null).chunks());
            else await c.query(sql, [tenantId, 'bench', 'product', docs[i], null]);
          }
          const ms = cpuMs() - before;
          const used = process.cpuUsage(client);
          const clientMs = (used.user + used.system) / 1000;
          results.set(label, [...(results.get(label) ?? []), ms]);
          clientResults.set(label, [...(clientResults.get(label) ?? []), clientMs]);
          console.log(`round ${round + 1} ${label}: ${ms} ms, client ${clientMs.toFixed(0)} ms`);
        }
      }
      console.log(
        `\n| statement (${rows.toLocaleString('en')} rows, batches of ${batch}) | backend CPU, each round | per row (median) | client CPU per row (median) |\n|---|--:|--:|--:|`,
      );
      const median = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;
      for (const [label, ms] of results) {
        console.log(
          `| ${label} | ${ms.map((m) => (m / 1000).toFixed(2)).join(', ')} s | ${((median(ms) * 1000) / rows).toFixed(1)} µs | ` +
            `${((median(clientResults.get(label)!) * 1000) / rows).toFixed(2)} µs |`,
        );
      }
    } finally {
      c.release();
    }
  } finally {
    await pool.end();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
