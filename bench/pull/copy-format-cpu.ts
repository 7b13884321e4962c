/**
 * One PostgreSQL backend's CPU for COPY of new entities, by the input's format and the collation of the entities' key
 * text columns: 200,000 rows of the products shape in COPYs of 5,000 (as a first load's batches), rounds alternating.
 *
 *   npx tsx bench/pull/copy-format-cpu.ts [--rows 200000] [--rounds 7] [--pg-url postgres://…/postgres]
 *
 * Forms: `text` (COPY's text format: every uuid parsed from its text, every field split on tabs and unescaped) and
 * `binary` (uuids as their 16 bytes, text as its bytes, jsonb as a version byte and its text), each into a table of the
 * entities shape with its columns in the database's collation (`default`) and with vertical, entity_type and dedup_key
 * in "C" (`c`). CPU from /proc/<backend pid>/stat (the server must run on this machine).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { copyIn, entitiesCopy } from '../../src/core/copy-entities';
import { createScratchDatabase } from '../lib/pg-scratch';

const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '7' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});
const N = Number(opts.rows);
const ROUNDS = Number(opts.rounds);
const TENANT = '6f1c2a4e-1b2c-4d3e-8f90-123456789abc';
const CONNECTOR = '7a1c2a4e-1b2c-4d3e-8f90-123456789abc';
const BATCH = 5000;
const COLUMNS = '(id, tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, connector_id)';

function document(g: number): string {
  return JSON.stringify({
    id: g,
    sku: 'SKU-' + String(g).padStart(8, '0'),
    category: 'tools',
    price: 12.99,
    cost: 3.1234,
    stock: g % 500,
    weight_kg: 1.234,
    active: true,
    attributes: { color: 'red', size: 'M', tags: ['t1', 't2'], rating: 3.5 },
    description: `Description of product ${g}: ${'0123456789abcdef'.repeat(4)}`,
    created_at: '2025-01-01T10:00:00.000000Z',
    updated_at: '2025-01-01T00:00:00.333000Z',
  });
}

const rows = Array.from({ length: N }, (_, i) => ({
  name: `Product ${i} abcd1234`,
  sourceId: String(i + 1),
  dedupKey: `s:${i + 1}`,
  data: document(i + 1),
}));

/** COPY text of a field (this shape's names and documents hold no tab, newline or carriage return). */
const textField = (v: string) => v.replaceAll('\\', '\\\\');

/**
 * Each batch's COPY input in both forms, from one `entitiesCopy` (as a first load makes it: rows in dedup-key order, ids
 * time-ordered), a few milliseconds apart, so that both forms append the same ids to the id indexes as batches do.
 */
async function inputs(): Promise<{ text: Buffer[][]; binary: Buffer[][] }> {
  const text: Buffer[][] = [];
  const binary: Buffer[][] = [];
  for (let from = 0; from < N; from += BATCH) {
    const copy = entitiesCopy(rows.slice(from, from + BATCH), TENANT, 'peers', 'products', CONNECTOR);
    binary.push([...copy.chunks()]);
    const lines = copy.rows.map(
      (r, i) =>
        `${copy.idOf(i)}\t${TENANT}\tpeers\tproducts\t${textField(r.name)}\t${r.sourceId}\t${r.dedupKey}\t${textField(r.data)}\t${CONNECTOR}\n`,
    );
    text.push([Buffer.from(lines.join(''))]);
    await new Promise((r) => setTimeout(r, 2));
  }
  return { text, binary };
}

/** CPU milliseconds of process `pid` so far. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

async function main(): Promise<void> {
  const scratch = await createScratchDatabase(opts['pg-url'], 'qbench_copyfmt');
  const db = new pg.Client({ connectionString: scratch.url });
  await db.connect();
  try {
    const pid = (await db.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
    for (const [table, collation] of [
      ['e_default', ''],
      ['e_c', ' collate "C"'],
    ]) {
      await db.query(`create table ${table} (id uuid primary key, tenant_id uuid not null, vertical text${collation} not null,
        entity_type text${collation} not null, name text not null, source_id text, dedup_key text${collation} not null,
        vertical_data jsonb not null, content_hash text, created_at timestamptz not null default now(),
        updated_at timestamptz not null default now(), connector_id uuid, deleted_at timestamptz) with (fillfactor = 90)`);
      await db.query(`create unique index on ${table} (tenant_id, vertical, entity_type, dedup_key)`);
      await db.query(`create index on ${table} (tenant_id, vertical, entity_type, id)`);
      await db.query(`create index on ${table} (tenant_id, vertical, entity_type, dedup_key) where deleted_at is not null`);
    }
    const input = await inputs();
    const forms = [
      ['text', 'e_default'],
      ['binary', 'e_default'],
      ['text', 'e_c'],
      ['binary', 'e_c'],
    ] as const;
    const results = new Map<string, number[]>();
    for (let round = 0; round < ROUNDS; round++)
      for (const [format, table] of forms) {
        await db.query(`truncate ${table}`);
        await db.query('checkpoint');
        const before = cpuMs(pid);
        for (const batch of input[format]) {
          await db.query('begin');
          await copyIn(db, `copy ${table} ${COLUMNS} from stdin${format === 'binary' ? ' (format binary)' : ''}`, batch);
          await db.query('commit');
        }
        const key = `${format}, ${table === 'e_c' ? 'C' : 'default'} collation`;
        results.set(key, [...(results.get(key) ?? []), cpuMs(pid) - before]);
      }
    console.log(`backend CPU for ${N.toLocaleString('en')} rows, each round; median per row`);
    for (const [key, ms] of results) {
      const median = [...ms].sort((a, b) => a - b)[ms.length >> 1]!;
      console.log(`${key.padEnd(28)} ${ms.map((m) => (m / 1000).toFixed(2)).join(', ')} s   ${((median * 1000) / N).toFixed(2)} µs`);
    }
  } finally {
    await db.end();
    await scratch.drop();
  }
}

void main();
