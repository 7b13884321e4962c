/**
 * A qanatix installation run as real processes for fault tests: `serve` alone, or `api` and `worker` apart,
 * on a platform database and a Redis the test chooses (private ones when the test restarts them).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import { createApiKey, ensureTenant } from '../../src/auth/api-keys';
import { loadConfig } from '../../src/config';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { freePort } from '../helpers/private-redis';
import { spawnRole, waitFor, type ChildRole } from '../helpers/worker-process';

/** `serve` alone; `api` and `worker` apart; or the `api` alone, the test starting (and killing) workers itself. */
export type Topology = 'serve' | 'apart' | 'api';

export interface RunView {
  id: string;
  status: string;
  attempts: number;
  rows_read: number;
  error: string | null;
  error_kind: string | null;
}

export interface Installation {
  base: string;
  /** The platform database, seen by the test (its connections survive a restart of the server: new ones are made). */
  pool: pg.Pool;
  roles: ChildRole[];
  /** Starts one more worker process (its environment plus `env`). */
  addWorker(env?: Record<string, string>): ChildRole;
  /** SIGKILLs a process and forgets it. */
  kill(role: ChildRole): Promise<void>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  readyz(): Promise<{ status: number; body: { detail?: string; checks?: Record<string, string> } }>;
  createConnector(body: Record<string, unknown>): Promise<string>;
  /** Queues a pull through the API and returns its run id. */
  pull(connectorId: string, mode?: 'incremental' | 'full'): Promise<string>;
  run(connectorId: string, runId: string): Promise<RunView>;
  waitRun(connectorId: string, runId: string, status: string, ms?: number): Promise<RunView>;
  /** Every process is still running and none printed an unhandled error event or an uncaught exception. */
  expectAlive(): void;
  /** Marks the processes' output so far; `logged()` then returns the log lines written since, per process. */
  mark(): { logged(): Array<Array<{ component?: string; msg?: string }>> };
  stop(): Promise<void>;
}

/** Creates a migrated platform database on `serverUrl` (a superuser URL) and returns its URL. */
export async function platformDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), 1);
  await migrate(pool);
  await pool.end();
  return url.toString();
}

export async function startInstallation(o: {
  databaseUrl: string;
  redisUrl: string;
  topology: Topology;
  env?: Record<string, string>;
}): Promise<Installation> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    DATABASE_URL: o.databaseUrl,
    REDIS_URL: o.redisUrl,
    PORT: String(port),
    WORKER_LOCK_MS: '4000',
    LOG_LEVEL: 'info',
    ...o.env,
  };
  const roles =
    o.topology === 'serve'
      ? [spawnRole('serve', env)]
      : [spawnRole('api', env), ...(o.topology === 'apart' ? [spawnRole('worker', env)] : [])];
  // The test's own view of the platform database: its errors during an outage are expected, not news.
  const pool = createPool(o.databaseUrl, 4, { info() {}, warn() {}, error() {} });
  const tenantId = await ensureTenant(pool, 'chaos');
  const { key } = await createApiKey(pool, loadConfig({ QANATIX_DEV: '1' }).apiKeySalt, tenantId, 'chaos', ['admin']);
  await waitFor('the API to listen', async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok, 30_000, 100);

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const run = async (connectorId: string, runId: string): Promise<RunView> => {
    const { rows } = await pool.query<RunView>(
      'select id, status, attempts, rows_read::int as rows_read, error, error_kind from connector_runs where id = $1 and connector_id = $2',
      [runId, connectorId],
    );
    return rows[0]!;
  };
  const expectAlive = () => {
    for (const role of roles) {
      const out = role.output();
      expect(out).not.toMatch(/Unhandled 'error' event|uncaughtException|UnhandledPromiseRejection|triggerUncaughtException/);
      expect(role.child.exitCode, `a process exited:\n${out.slice(-3000)}`).toBeNull();
      expect(role.child.signalCode).toBeNull();
    }
  };
  return {
    mark() {
      const from = roles.map((r) => r.output().length);
      return {
        logged: () =>
          roles.map((r, i) =>
            r
              .output()
              .slice(from[i])
              .split('\n')
              .filter((l) => l.startsWith('{'))
              .map((l) => JSON.parse(l) as { component?: string; msg?: string }),
          ),
      };
    },
    base,
    pool,
    roles,
    addWorker(extra = {}) {
      const worker = spawnRole('worker', { ...env, ...extra });
      roles.push(worker);
      return worker;
    },
    async kill(role) {
      roles.splice(roles.indexOf(role), 1);
      await role.kill('SIGKILL');
    },
    api,
    async readyz() {
      const res = await fetch(`${base}/readyz`).catch((err) => {
        expectAlive(); // a dead API is the finding; its output says why
        throw err;
      });
      return { status: res.status, body: (await res.json()) as { detail?: string; checks?: Record<string, string> } };
    },
    async createConnector(body) {
      const res = await api('POST', '/connectors', { entity_type: 'item', ...body });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body.id as string;
    },
    async pull(connectorId, mode = 'full') {
      const res = await api('POST', `/connectors/${connectorId}/pull`, { mode });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.run_id as string;
    },
    run,
    async waitRun(connectorId, runId, status, ms = 120_000) {
      return waitFor(
        `run ${runId} to be ${status}`,
        async () => {
          const r = await run(connectorId, runId).catch(() => null); // the platform database may be down
          if (r && ['succeeded', 'failed', 'skipped'].includes(r.status) && r.status !== status)
            throw new Error(`run ended ${r.status}: ${r.error}`);
          return r?.status === status ? r : null;
        },
        ms,
        250,
      );
    },
    expectAlive,
    async stop() {
      await Promise.all(roles.map((r) => r.kill('SIGTERM')));
      await pool.end();
    },
  };
}

