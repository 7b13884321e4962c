import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { runCli, spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

/** `qanatix connectors doctor NAME` against a running server and a real PostgreSQL source: its output and exit codes. */

let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let server: ChildRole;
let env: Record<string, string>;

const cli = (args: string[]) => runCli(args, env);

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query('create table products (id int primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(
    "insert into products select g, 'P' || g, now() - interval '1 hour' + g * interval '1 ms' from generate_series(1, 100) g",
  );
  await source.pool.query("update products set updated_at = now() + interval '1 hour' where id = 100");
  await source.pool.query('create table keyless (id int, name text not null, updated_at timestamptz not null)');
  const port = await freePort();
  env = { QANATIX_DEV: '1', DATABASE_URL: platform.url, REDIS_URL: redis.url, QANATIX_URL: `http://127.0.0.1:${port}` };
  server = spawnRole('serve', { ...env, PORT: String(port), LOG_LEVEL: 'warn' });
  await waitFor('the API', async () => (await fetch(`${env.QANATIX_URL}/healthz`).catch(() => null))?.ok, 30_000, 200);
  const created = await cli(['keys', 'create', '--tenant', 'ops', '--scopes', 'connectors,admin']);
  expect(created.code).toBe(0);
  env.QANATIX_API_KEY = created.out.trim();
  for (const table of ['products', 'keyless']) {
    const res = await fetch(`${env.QANATIX_URL}/api/v1/connectors`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.QANATIX_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: table,
        connector_type: 'postgresql',
        connection_config: { dsn: source.url },
        vertical: 'shop',
        entity_type: table,
        table,
        cursor: { column: 'updated_at' },
      }),
    });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await server?.kill('SIGTERM');
  await redis?.stop();
  await Promise.all([platform?.drop(), source?.drop()]);
});

describe('qanatix connectors doctor', () => {
  test('--json prints the report; warnings alone exit 0', async () => {
    const r = await cli(['connectors', 'doctor', 'products', '--json']);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.verdict).toBe('warn');
    const verdicts = Object.fromEntries(report.checks.map((c: { name: string; verdict: string }) => [c.name, c.verdict]));
    expect(verdicts).toEqual({
      cursor_index: 'warn',
      equal_cursor_run: 'ok',
      null_cursors: 'ok',
      future_cursors: 'warn',
      held_back: 'warn',
      privileges: 'warn',
      resync_estimate: 'ok',
    });
  });

  test('the text report gives each verdict with its fix; a failed check exits 6', async () => {
    const r = await cli(['connectors', 'doctor', 'products']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('WARN  cursor_index: no index of table "products" serves the (updated_at, id) order');
    expect(r.out).toContain('      fix: CREATE INDEX CONCURRENTLY ON "products" ("updated_at", "id");');
    expect(r.out).toMatch(/\nwarn: 3 ok, 4 to look at, 0 failed, 0 skipped\n$/);
    const failed = await cli(['connectors', 'doctor', 'keyless']);
    expect(failed.code).toBe(6);
    expect(failed.out).toContain('FAIL  cursor_index: table "keyless" has no key');
    expect(failed.out).toMatch(/\nfail: /);
  });
});
