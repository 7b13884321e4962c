/**
 * What a connector may reach, tried as a tenant would: the platform's own database under every spelling of its
 * address and name, behind a proxy the address check cannot see, denied and allowed hosts, cloud metadata,
 * and connection options that name files on the server. Real PostgreSQL, a real worker process, the real API.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ConnectorError } from '../../connectors/connector-error';
import { createConnector } from '../../connectors/registry';
import { SourceDeniedError } from '../../connectors/source-denied-error';
import { createPullQueue, type PullJobData } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { buildApp } from '../../src/api/app';
import { parseSourceRules, sourcePolicy, type SourceRules } from '../../src/source-policy';
import { bearer, testApi, type TestApi } from '../helpers/api';
import { saveConnector, testBox } from '../helpers/connector-fixture';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { spawnRole, waitFor, type ChildRole } from '../helpers/worker-process';

const SUFFIX = randomBytes(4).toString('hex');
/** A role that may read the platform's tables: what a tenant who learned some credentials would use. */
const THIEF = `reach_thief_${SUFFIX}`;
const THIEF_PASSWORD = `thief-pw-${SUFFIX}`;
const READER = `reach_reader_${SUFFIX}`;
const READER_PASSWORD = `reader-pw-${SUFFIX}`;
const SECRETS = [THIEF_PASSWORD, READER_PASSWORD];

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let acme: string;
let bravo: string;
let worker: ChildRole;
let platformDb: string;
let sourceDb: string;
/** Every response body and worker line, checked for secrets at the end. */
const seen: string[] = [];

const dsnTo = (
  host: string,
  database: string,
  o: { user?: string; password?: string; port?: string | null; scheme?: string; query?: string } = {},
) =>
  `${o.scheme ?? 'postgres'}://${o.user ?? THIEF}:${o.password ?? THIEF_PASSWORD}@${host}${o.port === null ? '' : `:${o.port ?? '5432'}`}/${database}${o.query ?? ''}`;

