import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfig } from '../../../src/config';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

/**
 * A `qanatix worker` process with WORKER_METRICS_PORT answers /healthz and /readyz there, as a compose health check asks,
 * and /metrics to a scrape that brings METRICS_TOKEN.
 */

const SCRAPE_TOKEN = 'scrape-token-0123456789abcdef';
let db: TestDatabase;
let redis: PrivateRedis;
let worker: ChildRole;
let base: string;

beforeAll(async () => {
  [db, redis] = await Promise.all([freshDatabase(), privateRedis()]);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  worker = spawnRole('worker', {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    WORKER_METRICS_PORT: String(port),
    HOST: '127.0.0.1',
    METRICS_TOKEN: SCRAPE_TOKEN,
  });
  await waitFor('the worker health endpoint', async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, 60_000, 200);
});
afterAll(async () => {
  await worker?.kill('SIGTERM');
  await redis?.stop();
  await db?.drop();
});

/**
 * One connection per request, as a health probe (curl, a kubelet) makes it: a kept-alive socket that the server closes
 * as its idle timeout ends, on a loaded machine, fails the next request with "other side closed" without saying
 * anything about the worker. A failure names whether the worker is still running, and what it printed last.
 */
const get = (path: string) =>
  new Promise<{ status: number; body: { checks: Record<string, string> } & Record<string, unknown> }>((resolve, reject) => {
    const req = request(base + path, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', (err) => {
      const state = worker.child.exitCode === null ? 'still running' : `exited with ${worker.child.exitCode}`;
      reject(new Error(`GET ${path}: ${err.message}; the worker is ${state}; its last output:\n${worker.output().slice(-2000)}`));
    });
    req.end();
  });

describe('the worker health endpoint', () => {
  // The reconciler works in sessions of its own, so a pull never waits for its connection and pg_stat_activity tells
  // their load apart (it runs at start-up and every minute; its connections close after 10 s unused).
  test("the reconciler's sessions are named apart from the pulls'", async () => {
    const apps = async () =>
      (
        await db.pool.query<{ app: string }>(
          'select distinct application_name as app from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
        )
      ).rows.map((r) => r.app);
    expect(await waitFor('a reconciler session', async () => (await apps()).includes('qanatix-reconciler') || null, 70_000, 100)).toBe(
      true,
    );
  }, 80_000);

  test('/healthz: up; /readyz: PostgreSQL and Redis answer; anything else: 404', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await get('/readyz')).toEqual({ status: 200, body: { status: 'ready', checks: { postgres: 'ok', redis: 'ok' } } });
    expect(await get('/nothing?x=1')).toEqual({ status: 404, body: { detail: 'No such endpoint: GET /nothing' } });
    expect(worker.output()).toMatch(/worker health endpoint listening/);
  });

  test("/metrics: the worker's own metrics (pulls, missed fires, queue jobs) for the scrape token, 401 without it", async () => {
    for (const authorization of [undefined, 'Bearer wrong-token-0123456789', `Basic ${SCRAPE_TOKEN}`, SCRAPE_TOKEN]) {
      const res = await fetch(`${base}/metrics`, { headers: authorization ? { authorization } : {} });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      expect(await res.json()).toEqual({ detail: expect.stringMatching(/METRICS_TOKEN|Invalid metrics token/) });
    }
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${SCRAPE_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    for (const name of ['qanatix_schedule_missed_total', 'qanatix_pulls_total', 'qanatix_queue_jobs', 'qanatix_process_cpu_seconds_total'])
      expect(text).toContain(`# TYPE ${name}`);
    expect(text).toMatch(/qanatix_queue_jobs\{queue="pulls",state="waiting"\} 0/);
  });

  test('/readyz is 503 naming Redis while it is away (within the probe timeout), and 200 again once it is back', async () => {
    await redis.kill();
    const down = await waitFor('a 503', async () => {
      const r = await get('/readyz');
      return r.status === 503 ? r : null;
    });
    expect(down.body).toMatchObject({ status: 'unavailable', detail: 'redis unreachable', checks: { postgres: 'ok' } });
    expect(down.body.checks.redis).toMatch(/^down: /);
    expect((await get('/healthz')).status).toBe(200);
    await redis.start();
    await waitFor('ready again', async () => (await get('/readyz')).status === 200, 30_000, 200);
    expect(worker.child.exitCode, worker.output()).toBeNull(); // the same process all along: Redis going away is no crash
  });

  test('SIGTERM after Redis went away and came back: the worker exits within its bounded shutdown', async () => {
    // A worker of this test's own, so the shared one above is not stopped.
    const port = await freePort();
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      WORKER_METRICS_PORT: String(port),
      HOST: '127.0.0.1',
      SHUTDOWN_TIMEOUT_MS: '3000',
    };
    const other = spawnRole('worker', env);
    const ready = async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status;
    await waitFor('the second worker', async () => (await ready()) === 200, 60_000, 200);
    await redis.kill();
    await waitFor('the second worker to see Redis away', async () => (await ready()) === 503);
    await redis.start();
    await waitFor('the second worker to see Redis back', async () => (await ready()) === 200, 30_000, 200);
    const started = Date.now();
    const code = await other.kill('SIGTERM');
    // Every step is bounded (3 s for running pulls, 5 s for each connection), so even a close that never returns —
    // BullMQ's, on a Redis Cluster that was created afresh — ends the process, with code 1 and the step named.
    expect(Date.now() - started).toBeLessThan(20_000);
    if (code !== 0) expect(other.output()).toMatch(/closing the pull worker did not finish within [45]000 ms; going on without it/);
    expect(code, other.output()).toBeLessThanOrEqual(1);
  });

  test('WORKER_METRICS_PORT is a port number or an error naming it', () => {
    expect(loadConfig({ API_KEY_SALT: 'x' }).workerMetricsPort).toBeNull();
    expect(loadConfig({ API_KEY_SALT: 'x', WORKER_METRICS_PORT: '9464' }).workerMetricsPort).toBe(9464);
    for (const bad of ['0', '65536', 'http', '-1', '94.64']) {
      expect(() => loadConfig({ API_KEY_SALT: 'x', WORKER_METRICS_PORT: bad })).toThrow(
        /WORKER_METRICS_PORT must be a TCP port number, from 1 to 65535/,
      );
    }
    expect(loadConfig({ API_KEY_SALT: 'x' }).shutdownTimeoutMs).toBe(25_000);
    expect(() => loadConfig({ API_KEY_SALT: 'x', SHUTDOWN_TIMEOUT_MS: 'soon' })).toThrow(/SHUTDOWN_TIMEOUT_MS/);
  });
});