/**
 * Each process logged the outage of `component` once when it began and once when it ended, not once per
 * reconnect attempt.
 */
export function expectLoggedOnce(logged: Array<Array<{ component?: string; msg?: string }>>, component: RegExp): void {
  let noticed = 0;
  for (const lines of logged) {
    const failing = lines.filter((l) => component.test(l.component ?? '') && l.msg?.includes('is failing'));
    const back = lines.filter((l) => component.test(l.component ?? '') && l.msg?.includes('works again'));
    const components = failing.map((l) => l.component);
    expect(new Set(components).size, JSON.stringify(components)).toBe(components.length);
    expect(back.map((l) => l.component).sort()).toEqual([...components].sort());
    noticed += failing.length;
  }
  expect(noticed).toBeGreaterThan(0);
}

/**
 * `expectLoggedOnce`, given the time each process needs to log the end of the outage: a process notices that a server
 * works again on its next use of it, which may come after the run the test waited for has ended.
 */
export async function expectLoggedOnceSoon(
  logged: () => Array<Array<{ component?: string; msg?: string }>>,
  component: RegExp,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return expectLoggedOnce(logged(), component);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The rows every fault test reads: `id`, `name` and `qty` are all a source needs, and all an entity keeps. */
export function sourceRows(n: number, from = 1): Array<{ id: number; name: string; qty: number }> {
  return Array.from({ length: n }, (_, i) => ({ id: from + i, name: `item ${from + i}`, qty: ((from + i) * 7) % 1000 }));
}

/** Digest of rows 1..n as `sourceRows` makes them, in id order. */
export function digestOf(n: number): string {
  return createHash('md5')
    .update(
      sourceRows(n)
        .map((r) => `${r.id}|${r.name}|${r.qty}`)
        .join(','),
    )
    .digest('hex');
}

/** The entities of a vertical are exactly rows 1..n: one per id, with its name and qty. */
export async function expectExactlyRows(pool: pg.Pool, vertical: string, n: number): Promise<void> {
  const { rows } = await pool.query<{ count: number; ids: number; digest: string }>(
    `select count(*)::int as count, count(distinct source_id)::int as ids,
            md5(string_agg(source_id || '|' || name || '|' || (vertical_data->>'qty'), ',' order by source_id::bigint)) as digest
       from entities where vertical = $1`,
    [vertical],
  );
  expect(rows[0]).toEqual({ count: n, ids: n, digest: digestOf(n) });
}
