import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { privatePostgres, type PrivatePostgres } from '../helpers/private-postgres';
import { spawnRole, waitFor, type ChildRole } from '../helpers/worker-process';

/**
 * The worker's /readyz tells the truth about its platform database, on a PostgreSQL server of the test's own that
 * is stopped and started for real, and the port answers nothing but the two probes, leaking no credential.
 */

const PASSWORD = 'qanatix';
let pgServer: PrivatePostgres;
let redis: PrivateRedis;
let worker: ChildRole;
let base: string;

beforeAll(async () => {
  [pgServer, redis] = await Promise.all([privatePostgres(), privateRedis()]);
  const databaseUrl = await pgServer.createDatabase('worker_health');
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  worker = spawnRole('worker', { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, WORKER_METRICS_PORT: String(port), HOST: '127.0.0.1' });
  await waitFor('the worker health endpoint', async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, 60_000, 200);
});
afterAll(async () => {
  await worker?.kill('SIGTERM');
  await redis?.stop();
  await pgServer?.destroy();
});

const get = async (path: string, init?: RequestInit) => {
  const res = await fetch(base + path, init);
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as { checks: Record<string, string> } & Record<string, unknown> };
};

describe('worker /readyz with its PostgreSQL away', () => {
  test('stopped: 503 naming postgres while /healthz stays 200 and the process lives; ready again once it is back', async () => {
    expect((await get('/readyz')).status).toBe(200);
    await pgServer.stop();
    const down = await waitFor('a 503', async () => {
      const r = await get('/readyz');
      return r.status === 503 ? r : null;
    });
    expect(down.body).toMatchObject({ status: 'unavailable', detail: 'postgres unreachable', checks: { redis: 'ok' } });
    expect(down.body.checks.postgres).toMatch(/^down: /);
    expect(down.text).not.toContain(PASSWORD + '@');
    expect(down.text).not.toMatch(/postgres(ql)?:\/\//);
    // Every probe of a stopped server answers within the probe's bound, and the worker does not die of it.
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      expect((await get('/readyz')).status).toBe(503);
      expect(Date.now() - started).toBeLessThan(3000);
    }
    expect((await get('/healthz')).status).toBe(200);
    expect(worker.child.exitCode).toBeNull();
    await pgServer.start();
    await waitFor('ready again', async () => (await get('/readyz')).status === 200, 30_000, 200);
  });

  test('both away: 503 naming both; each comes back on its own', async () => {
    await Promise.all([pgServer.stop(), redis.kill()]);
    const down = await waitFor('both down', async () => {
      const r = await get('/readyz');
      return r.status === 503 && r.body.detail === 'postgres and redis unreachable' ? r : null;
    });
    expect(down.body.checks).toEqual({ postgres: expect.stringMatching(/^down: /), redis: expect.stringMatching(/^down: /) });
    await redis.start();
    const pgOnly = await waitFor('redis back', async () => {
      const r = await get('/readyz');
      return r.body.detail === 'postgres unreachable' ? r : null;
    });
    expect(pgOnly.body.checks.redis).toBe('ok');
    await pgServer.start();
    await waitFor('ready again', async () => (await get('/readyz')).status === 200, 30_000, 200);
  });
});

describe('the worker health port answers nothing else', () => {
  test('other paths and methods are 404 naming only what was asked; no header names the software or a credential', async () => {
    for (const [method, path] of [
      ['GET', '/'],
      ['POST', '/metrics'],
      ['GET', '/admin/queues'],
      ['POST', '/readyz'],
      ['DELETE', '/healthz'],
      ['GET', '/readyz/../healthz/x'],
      ['GET', '/%2e%2e/etc/passwd'],
    ] as const) {
      const res = await fetch(base + path, { method });
      const text = await res.text();
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(JSON.parse(text).detail).toMatch(/^No such endpoint: /);
      expect(res.headers.get('x-powered-by')).toBeNull();
      expect(text).not.toContain(PASSWORD);
    }
    // /metrics is there, for the API's credentials only (see worker-health.test.ts).
    expect((await fetch(base + '/metrics')).status).toBe(401);
    const ready = await get('/readyz');
    expect(Object.keys(ready.body.checks).sort()).toEqual(['postgres', 'redis']);
    expect(ready.text).not.toMatch(/redis:\/\/|postgres(ql)?:\/\/|sk_live_|op_live_/);
  });
});
