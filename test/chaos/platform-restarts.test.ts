/**
 * The platform's own servers go away and come back while `serve`, or `api` and `worker` apart, keep running:
 * no process dies, /readyz says 503 during the outage and 200 after it by itself, and a pull caught in the
 * middle ends `succeeded` with exactly the source rows.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { privatePostgres, type PrivatePostgres } from '../helpers/private-postgres';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { waitFor } from '../helpers/worker-process';
import {
  expectExactlyRows,
  expectLoggedOnceSoon,
  platformDatabase,
  startInstallation,
  type Installation,
  type Topology,
} from './installation';

const ROWS = 100_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let server: PrivatePostgres;
let redis: PrivateRedis;
let source: TestDatabase;

beforeAll(async () => {
  [server, redis, source] = await Promise.all([privatePostgres(), privateRedis(), freshDatabase('qsrc', false)]);
  await source.pool.query(
    'create table items (id bigint primary key, name text not null, qty int not null, updated_at timestamptz not null)',
  );
  await source.pool.query(
    `insert into items select g, 'item ' || g, (g * 7) % 1000, '2026-01-01'::timestamptz + (g / 100) * interval '1 second' from generate_series(1, ${ROWS}) g`,
  );
  await source.pool.query('create index on items (updated_at, id)');
});
afterAll(async () => {
  await redis?.stop();
  await server?.destroy();
  await source?.drop();
});

async function outage(inst: Installation, what: 'postgres' | 'redis'): Promise<void> {
  const down = await waitFor(
    '/readyz to report the outage',
    async () => {
      const r = await inst.readyz();
      return r.status === 503 ? r : null;
    },
    15_000,
    100,
  );
  expect(down.body.detail).toContain(what);
}

async function recovery(inst: Installation): Promise<void> {
  await waitFor('/readyz to recover', async () => (await inst.readyz()).status === 200, 30_000, 200);
}

describe.each<Topology>(['serve', 'apart'])('%s', (topology) => {
  let inst: Installation;
  let n = 0;
  const connector = async () =>
    inst.createConnector({
      name: `items-${++n}`,
      vertical: `${topology}-${n}`,
      connector_type: 'postgresql',
      connection_config: { dsn: source.url },
      table: 'items',
      cursor: { column: 'updated_at', lag_seconds: 0 },
      batch_size: 1000,
    });
  const midPull = async (id: string) => {
    const runId = await inst.pull(id);
    await waitFor('some batches committed', async () => (await inst.run(id, runId)).rows_read >= 15_000, 60_000, 25);
    return runId;
  };

  beforeAll(async () => {
    inst = await startInstallation({
      databaseUrl: await platformDatabase(server.url, `platform_${topology}`),
      redisUrl: redis.url,
      topology,
    });
  });
  afterEach(async () => {
    await Promise.all([server.start(), redis.start()]); // a failed test leaves the servers up for the next
  });
  afterAll(async () => {
    await inst?.stop();
  });

  test('the platform PostgreSQL stopped mid-pull and started again: the run resumes and ends with exactly the source rows', async () => {
    const id = await connector();
    const runId = await midPull(id);
    const mark = inst.mark();
    await server.stop();
    await outage(inst, 'postgres');
    await sleep(2_000); // the pull meets the outage
    inst.expectAlive();
    await server.start();
    await recovery(inst);
    const run = await inst.waitRun(id, runId, 'succeeded');
    await expectLoggedOnceSoon(() => mark.logged(), /^postgres$/);
    expect(run.attempts).toBeGreaterThanOrEqual(2);
    expect(run.rows_read).toBe(ROWS); // resumed after the last committed batch: nothing read twice
    await expectExactlyRows(inst.pool, `${topology}-${n}`, ROWS);
    inst.expectAlive();
  });

  test('the platform PostgreSQL restarted while idle: /readyz recovers by itself and the next pull runs', async () => {
    await server.stop();
    await outage(inst, 'postgres');
    await server.start();
    await recovery(inst);
    const id = await connector();
    await inst.waitRun(id, await inst.pull(id), 'succeeded');
    await expectExactlyRows(inst.pool, `${topology}-${n}`, ROWS);
    inst.expectAlive();
  });

  test('Redis killed mid-pull (every key lost) and started again: the pull finishes with exactly the source rows', async () => {
    const id = await connector();
    const runId = await midPull(id);
    const mark = inst.mark();
    await redis.kill();
    await outage(inst, 'redis');
    await sleep(2_000);
    inst.expectAlive();
    await redis.start();
    await recovery(inst);
    const run = await inst.waitRun(id, runId, 'succeeded');
    await expectLoggedOnceSoon(() => mark.logged(), /^redis/);
    expect(run).toMatchObject({ attempts: 1, rows_read: ROWS }); // the pull went on through the outage
    await expectExactlyRows(inst.pool, `${topology}-${n}`, ROWS);
    inst.expectAlive();
  });

  test('Redis down: requests do not wait for it: a manual pull is refused at once (503), no run left queued; the next one runs', async () => {
    const id = await connector();
    await redis.kill();
    await outage(inst, 'redis');
    const started = Date.now();
    const refused = await inst.api('POST', `/connectors/${id}/pull`, { mode: 'full' });
    expect(refused.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(refused.body.detail).toMatch(/job queue \(Redis\)/);
    // No run is left queued without a job (refused before one was made, or closed when the queue refused it).
    const runs = (await inst.api('GET', `/connectors/${id}/runs`)).body as Array<{ status: string; error: string }>;
    expect(runs.filter((r) => r.status !== 'failed')).toEqual([]);
    for (const r of runs) expect(r.error).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|redis:\/\//);
    // Nothing else that touches Redis in a request waits for it either: a schedule is stored (the reconciler arms it
    // later), the queue view says it is away.
    const at = Date.now();
    expect((await inst.api('PATCH', `/connectors/${id}`, { schedule: '*/5 * * * *' })).status).toBe(200);
    expect((await inst.api('GET', '/queues')).status).toBe(503);
    expect(Date.now() - at).toBeLessThan(10_000);
    await redis.start();
    await recovery(inst);
    await inst.waitRun(id, await inst.pull(id), 'succeeded');
    inst.expectAlive();
  });

  test('Redis restarted while idle: /readyz recovers by itself and the next pull runs', async () => {
    await redis.kill();
    await outage(inst, 'redis');
    await redis.start();
    await recovery(inst);
    const id = await connector();
    await inst.waitRun(id, await inst.pull(id), 'succeeded');
    await expectExactlyRows(inst.pool, `${topology}-${n}`, ROWS);
    inst.expectAlive();
  });
});
