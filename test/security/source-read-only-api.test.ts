/**
 * The read-only boundary end to end, the way issue 12 found the hole: a real `qanatix serve` process (API,
 * worker and reconciler), a PostgreSQL source read by a role that COULD write, and tenant text sent over
 * HTTP. New definitions are refused with 422; definitions stored before the rules existed are refused by
 * `POST /connectors/{id}/test` and by the worker when a pull runs them. The canary never changes, and a
 * connector that only reads still pulls.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createApiKey, ensureTenant } from '../../src/auth/api-keys';
import { TEST_SALT } from '../helpers/api';
import { saveConnector } from '../helpers/connector-fixture';
import { freePort, privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { serviceUrl } from '../helpers/service-url';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { spawnRole, waitFor, type ChildRole } from '../helpers/worker-process';

const ROLE = `qsec_api_${randomBytes(4).toString('hex')}`;
const PASSWORD = `Pw-${randomBytes(6).toString('hex')}`;
const REPRODUCTION =
  "SELECT 1 AS id, 'x' AS name) s; COMMIT; UPDATE canary SET v = 999 WHERE id = 1; SELECT * FROM (SELECT 1 AS id, 'x' AS name";
let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let server: ChildRole;
let api: string;
let key: string;
let dsn: string;

const canary = async () => (await source.pool.query<{ v: number }>('SELECT v FROM canary WHERE id = 1')).rows[0]?.v;

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${api}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  await source.pool.query(
    'CREATE TABLE canary (id int PRIMARY KEY, v int NOT NULL, name text NOT NULL DEFAULT $$bird$$, updated_at timestamptz NOT NULL DEFAULT $$2026-01-01$$)',
  );
  await source.pool.query('INSERT INTO canary (id, v) VALUES (1, 1), (2, 1)');
  await source.pool.query(`GRANT SELECT, UPDATE ON canary TO ${ROLE}`);
  const url = new URL(source.url);
  url.username = ROLE;
  url.password = PASSWORD;
  dsn = url.toString();
  const port = await freePort();
  api = `http://127.0.0.1:${port}`;
  server = spawnRole('serve', {
    DATABASE_URL: platform.url,
    REDIS_URL: redis.url,
    PORT: String(port),
    API_KEY_SALT: TEST_SALT,
    LOG_LEVEL: 'warn',
    WORKER_LOCK_MS: '5000',
  });
  await waitFor('the API', async () => (await fetch(`${api}/healthz`).catch(() => null))?.ok, 30_000, 200);
  key = (await createApiKey(platform.pool, TEST_SALT, await ensureTenant(platform.pool, 'acme'), 'security', ['admin'])).key;
});
beforeEach(async () => {
  await source.pool.query('UPDATE canary SET v = 1');
});
afterAll(async () => {
  await server?.kill('SIGTERM');
  await redis?.stop();
  await Promise.all([platform?.drop(), source?.drop()]);
  const admin = new pg.Client({ connectionString: serviceUrl('postgres') });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
  await admin.end();
});

const body = (
  settings: Record<string, unknown>,
  connector: Record<string, unknown> = { connector_type: 'postgresql', connection_config: { dsn } },
) => ({
  name: `c-${randomBytes(3).toString('hex')}`,
  vertical: 'security',
  // Each connector its own entity type: connectors of one entity type need source_ids that cannot collide.
  entity_type: `canary-${randomBytes(3).toString('hex')}`,
  ...connector,
  ...settings,
});

/** Definitions an attacker would send, each with where its problem is reported. */
const HOSTILE: Array<[string, Record<string, unknown>, string]> = [
  ['the reproduction', { query: REPRODUCTION }, 'query'],
  ['the reproduction with a cursor', { query: REPRODUCTION, cursor: { column: 'id' } }, 'query'],
  ['a second statement behind a comment', { query: 'SELECT id, name FROM canary /* ; */; COMMIT; UPDATE canary SET v = 999' }, 'query'],
  ['a new transaction', { query: 'SELECT id, name FROM canary; COMMIT; START TRANSACTION READ WRITE; UPDATE canary SET v = 999' }, 'query'],
  [
    'a where that closes its parenthesis',
    { table: 'canary', where: 'id > 0); COMMIT; UPDATE canary SET v = 999; SELECT 1 WHERE (true' },
    'where',
  ],
  [
    'a where with a cursor',
    { table: 'canary', where: 'id > 0; COMMIT; UPDATE canary SET v = 999', cursor: { column: 'updated_at' } },
    'where',
  ],
  ['an advisory lock', { query: 'SELECT id, name, pg_advisory_lock(1) FROM canary' }, 'query'],
];

