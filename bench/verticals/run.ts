/**
 * GET /verticals on a large entities table: one tenant's verticals counted next to a much larger tenant, with the
 * query plan. `npx tsx bench/verticals/run.ts [--big 2000000] [--mine 500000]` against QANATIX_BENCH_PG_URL.
 */
import { parseArgs } from 'node:util';
import { VERTICALS_SQL } from '../../src/api/routes/verticals';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { createScratchDatabase } from '../lib/pg-scratch';

const { values } = parseArgs({
  options: {
    big: { type: 'string', default: '2000000' },
    mine: { type: 'string', default: '500000' },
    'pg-url': { type: 'string', default: process.env.QANATIX_BENCH_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres' },
  },
});
const scratch = await createScratchDatabase(values['pg-url'], 'qbench_verticals');
const pool = createPool(scratch.url, 2);
try {
  await migrate(pool);
  const tenant = async (name: string) =>
    (await pool.query<{ id: string }>('insert into tenants (name) values ($1) returning id', [name])).rows[0]!.id;
  const fill = async (id: string, n: number, verticals: number, types: number) => {
    const started = Date.now();
    await pool.query(
      `insert into entities (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash)
       select $1, 'v' || (g % $3), 't' || (g % $4), 'n', g::text, 's:' || g, '{}'::jsonb, md5(g::text) from generate_series(1, $2) g`,
      [id, n, verticals, types],
    );
    console.log(`${n} entities in ${Date.now() - started} ms`);
  };
  const [big, mine, small] = [await tenant('big'), await tenant('mine'), await tenant('small')];
  await fill(big, Number(values.big), 5, 7);
  await fill(mine, Number(values.mine), 4, 3);
  await fill(small, 1000, 2, 2);
  await pool.query('vacuum analyze entities');
  for (const [name, id] of [
    ['small (1,000)', small],
    [`mine (${values.mine})`, mine],
    [`big (${values.big})`, big],
  ] as const) {
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = process.hrtime.bigint();
      await pool.query(VERTICALS_SQL, [id]);
      ms.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    ms.sort((a, b) => a - b);
    console.log(`\ntenant ${name}: median ${ms[2]!.toFixed(1)} ms of 5`);
    const plan = await pool.query(`explain (analyze, buffers, costs off) ${VERTICALS_SQL.replaceAll('$1', `'${id}'`)}`);
    console.log(plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'));
  }
} finally {
  await pool.end();
  await scratch.drop();
}
