/**
 * bench/pull/write-ab (issue 18): two checkouts of the ingestion core, alternating round by round in one process, each
 * preparing and writing the same batches of new products-shaped records through its own `Ingestion` (the first batch
 * upserted, every later one written as a first load writes it). Reports this process's CPU per row (prepare and send)
 * and that of the one PostgreSQL backend that ran the writes (from /proc, so the machine's other load barely moves
 * them), and the wall time. The database must run on this machine.
 *
 *   npx tsx bench/pull/write-ab.ts --a /path/to/old/checkout --b . [--rounds 6] [--batches 40] [--batch 5000]
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureTenant } from '../../src/auth/api-keys';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';

const { values: opts } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: '.' },
    rounds: { type: 'string', default: '6' },
    batches: { type: 'string', default: '40' },
    batch: { type: 'string', default: '5000' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});
if (!opts.a) throw new Error('--a names the checkout to compare with (--b, default this one)');
const [rounds, batches, batchSize] = [opts.rounds, opts.batches, opts.batch].map(Number) as [number, number, number];

interface Side {
  label: string;
  Ingestion: typeof import('../../src/core/ingestion').Ingestion;
  createPool: typeof createPool;
}

async function load(label: string, root: string): Promise<Side> {
  const dir = resolve(root);
  return {
    label,
    Ingestion: (await import(`${dir}/src/core/ingestion.ts`)).Ingestion,
    createPool: (await import(`${dir}/src/db/pool.ts`)).createPool,
  };
}

/** The products rows' shape as a pull maps them (bench/pull/products.ts), built in memory. */
function products(batch: number): unknown[] {
  return Array.from({ length: batchSize }, (_, i) => {
    const g = batch * batchSize + i + 1;
    return {
      name: `Product ${g} ${(g * 2654435761).toString(16).slice(-8)}`,
      source_id: String(g),
      vertical_data: {
        id: g,
        sku: 'SKU-' + String(g).padStart(8, '0'),
        category: 'tools',
        price: ((g * 7919) % 100000) / 100 + 0.99 + '',
        cost: '3.1234',
        stock: (g * 31) % 500,
        weight_kg: ((g * 13) % 10000) / 1000,
        active: g % 10 !== 0,
        attributes: { color: 'red', size: 'M', tags: [`t${g % 17}`, `t${g % 29}`], rating: ((g * 37) % 50) / 10 },
        description: `Description of product ${g}: c4ca4238a0b923820dcc509a6f75849bc81e728d9d4c2f636f067f89cc14862c`,
        created_at: '2025-01-01T00:00:01.000000Z',
        updated_at: '2025-01-01T00:00:00.333000Z',
      },
    };
  });
}

const cpuMsOf = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10; // utime + stime, in clock ticks of 10 ms
};

async function main(): Promise<void> {
  const sides = [await load('a', opts.a!), await load('b', opts.b)];
  const admin = new pg.Client({ connectionString: opts['pg-url'] });
  await admin.connect();
  const name = `qbench_wab_${process.pid}`;
  await admin.query(`create database ${name}`);
  const url = new URL(opts['pg-url']);
  url.pathname = `/${name}`;
  try {
    const setup = createPool(url.toString(), 1);
    await migrate(setup);
    const tenantId = await ensureTenant(setup, 'bench');
    await setup.end();
    const rows = batches * batchSize;
    const results = new Map<string, Array<{ client: number; backend: number; wall: number }>>();
    for (let round = 0; round < rounds; round++) {
      for (const side of round % 2 ? [...sides].reverse() : sides) {
        const pool = side.createPool(url.toString(), 1);
        const pid = (await pool.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
        await pool.query('truncate entities');
        await pool.query('checkpoint');
        const target = { tenantId, vertical: 'bench', entityType: 'product', connectorId: '00000000-0000-4000-8000-000000000001' };
        const ingestion = await side.Ingestion.open(pool, target, { type: 'connector' });
        const backend0 = cpuMsOf(pid);
        const client0 = process.cpuUsage();
        const t0 = performance.now();
        for (let b = 0; b < batches; b++) await ingestion.write(await ingestion.prepare(products(b)));
        const wall = (performance.now() - t0) / 1000;
        const used = process.cpuUsage(client0);
        const r = { client: (used.user + used.system) / rows, backend: ((cpuMsOf(pid) - backend0) * 1000) / rows, wall };
        results.set(side.label, [...(results.get(side.label) ?? []), r]);
        console.log(
          `round ${round + 1} ${side.label}: client ${r.client.toFixed(2)} µs a row, backend ${r.backend.toFixed(2)} µs a row, wall ${wall.toFixed(2)} s`,
        );
        await pool.end();
      }
    }
    const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
    console.log(`\n| side | client µs a row (median) | backend µs a row (median) | wall s (median) |\n|---|--:|--:|--:|`);
    for (const [label, rs] of results) {
      const root = label === 'a' ? opts.a : opts.b;
      console.log(
        `| ${label} (${root}) | ${median(rs.map((r) => r.client)).toFixed(2)} | ${median(rs.map((r) => r.backend)).toFixed(2)} | ` +
          `${median(rs.map((r) => r.wall)).toFixed(2)} |`,
      );
    }
  } finally {
    await admin.query(`drop database if exists ${name} with (force)`);
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