describe('over HTTP, through a real server and worker', () => {
  test('new definitions that could write are refused with 422 at the field, for every source type', async () => {
    const others: Array<[Record<string, unknown>, string]> = [
      [
        {
          connector_type: 'mysql',
          connection_config: { host: '127.0.0.1', user: 'u', database: 'd' },
          query: "SELECT 1 AS id, '\\'; UPDATE canary SET v = 999; -- ' AS name",
        },
        'query',
      ],
      [
        {
          connector_type: 'mysql',
          connection_config: { host: '127.0.0.1', user: 'u', database: 'd' },
          query: "SELECT 1 AS id INTO OUTFILE '/tmp/x'",
        },
        'query',
      ],
      [
        {
          connector_type: 'mongodb',
          connection_config: { uri: 'mongodb://127.0.0.1:27017/', database: 'd', collection: 'c' },
          query: { $or: [{ a: 1 }, { $where: 'sleep(1000)' }] },
        },
        'query',
      ],
      [
        {
          connector_type: 'neo4j',
          connection_config: { uri: 'bolt://127.0.0.1:7687', user: 'u', password: 'p' },
          query: "LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l",
        },
        'query',
      ],
    ];
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ...HOSTILE.map(([label, settings, field]): [string, Record<string, unknown>, string] => [label, body(settings), field]),
      ...others.map(([connector, field]): [string, Record<string, unknown>, string] => [
        String(connector.connector_type),
        body({}, connector),
        field,
      ]),
    ];
    for (const [label, payload, field] of cases) {
      const res = await call('POST', '/connectors', payload);
      expect(res.status, label).toBe(422);
      const detail = res.body.detail as Array<{ loc: string[]; msg: string; type: string }>;
      expect(
        detail.some((d) => d.loc[0] === 'body' && d.loc[1] === field && /only reads|more than one statement/.test(d.msg)),
        `${label}: ${JSON.stringify(detail)}`,
      ).toBe(true);
    }
    const good = await call('POST', '/connectors', body({ query: 'SELECT id, name FROM canary' }));
    expect(good.status).toBe(201);
    const patched = await call('PATCH', `/connectors/${good.body.id as string}`, { query: REPRODUCTION });
    expect(patched.status).toBe(422);
    expect(JSON.stringify(patched.body)).toContain('more than one statement');
    expect(await canary()).toBe(1);
  });

  test('definitions stored before the rules are refused by /test and by the worker when a pull runs them', async () => {
    for (const [label, settings] of HOSTILE) {
      const id = await saveConnector(platform.pool, 'acme', {
        connection_config: { dsn },
        settings,
        vertical: 'security',
        entity_type: 'canary',
      });
      const tested = await call('POST', `/connectors/${id}/test`);
      expect(tested.status, label).toBe(200);
      expect(tested.body, label).toMatchObject({ ok: false, kind: 'config' });
      expect(tested.body.error as string, label).toMatch(/only reads|more than one statement/);
      expect(tested.body.error as string, label).not.toContain(PASSWORD);

      const pulled = await call('POST', `/connectors/${id}/pull`, { mode: 'full' });
      expect(pulled.status, label).toBe(202);
      const run = await waitFor(`the run of ${label}`, async () => {
        const r = await call('GET', `/connectors/${id}/runs/${pulled.body.run_id as string}`);
        return ['failed', 'succeeded'].includes(r.body.status as string) ? r.body : null;
      });
      expect(run, label).toMatchObject({ status: 'failed', error_kind: 'config', rows_read: 0 });
      expect(run.error as string, label).toMatch(/only reads|more than one statement/);
      expect(await canary(), label).toBe(1);
    }
  });

  test('a connector that only reads tests ok and pulls', async () => {
    const created = await call(
      'POST',
      '/connectors',
      body({ query: 'SELECT id, name, updated_at FROM canary WHERE updated_at > :last_pull' }),
    );
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect((await call('POST', `/connectors/${id}/test`)).body).toMatchObject({ ok: true });
    const pulled = await call('POST', `/connectors/${id}/pull`, { mode: 'full' });
    const run = await waitFor('the run', async () => {
      const r = await call('GET', `/connectors/${id}/runs/${pulled.body.run_id as string}`);
      return ['failed', 'succeeded'].includes(r.body.status as string) ? r.body : null;
    });
    expect(run).toMatchObject({ status: 'succeeded', rows_read: 2, inserted: 2 });
    expect(await canary()).toBe(1);
  });
});