beforeAll(async () => {
  [source, redis] = await Promise.all([freshDatabase('qsrc', false), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({}, queue);
  platformDb = new URL(t.db.url).pathname.slice(1);
  sourceDb = new URL(source.url).pathname.slice(1);
  acme = await t.key('acme', ['connectors', 'ingest', 'read']);
  bravo = await t.key('bravo', ['connectors', 'read']);
  // Tenant A's data, which tenant B is after.
  const records = [{ name: 'acme-only', source_id: 'a1', margin: 0.42 }];
  const ingest = await t.app.inject({
    method: 'POST',
    url: '/api/v1/ingest/secret/plan/batch',
    headers: bearer(acme),
    payload: { records },
  });
  expect(ingest.statusCode).toBe(200);
  await t.db.pool.query(`create role ${THIEF} login password '${THIEF_PASSWORD}'`);
  await t.db.pool.query(`grant select on all tables in schema public to ${THIEF}`);
  await source.pool.query(`create role ${READER} login password '${READER_PASSWORD}'`);
  await source.pool.query(
    'create table products (id bigint primary key, name text not null, updated_at timestamptz not null default now())',
  );
  await source.pool.query("insert into products select g, 'P' || g, now() - interval '1 hour' from generate_series(1, 40) g");
  await source.pool.query(`grant select on products to ${READER}`);
  worker = spawnRole('worker', { DATABASE_URL: t.db.url, REDIS_URL: redis.url });
});

afterAll(async () => {
  await worker?.kill('SIGTERM');
  seen.push(worker?.output() ?? '');
  await t.close();
  await queue.close();
  conn.disconnect();
  await redis.stop();
  await source.drop();
  await source.pool.end().catch(() => {});
  const { Client } = (await import('pg')).default;
  const admin = new Client({ connectionString: source.url.replace(/\/[^/]*$/, '/postgres') });
  await admin.connect();
  await admin.query(`drop role if exists ${THIEF}`).catch(() => {});
  await admin.query(`drop role if exists ${READER}`).catch(() => {});
  await admin.end();
  for (const text of seen) for (const secret of SECRETS) expect(text).not.toContain(secret);
});

async function call(method: 'GET' | 'POST' | 'PATCH', path: string, payload?: unknown, key = bravo, app = t.app) {
  const res = await app.inject({
    method,
    url: `/api/v1${path}`,
    headers: bearer(key),
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
  seen.push(res.body);
  return res;
}

const body = (
  name: string,
  connection_config: Record<string, unknown>,
  type = 'postgresql',
  rest: Record<string, unknown> = { table: 'entities' },
) => ({
  name: `${name}-${randomBytes(3).toString('hex')}`,
  connector_type: type,
  vertical: 'loot',
  // Each connector its own entity type: connectors of one entity type need source_ids that cannot collide.
  entity_type: `row-${randomBytes(3).toString('hex')}`,
  connection_config,
  ...rest,
});

const sourceBody = (name: string, host = '127.0.0.1') =>
  body(name, { dsn: dsnTo(host, sourceDb, { user: READER, password: READER_PASSWORD }) }, 'postgresql', {
    table: 'products',
    cursor: { column: 'updated_at', lag_seconds: 0 },
  });

/** Queues a pull through the API and waits for the run to end. */
async function pull(id: string): Promise<{ status: string; error: string | null; error_kind: string | null; rows_read: number }> {
  const queued = await call('POST', `/connectors/${id}/pull`, { mode: 'incremental' });
  expect(queued.statusCode).toBe(202);
  const runId = queued.json().run_id as string;
  return waitFor(
    `run ${runId} to end`,
    async () => {
      const run = (await call('GET', `/connectors/${id}/runs/${runId}`)).json();
      return ['succeeded', 'failed'].includes(run.status) ? run : null;
    },
    60_000,
    200,
  );
}

/** Tenant A's entity, copied into tenant B's: what the attack is after. */
const stolen = async () =>
  Number(
    (
      await t.db.pool.query(
        "select count(*) as n from entities e join tenants t on t.id = e.tenant_id where t.name = 'bravo' and e.name = 'acme-only'",
      )
    ).rows[0].n,
  );

/** A TCP relay in front of the platform's PostgreSQL: an address the check cannot tell from any other source. */
async function relay(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(5432, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('the platform database', () => {
  const aliases = (): Array<[string, string]> => [
    ['127.0.0.1', dsnTo('127.0.0.1', platformDb)],
    ['localhost', dsnTo('localhost', platformDb)],
    ['LOCALHOST, no port', dsnTo('LOCALHOST', platformDb, { port: null })],
    ['127.1', dsnTo('127.1', platformDb)],
    ['decimal', dsnTo('2130706433', platformDb)],
    ['hex', dsnTo('0x7f000001', platformDb)],
    ['octal', dsnTo('0177.0.0.1', platformDb)],
    ['another loopback address', dsnTo('127.0.0.2', platformDb)],
    ['::1', dsnTo('[::1]', platformDb)],
    ['IPv4-mapped IPv6', dsnTo('[::ffff:127.0.0.1]', platformDb)],
    ['IPv4-mapped IPv6, long form', dsnTo('[0:0:0:0:0:ffff:7f00:1]', platformDb)],
    ['0.0.0.0', dsnTo('0.0.0.0', platformDb)],
    ['[::]', dsnTo('[::]', platformDb)],
    ['this machine by name', dsnTo(hostname(), platformDb)],
    ['the database name in upper case', dsnTo('127.0.0.1', platformDb.toUpperCase())],
    ['the database name percent-encoded', dsnTo('127.0.0.1', [...platformDb].map((c) => `%${c.charCodeAt(0).toString(16)}`).join(''))],
    ['postgresql:// scheme', dsnTo('127.0.0.1', platformDb, { scheme: 'postgresql' })],
    ['sslmode=disable', dsnTo('127.0.0.1', platformDb, { query: '?sslmode=disable' })],
    ['host= overriding the URL', dsnTo('source.example', platformDb, { query: '?host=127.0.0.1' })],
    ['hostaddr=', dsnTo('source.example', platformDb, { query: '?hostaddr=127.0.0.1' })],
    ['dbname=', dsnTo('127.0.0.1', sourceDb, { query: `?dbname=${platformDb}` })],
    ['port=', dsnTo('127.0.0.1', platformDb, { port: '6543', query: '?port=5432' })],
    ['a unix socket', dsnTo('%2Fvar%2Frun%2Fpostgresql', platformDb, { port: null })],
    ['an encoded host name', dsnTo('%6c%6f%63%61%6c%68%6f%73%74', platformDb)],
    ['a host list', dsnTo('source.example:5432,127.0.0.1', platformDb)],
    ['options= turning read-only off', dsnTo('127.0.0.1', sourceDb, { query: '?options=-c%20default_transaction_read_only%3Doff' })],
  ];

  test('is refused at create under every spelling of its address and name: 422 at connection_config, nothing saved', async () => {
    for (const [what, dsn] of aliases()) {
      for (const dryRun of ['', '?dry_run=true']) {
        const res = await call('POST', `/connectors${dryRun}`, body(what, { dsn }));
        expect(res.statusCode, what).toBe(422);
        const [problem] = res.json().detail;
        expect(problem.loc.slice(0, 3), what).toEqual(['body', 'connection_config', 'dsn']);
        expect(problem.msg, what).toMatch(/own database|not accepted|DNS name or IP address|not a valid URL/);
      }
    }
    // Nothing saved under any of these names (other tests of this file save connectors of their own).
    const names = aliases().map(([what]) => `${what}-`);
    expect((await call('GET', '/connectors')).json().filter((c: { name: string }) => names.some((n) => c.name.startsWith(n)))).toEqual([]);
  });

  test('each plain alias is refused as the platform database itself, not by luck of another rule', async () => {
    for (const [what, dsn] of aliases().slice(0, 18)) {
      const res = await call('POST', '/connectors', body(what, { dsn }));
      expect(res.json().detail[0].msg, what).toMatch(
        /is this installation's own database: connectors may not read it - change connection_config.dsn/,
      );
    }
  });

  test('repointing a connector at it (PATCH) is refused and changes nothing', async () => {
    const created = await call('POST', '/connectors', sourceBody('good'));
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    for (const dryRun of ['', '?dry_run=true']) {
      const res = await call('PATCH', `/connectors/${id}${dryRun}`, {
        connection_config: { dsn: dsnTo('localhost', platformDb) },
        table: 'entities',
      });
      expect(res.statusCode).toBe(422);
      expect(res.json().detail[0].loc).toEqual(['body', 'connection_config', 'dsn']);
    }
    expect((await call('POST', `/connectors/${id}/test`)).json()).toMatchObject({ ok: true });
    expect((await pull(id)).status).toBe('succeeded');
    // A change that leaves the connection alone is not held up by it.
    expect((await call('PATCH', `/connectors/${id}`, { enabled: false })).statusCode).toBe(200);
  });

  test('a connector already stored with it is refused by /test (422) and by the worker (run failed, kind denied)', async () => {
    for (const host of ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]']) {
      const id = await saveConnector(t.db.pool, 'bravo', {
        connection_config: { dsn: dsnTo(host, platformDb) },
        settings: { table: 'entities' },
      });
      const tested = await call('POST', `/connectors/${id}/test`);
      expect(tested.statusCode, host).toBe(422);
      expect(tested.json().detail[0]).toMatchObject({ loc: ['connection_config', 'dsn'], type: 'value_error.source_denied' });
      const run = await pull(id);
      expect(run, host).toMatchObject({ status: 'failed', error_kind: 'denied', rows_read: 0 });
      expect(run.error).toMatch(/own database/);
    }
    expect(await stolen()).toBe(0);
  });

  test('reached despite the address check (a proxy), the marker alone stops /test and the worker', async () => {
    const proxy = await relay();
    try {
      const dsn = dsnTo('127.0.0.1', platformDb, { port: String(proxy.port) });
      const created = await call('POST', '/connectors', body('through a proxy', { dsn }));
      expect(created.statusCode).toBe(201);
      const id = created.json().id as string;
      const tested = await call('POST', `/connectors/${id}/test`);
      expect(tested.statusCode).toBe(422);
      expect(tested.json().detail[0].msg).toMatch(/is this installation's own database/);
      expect(await pull(id)).toMatchObject({ status: 'failed', error_kind: 'denied', rows_read: 0 });
      expect(await stolen()).toBe(0);

      // The same connector, created with a policy that knows nothing of the platform's addresses: the marker refuses it ...
      const policy = await sourcePolicy(t.db.pool, { allow: [], deny: [] });
      const blind = { ...policy, platform: { ...policy.platform!, networks: [], ports: [], databases: [] } };
      const def = { connector_type: 'postgresql', connection_config: { dsn: dsnTo('127.0.0.1', platformDb) }, table: 'entities' };
      for (const definition of [def, { ...def, connection_config: { dsn } }]) {
        const connector = await createConnector(definition, blind);
        const err = await connector.check().catch((e: unknown) => e);
        await connector.close();
        expect(err).toBeInstanceOf(SourceDeniedError);
        expect((err as ConnectorError).kind).toBe('denied');
      }
      // ... and without it, the very same read would have taken tenant A's entities.
      const unguarded = await createConnector({ ...def, connection_config: { dsn } });
      try {
        const plan = { mode: 'full' as const, cursor: null, now: await unguarded.clock(), lastPull: null, batchSize: 100 };
        const rows = [];
        for await (const batch of unguarded.read(plan, new AbortController().signal)) rows.push(...batch.rows);
        expect(rows.map((r) => r.name)).toContain('acme-only');
      } finally {
        await unguarded.close();
      }
    } finally {
      await proxy.close();
    }
  });

  test('another database of the same PostgreSQL server is a source like any other', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const created = await call('POST', '/connectors', sourceBody('same cluster', host));
      expect(created.statusCode, host).toBe(201);
      const id = created.json().id as string;
      expect((await call('POST', `/connectors/${id}/test`)).json()).toMatchObject({ ok: true });
      expect(await pull(id)).toMatchObject({ status: 'succeeded', rows_read: 40 });
    }
  });
});

describe('deny and allow lists', () => {
  async function appWith(rules: { allow?: string; deny?: string }) {
    const sourceRules: SourceRules = { allow: parseSourceRules(rules.allow, 'allow'), deny: parseSourceRules(rules.deny, 'deny') };
    return buildApp({ pool: t.db.pool, config: { ...t.config, sourceRules }, box: testBox });
  }
  const mysql = (host: string) =>
    body('mysql', { host, user: 'qanatix', password: READER_PASSWORD, database: 'qanatix_source' }, 'mysql', { table: 'products' });
  const mongo = (hosts: string) => body('mongo', { uri: `mongodb://${hosts}/`, database: 'shop' }, 'mongodb', { collection: 'products' });
  const neo4j = (host: string) =>
    body('neo4j', { uri: `bolt://${host}:7687`, user: 'neo4j', password: READER_PASSWORD }, 'neo4j', { label: 'Product' });

  async function expectStatus(app: Awaited<ReturnType<typeof appWith>>, cases: Array<[unknown, number, RegExp?]>) {
    for (const [payload, status, message] of cases) {
      const res = await call('POST', '/connectors', payload, bravo, app);
      expect(res.statusCode, JSON.stringify(payload)).toBe(status);
      if (message) expect(res.json().detail[0].msg).toMatch(message);
    }
  }

  test('deny: IPv4 and IPv6 networks with and without ports, names and their subdomains, even unresolvable ones', async () => {
    const app = await appWith({ deny: '127.0.0.0/8:3306, [::1], localhost, *.invalid, 10.0.0.0/8' });
    try {
      await expectStatus(app, [
        [mysql('127.0.0.1'), 422, /127\.0\.0\.1:3306 is on a denied network \(127\.0\.0\.1, rule 127\.0\.0\.0\/8:3306\)/],
        [sourceBody('v4 on another port'), 201],
        [sourceBody('v6', '[::1]'), 422, /\[::1\]:5432 is on a denied network \(::1, rule \[::1\]\)/],
        [sourceBody('by name', 'localhost'), 422, /localhost:5432 is a denied source host \(rule localhost\)/],
        [sourceBody('subdomain', 'db.nowhere.invalid'), 422, /rule \*\.invalid/],
        [mongo('127.0.0.1:27017,10.1.2.3:27017'), 422, /10\.1\.2\.3:27017 is on a denied network/],
        [neo4j('10.200.0.1'), 422, /rule 10\.0\.0\.0\/8/],
      ]);
    } finally {
      await app.close();
    }
  });

  test('allow: only the listed hosts and ports, and deny still wins', async () => {
    const app = await appWith({ allow: '127.0.0.1:5432, [::1]:5432, *.allowed.example', deny: '127.0.0.5' });
    try {
      await expectStatus(app, [
        [sourceBody('allowed'), 201],
        [sourceBody('allowed v6', '[::1]'), 201],
        [mysql('127.0.0.1'), 422, /127\.0\.0\.1:3306 is not among the source hosts this installation allows/],
        [mongo('127.0.0.1:27017'), 422, /not among/],
        [neo4j('127.0.0.1'), 422, /not among/],
        [sourceBody('denied inside the allowed', '127.0.0.5'), 422, /rule 127\.0\.0\.5/],
      ]);
      // A connector saved under looser rules is refused by /test under the stricter ones.
      const connection_config = { host: '127.0.0.1', user: 'x', password: READER_PASSWORD, database: 'x' };
      const id = await saveConnector(t.db.pool, 'bravo', { connector_type: 'mysql', connection_config, settings: { table: 't' } });
      const tested = await call('POST', `/connectors/${id}/test`, undefined, bravo, app);
      expect(tested.statusCode).toBe(422);
      expect(tested.json().detail[0]).toMatchObject({ loc: ['connection_config', 'host'], type: 'value_error.source_denied' });
    } finally {
      await app.close();
    }
  });

  test('the worker checks again before each run, under the rules it runs with now', async () => {
    const created = await call('POST', '/connectors', sourceBody('allowed when saved'));
    expect(created.statusCode).toBe(201);
    const strict = spawnRole('worker', { DATABASE_URL: t.db.url, REDIS_URL: redis.url, QANATIX_SOURCE_DENY: '127.0.0.1:5432' });
    await worker.kill('SIGTERM');
    seen.push(worker.output());
    try {
      const run = await pull(created.json().id);
      expect(run).toMatchObject({ status: 'failed', error_kind: 'denied', rows_read: 0 });
      expect(run.error).toMatch(/127\.0\.0\.1:5432 is on a denied network \(127\.0\.0\.1, rule 127\.0\.0\.1:5432\)/);
    } finally {
      await strict.kill('SIGTERM');
      seen.push(strict.output());
      worker = spawnRole('worker', { DATABASE_URL: t.db.url, REDIS_URL: redis.url });
    }
  });

  test('a malformed rule stops the process at start with a message naming the variable', async () => {
    const bad = spawnRole('worker', { DATABASE_URL: t.db.url, REDIS_URL: redis.url, QANATIX_SOURCE_ALLOW: '10.0.0.0/33' });
    await waitFor('the process to exit', () => bad.child.exitCode !== null, 20_000);
    expect(bad.child.exitCode).not.toBe(0);
    expect(bad.output()).toContain('QANATIX_SOURCE_ALLOW: "10.0.0.0/33" is not a source rule');
  });
});

describe('cloud metadata and link-local addresses are denied by default', () => {
  const hosts = ['169.254.169.254', '169.254.170.2', 'metadata.google.internal', '100.100.100.200', 'fd00:ec2::254', 'fe80::1'];
  const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const configs: Array<[string, (h: string) => Record<string, unknown>, string, Record<string, unknown>]> = [
    ['postgresql', (h) => ({ dsn: `postgres://u:${READER_PASSWORD}@${bracket(h)}/db` }), 'dsn', { table: 't' }],
    ['mysql', (h) => ({ host: h, user: 'u', password: READER_PASSWORD, database: 'db' }), 'host', { table: 't' }],
    ['mysql', (h) => ({ dsn: `mysql://u:${READER_PASSWORD}@${bracket(h)}:3306/db` }), 'dsn', { table: 't' }],
    [
      'mongodb',
      (h) => ({ uri: `mongodb://u:${READER_PASSWORD}@db.example.invalid,${bracket(h)}:27017/`, database: 'db' }),
      'uri',
      { collection: 't' },
    ],
    ['neo4j', (h) => ({ uri: `neo4j://${bracket(h)}:7687`, user: 'u', password: READER_PASSWORD }), 'uri', { label: 'T' }],
  ];
  test.each(configs)('%s (%s form)', async (type, config, field, rest) => {
    for (const host of hosts) {
      const res = await call('POST', '/connectors', body(`${type}-${host}`, config(host), type, rest));
      expect(res.statusCode, host).toBe(422);
      expect(res.json().detail[0], host).toMatchObject({ loc: ['body', 'connection_config', field], type: 'value_error.source_denied' });
      expect(res.json().detail[0].msg, host).toMatch(/denied (network|source host)/);
    }
  });
});

describe('connection options that name files on the server', () => {
  const FILES = ['/etc/passwd', '/no/such/file'];
  const cases: Array<[string, string[], (option: string) => Record<string, unknown>, string, Record<string, unknown>]> = [
    [
      'postgresql',
      ['sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'sslcrldir', 'passfile', 'service', 'servicefile'],
      (o) => ({ dsn: dsnTo('127.0.0.1', sourceDb, { user: READER, password: READER_PASSWORD, query: `?${o}` }) }),
      'dsn',
      { table: 'products' },
    ],
    [
      'mysql',
      ['ssl-ca', 'ssl-cert', 'ssl-key', 'sslca', 'local_infile'],
      (o) => ({ dsn: `mysql://u:${READER_PASSWORD}@127.0.0.1:3306/db?${o}` }),
      'dsn',
      { table: 't' },
    ],
    [
      'mongodb',
      ['tlsCAFile', 'tlsCertificateKeyFile', 'tlsCRLFile', 'sslCA', 'sslCert'],
      (o) => ({ uri: `mongodb://u:${READER_PASSWORD}@127.0.0.1:27017/?${o}`, database: 'db' }),
      'uri',
      { collection: 't' },
    ],
    [
      'neo4j',
      ['trustedCertificates', 'certfile'],
      (o) => ({ uri: `neo4j://127.0.0.1:7687?${o}`, user: 'u', password: READER_PASSWORD }),
      'uri',
      { label: 'T' },
    ],
  ];

  test.each(cases)(
    '%s: each is refused with a 422 naming it, the same whether the file exists or not',
    async (type, options, config, field, rest) => {
      for (const option of options) {
        const answers = [];
        for (const file of FILES) {
          const res = await call(
            'POST',
            '/connectors',
            body(`${type}-${option}`, config(`${option}=${encodeURIComponent(file)}`), type, rest),
          );
          expect(res.statusCode, option).toBe(422);
          answers.push(res.json().detail);
        }
        expect(answers[0], option).toEqual(answers[1]);
        const msg = expect.stringContaining(`option "${option}" is not accepted - `);
        expect(answers[0], option).toEqual([{ loc: ['body', 'connection_config', field], msg, type: 'invalid_value' }]);
      }
    },
  );

  test('a stored PostgreSQL connector with such an option is tested without opening the file', async () => {
    const answers = [];
    for (const file of FILES) {
      const dsn = dsnTo('127.0.0.1', sourceDb, { user: READER, password: READER_PASSWORD, query: `?sslrootcert=${file}` });
      const id = await saveConnector(t.db.pool, 'bravo', { connection_config: { dsn }, settings: { table: 'products' } });
      const res = await call('POST', `/connectors/${id}/test`);
      const { duration_ms: _, ...answer } = res.json();
      answers.push([res.statusCode, answer]);
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toEqual([
      200,
      { ok: false, kind: 'config', error: expect.stringContaining('option "sslrootcert" is not accepted') },
    ]);
  });
});

describe("the worker's own PostgreSQL credentials are never lent to a source", () => {
  test('a DSN without a password does not pick up PGPASSWORD or a ~/.pgpass file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'reach-'));
    const saved = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE };
    try {
      const passfile = join(dir, 'pgpass');
      await writeFile(passfile, `*:*:*:${READER}:${READER_PASSWORD}\n`);
      await chmod(passfile, 0o600);
      const check = async (dsn: string) => {
        const connector = await createConnector({ connector_type: 'postgresql', connection_config: { dsn }, table: 'products' });
        try {
          await connector.check();
          return 'ok';
        } catch (err) {
          return (err as ConnectorError).kind;
        } finally {
          await connector.close();
        }
      };
      for (const env of [{ PGPASSWORD: READER_PASSWORD }, { PGPASSFILE: passfile }]) {
        Object.assign(process.env, env);
        expect(await check(`postgres://${READER}@127.0.0.1:5432/${sourceDb}`)).toBe('auth');
        expect(await check(`postgres://${READER}:@127.0.0.1:5432/${sourceDb}`)).toBe('auth');
        expect(await check(dsnTo('127.0.0.1', sourceDb, { user: READER, password: READER_PASSWORD }))).toBe('ok');
        delete process.env.PGPASSWORD;
        delete process.env.PGPASSFILE;
      }
    } finally {
      for (const [k, v] of Object.entries(saved))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
