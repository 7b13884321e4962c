import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { systemResolver, type SourcePolicy } from '../../../connectors/source-policy';
import { parseSourceRule } from '../../../connectors/source-rules';
import { createNotifyQueue, queuePendingNotifications } from '../../../jobs/notify-queue';
import { PULL_JOB, PULL_QUEUE, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis, QUEUE_PREFIX } from '../../../jobs/redis-connection';
import { recoverRuns } from '../../../jobs/run-recovery';
import { startWorker, type RunningWorker } from '../../../jobs/worker';
import { registry } from '../../../src/metrics';
import { sourcePolicy } from '../../../src/source-policy';
import { createRun } from '../../../src/store/connector-runs';
import { bearer, testApi, type TestApi } from '../../helpers/api';
import { testBox } from '../../helpers/connector-fixture';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';

/**
 * Failure notifications on the real servers: connectors whose source fails, a worker in this process, the API
 * through inject, a private Redis, and a receiver on loopback (which the operator's rules allow here).
 */
const RULES = { allow: ['127.0.0.0/8', '::1', 'hooks.test'].map(parseSourceRule), deny: [] };

let t: TestApi;
let source: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let key: string;
let receiver: Receiver;
const workers: RunningWorker[] = [];
const connections: Redis[] = [];
const logged: string[] = [];
const capture = (level: string) => (obj: unknown, msg?: string) => void logged.push(`${level} ${JSON.stringify(obj)} ${msg ?? ''}`);
const log = { info: capture('info'), warn: capture('warn'), error: capture('error') };
/** What `localhost` resolves to for the worker's policy (`hooks.test`, unknown to DNS, resolves to 127.0.0.1 there). */
let localhostAddress = '127.0.0.1';

interface Call {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

interface Receiver {
  server: Server;
  port: number;
  calls: Call[];
  /** Status codes to answer with, in order, per path; 'hang' never answers; past the list: 200. */
  script: Map<string, Array<number | 'hang'>>;
}

async function startReceiver(): Promise<Receiver> {
  const calls: Call[] = [];
  const script = new Map<string, Array<number | 'hang'>>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '';
      calls.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const next = script.get(new URL(path, 'http://x').pathname)?.shift() ?? 200;
      if (next === 'hang') return;
      if (next >= 300 && next < 400) res.setHeader('location', `http://127.0.0.1:${receiverPort()}/redirected`);
      res.writeHead(next).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, calls, script };
}
const receiverPort = () => receiver.port;

beforeAll(async () => {
  [source, redis, receiver] = await Promise.all([freshDatabase('qsrc', false), privateRedis(), startReceiver()]);
  conn = createRedis(redis.url);
  // Pulls give up after three quick attempts here, so a retried failure reaches its last attempt in seconds.
  queue = new Queue<PullJobData>(PULL_QUEUE, {
    connection: conn,
    prefix: QUEUE_PREFIX,
    defaultJobOptions: { attempts: 3, backoff: { type: 'fixed', delay: 200 } },
  });
  t = await testApi({ sourceRules: RULES }, queue);
  key = await t.key('acme', ['connectors', 'read']);
  await source.pool.query(`create table products (id bigint primary key, name text not null, updated_at timestamptz not null)`);
  await source.pool.query(
    `insert into products select g, 'P' || g, '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, 20) g`,
  );
  await source.pool.query(`create table gadgets (id bigint primary key, name text not null, updated_at timestamptz not null)`);
  await source.pool.query(
    `insert into gadgets select g, 'G' || g, '2026-01-01'::timestamptz + g * interval '1 second' from generate_series(1, 20) g`,
  );
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  for (const c of connections.splice(0)) c.disconnect();
});
afterAll(async () => {
  await queue.close();
  conn.disconnect();
  receiver.server.closeAllConnections();
  await new Promise((resolve) => receiver.server.close(resolve));
  await t.close();
  await Promise.all([redis.stop(), source.drop()]);
});

const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: bearer(key), ...(payload !== undefined ? { payload: payload as object } : {}) });

function worker(timeoutMs = 10_000): RunningWorker {
  const policy = async (): Promise<SourcePolicy> => ({
    ...(await sourcePolicy(t.db.pool, RULES)),
    resolver: {
      addresses: async (host) =>
        host === 'hooks.test' ? ['127.0.0.1'] : host === 'localhost' ? [localhostAddress] : systemResolver.addresses(host),
      services: async () => [],
    },
  });
  const connection = createRedis(redis.url);
  connections.push(connection);
  const w = startWorker({
    pool: t.db.pool,
    box: testBox,
    connection,
    log,
    concurrency: 2,
    lockDurationMs: 4_000,
    notify: { backoffMs: 100, timeoutMs, policy },
  });
  workers.push(w);
  return w;
}

let n = 0;
/** A connector of `products`; its DSN points at a closed port (every pull fails, retryably) unless `working`. */
async function connector(notify: unknown, working = false, extra: object = {}): Promise<{ id: string; secret: string; path: string }> {
  const closed = new URL(source.url);
  closed.port = String(await freePort());
  const res = await call('POST', '/connectors', {
    name: `c${++n}`,
    connector_type: 'postgresql',
    connection_config: { dsn: working ? source.url : closed.toString() },
    vertical: `v${n}`,
    entity_type: 'product',
    table: 'products',
    cursor: { column: 'updated_at', lag_seconds: 0 },
    notify,
    ...extra,
  });
  expect(res.statusCode, res.body).toBe(201);
  const url = (notify as { url?: string } | null)?.url;
  return { id: res.json().id, secret: res.json().notify_secret, path: url ? new URL(url).pathname : '' };
}
const hook = (path: string) => `http://127.0.0.1:${receiver.port}${path}`;

const run = async (id: string, runId: string) => (await call('GET', `/connectors/${id}/runs/${runId}`)).json();
const finished = (id: string, runId: string, ms = 60_000) =>
  waitFor(
    `run ${runId} finished`,
    async () => {
      const r = await run(id, runId);
      return ['succeeded', 'failed', 'cancelled', 'skipped', 'needs_confirmation'].includes(r.status) ? r : null;
    },
    ms,
  );
async function pull(id: string, body: object = {}) {
  const res = await call('POST', `/connectors/${id}/pull`, body);
  expect(res.statusCode, res.body).toBe(202);
  return res.json().run_id as string;
}
const callsTo = (path: string) => receiver.calls.filter((c) => new URL(c.path, 'http://x').pathname === path);
const events = async (id: string, runId: string) =>
  ((await call('GET', `/connectors/${id}/runs/${runId}/events`)).json() as Array<{ kind: string; detail: Record<string, unknown> }>).filter(
    (e) => e.kind.startsWith('notification_'),
  );
/** Waits until the run's notification has ended (delivered or given up) and returns its events. */
const notificationEnded = (id: string, runId: string, ms = 30_000) =>
  waitFor(
    `the notification of run ${runId} ended`,
    async () => {
      const list = await events(id, runId);
      return list.some((e) => e.kind === 'notification_sent' || e.detail.given_up === true) ? list : null;
    },
    ms,
  );

/** Verifies a call the way a receiver does: the HMAC of "<timestamp>.<raw body>" with the connector's secret. */
function verify(c: Call, secret: string): boolean {
  const timestamp = String(c.headers['x-qanatix-timestamp']);
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${c.body}`).digest('hex')}`;
  return c.headers['x-qanatix-signature'] === expected;
}

describe('a failing connector notifies once, and once more when it recovers', () => {
  test('one signed `failed` call after the last attempt (none per retry), one `recovered` when fixed, none for a later success', async () => {
    const { id, secret, path } = await connector({ url: hook('/flaky-source') });
    expect(secret).toMatch(/^qnsec_[0-9a-f]{64}$/);
    worker();
    const failedRun = await finished(id, await pull(id));
    expect(failedRun).toMatchObject({ status: 'failed', error_kind: 'unreachable' });
    const kinds = ((await call('GET', `/connectors/${id}/runs/${failedRun.id}/events`)).json() as Array<{ kind: string }>).map(
      (e) => e.kind,
    );
    expect(kinds.filter((k) => k === 'retrying')).toHaveLength(2);
    await notificationEnded(id, failedRun.id);
    const [first, ...more] = callsTo(path);
    expect(more).toEqual([]);
    const sent = JSON.parse(first!.body);
    expect(sent).toMatchObject({
      event: 'failed',
      connector: { id, name: `c${n}` },
      run: {
        id: failedRun.id,
        status: 'failed',
        mode: 'incremental',
        error_kind: 'unreachable',
        attempts: failedRun.attempts,
        rows_read: 0,
      },
    });
    expect(verify(first!, secret)).toBe(true);
    expect(verify(first!, `${secret}x`)).toBe(false);
    const age = Math.floor(first!.at / 1000) - Number(first!.headers['x-qanatix-timestamp']);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThanOrEqual(2);
    expect(Date.parse(sent.at)).toBeGreaterThan(Date.now() - 60_000);
    expect(await events(id, failedRun.id)).toEqual([
      expect.objectContaining({
        kind: 'notification_sent',
        detail: expect.objectContaining({ event: 'failed', attempt: 1, status_code: 200 }),
      }),
    ]);

    // The source fixed: the first success recovers, the next one says nothing.
    expect((await call('PATCH', `/connectors/${id}`, { connection_config: { dsn: source.url } })).statusCode).toBe(200);
    const recovered = await finished(id, await pull(id));
    expect(recovered).toMatchObject({ status: 'succeeded', rows_read: 20 });
    await notificationEnded(id, recovered.id);
    const second = callsTo(path)[1]!;
    expect(JSON.parse(second.body)).toMatchObject({ event: 'recovered', run: { id: recovered.id, status: 'succeeded', rows_read: 20 } });
    expect(verify(second, secret)).toBe(true);

    const quiet = await finished(id, await pull(id));
    expect(quiet.status).toBe('succeeded');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(callsTo(path)).toHaveLength(2);
    expect(await events(id, quiet.id)).toEqual([]);
    expect(await registry.getSingleMetricAsString('qanatix_notifications_total')).toMatch(/outcome="delivered"} [1-9]/);
  });

  test('a connector that asks only for `recovered` gets no `failed` call', async () => {
    const { id, path } = await connector({ url: hook('/only-recovered'), on: ['recovered'] });
    worker();
    const failedRun = await finished(id, await pull(id));
    expect(failedRun.status).toBe('failed');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(callsTo(path)).toEqual([]);
    await call('PATCH', `/connectors/${id}`, { connection_config: { dsn: source.url } });
    const ok = await finished(id, await pull(id));
    await notificationEnded(id, ok.id);
    expect(callsTo(path).map((c) => JSON.parse(c.body).event)).toEqual(['recovered']);
  });
});

describe('a sweep the guard holds', () => {
  test('notifies needs_confirmation with how many entities it would delete', async () => {
    const { id, secret, path } = await connector({ url: hook('/held'), on: ['needs_confirmation'] }, true, {
      table: 'gadgets',
      deletes: { mode: 'soft', max_fraction: 0.5 },
    });
    worker();
    expect((await finished(id, await pull(id))).status).toBe('succeeded');
    await source.pool.query('delete from gadgets where id > 5');
    const held = await finished(id, await pull(id, { mode: 'sweep' }));
    expect(held).toMatchObject({ status: 'needs_confirmation', pending_deletes: 15 });
    await notificationEnded(id, held.id);
    const [c, ...more] = callsTo(path);
    expect(more).toEqual([]);
    expect(verify(c!, secret)).toBe(true);
    expect(JSON.parse(c!.body)).toMatchObject({
      event: 'needs_confirmation',
      run: { id: held.id, status: 'needs_confirmation', mode: 'sweep', pending_deletes: 15, error_kind: 'guard' },
    });
  });
});

describe('delivery: retries, giving up, time limits, redirects', () => {
  test('500 twice then 200: delivered on attempt 3, each attempt a run event', async () => {
    const { id, secret, path } = await connector({ url: hook('/five-hundred') });
    receiver.script.set(path, [500, 500, 200]);
    worker();
    const failedRun = await finished(id, await pull(id));
    const list = await notificationEnded(id, failedRun.id);
    expect(list.map((e) => [e.kind, e.detail.attempt, e.detail.status_code])).toEqual([
      ['notification_failed', 1, 500],
      ['notification_failed', 2, 500],
      ['notification_sent', 3, 200],
    ]);
    expect(list[0]!.detail).toMatchObject({ event: 'failed', error: 'the receiver answered 500' });
    expect(list[0]!.detail.given_up).toBeUndefined();
    const calls = callsTo(path);
    expect(calls).toHaveLength(3);
    expect(calls.every((c) => verify(c, secret))).toBe(true);
    // Each attempt is the same notification, signed anew when it is sent.
    const bodies = calls.map((c) => JSON.parse(c.body));
    expect(new Set(bodies.map((b) => `${b.event} ${b.run.id}`))).toEqual(new Set([`failed ${failedRun.id}`]));
    expect(bodies.map((b) => Date.parse(b.at))).toEqual(bodies.map((b) => Date.parse(b.at)).sort((x, y) => x - y));
  });

  test('410: given up after one attempt, recorded', async () => {
    const { id, path } = await connector({ url: hook('/gone') });
    receiver.script.set(path, [410]);
    worker();
    const failedRun = await finished(id, await pull(id));
    const list = await notificationEnded(id, failedRun.id);
    expect(list).toEqual([
      expect.objectContaining({
        kind: 'notification_failed',
        detail: expect.objectContaining({ attempt: 1, status_code: 410, given_up: true, error: 'the receiver answered 410' }),
      }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(callsTo(path)).toHaveLength(1);
  });

  test('a redirect is not followed: given up at once', async () => {
    const { id, path } = await connector({ url: hook('/moved') });
    receiver.script.set(path, [302]);
    worker();
    const failedRun = await finished(id, await pull(id));
    const list = await notificationEnded(id, failedRun.id);
    expect(list).toEqual([
      expect.objectContaining({
        detail: expect.objectContaining({ status_code: 302, given_up: true, error: expect.stringMatching(/redirects are not followed/) }),
      }),
    ]);
    expect(callsTo('/redirected')).toEqual([]);
  });

  test('a receiver that never answers: each attempt ends at the time limit, and the notification is given up after the fifth', async () => {
    const { id, path } = await connector({ url: hook('/hangs') });
    receiver.script.set(path, ['hang', 'hang', 'hang', 'hang', 'hang']);
    worker(400);
    const failedRun = await finished(id, await pull(id));
    const started = Date.now();
    const list = await notificationEnded(id, failedRun.id);
    expect(list.map((e) => [e.detail.attempt, e.detail.status_code, e.detail.error, e.detail.given_up ?? false])).toEqual([
      [1, null, 'no answer within 0.4 s', false],
      [2, null, 'no answer within 0.4 s', false],
      [3, null, 'no answer within 0.4 s', false],
      [4, null, 'no answer within 0.4 s', false],
      [5, null, 'no answer within 0.4 s', true],
    ]);
    expect(callsTo(path)).toHaveLength(5);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('the notify URL at delivery', () => {
  test('a name is called at the address it was checked at, and refused when it has come to resolve elsewhere', async () => {
    // hooks.test is unknown to DNS: only the checked answer (loopback, allowed here) can have reached the receiver.
    const pinned = await connector({ url: `http://hooks.test:${receiver.port}/pinned` });
    worker();
    const first = await finished(pinned.id, await pull(pinned.id));
    await notificationEnded(pinned.id, first.id);
    expect(callsTo('/pinned')).toHaveLength(1);
    expect(callsTo('/pinned')[0]!.headers.host).toBe(`hooks.test:${receiver.port}`);

    // Saved while localhost was loopback (allowed here); by the time of delivery it points elsewhere in the network.
    const moved = await connector({ url: `http://localhost:${receiver.port}/moved-inside` });
    localhostAddress = '10.20.30.40';
    try {
      const second = await finished(moved.id, await pull(moved.id));
      const list = await notificationEnded(moved.id, second.id);
      expect(list).toEqual([
        expect.objectContaining({
          kind: 'notification_failed',
          detail: expect.objectContaining({
            attempt: 1,
            given_up: true,
            error: expect.stringMatching(
              /^http:\/\/localhost:\d+\/moved-inside: localhost:\d+ is not among the source hosts this installation allows/,
            ),
          }),
        }),
      ]);
      expect(callsTo('/moved-inside')).toEqual([]);
    } finally {
      localhostAddress = '127.0.0.1';
    }
  });

  test('a run the reconciler fails notifies too, once', async () => {
    const { id, path } = await connector({ url: hook('/reconciled') }, true);
    const { rows } = await t.db.pool.query<{ id: string }>("select id from tenants where name = 'acme'");
    const runId = await createRun(t.db.pool, { connectorId: id, tenantId: rows[0]!.id, trigger: 'manual', mode: 'incremental' });
    // A job BullMQ fails without our processor seeing it (as past its stall limit): the run stays queued.
    const failerConnection = createRedis(redis.url);
    const failer = new Worker(PULL_QUEUE, async () => Promise.reject(new UnrecoverableError('stalled out')), {
      connection: failerConnection,
      prefix: QUEUE_PREFIX,
    });
    await queue.add(
      PULL_JOB,
      { connectorId: id, tenantId: rows[0]!.id, mode: 'incremental', trigger: 'manual', runId },
      { jobId: `run-${runId}` },
    );
    await waitFor('the job failed', async () => (await queue.getJob(`run-${runId}`))?.isFailed());
    await failer.close();
    failerConnection.disconnect();
    const notifyQueue = createNotifyQueue(conn);
    try {
      worker();
      for (let i = 0; i < 2; i++) {
        await recoverRuns(t.db.pool, queue, { connectorId: id, graceMs: 0 });
        await queuePendingNotifications(t.db.pool, notifyQueue, 0);
      }
      expect((await run(id, runId)).status).toBe('failed');
      await notificationEnded(id, runId);
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(callsTo(path).map((c) => JSON.parse(c.body))).toEqual([
        expect.objectContaining({ event: 'failed', run: expect.objectContaining({ id: runId }) }),
      ]);
    } finally {
      await notifyQueue.close();
    }
  });
});

describe('job data read back from Redis', () => {
  test('a forged or repeated notification job sends nothing: only the recorded notification of that connector of that tenant is sent, once', async () => {
    const { id, path } = await connector({ url: hook('/forged') });
    worker();
    const failedRun = await finished(id, await pull(id));
    await notificationEnded(id, failedRun.id);
    expect(callsTo(path)).toHaveLength(1);
    const { rows } = await t.db.pool.query<{ id: string }>("select id from tenants where name = 'acme'");
    const tenantId = rows[0]!.id;
    const other = await connector({ url: hook('/forged-other') });
    const notifyQueue = createNotifyQueue(conn);
    try {
      const forged = [
        { runId: failedRun.id, event: 'failed', connectorId: id, tenantId: '00000000-0000-4000-8000-000000000000' },
        { runId: failedRun.id, event: 'failed', connectorId: other.id, tenantId },
        { runId: failedRun.id, event: 'recovered', connectorId: id, tenantId },
        { runId: 'not-a-uuid', event: 'failed', connectorId: id, tenantId },
        // The real one again, under another job id: it was delivered, so nothing is sent.
        { runId: failedRun.id, event: 'failed', connectorId: id, tenantId },
      ];
      const jobs = await Promise.all(forged.map((data, i) => notifyQueue.add('notify', data, { jobId: `forged-${i}` })));
      await waitFor('the forged jobs are done', async () => {
        const states = await Promise.all(jobs.map((j) => j.getState()));
        return states.every((s) => s === 'failed' || s === 'completed') && states;
      });
      expect(await Promise.all(jobs.map((j) => j.getState()))).toEqual(['failed', 'failed', 'failed', 'failed', 'completed']);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(callsTo(path)).toHaveLength(1);
      expect(callsTo('/forged-other')).toEqual([]);
    } finally {
      await notifyQueue.close();
    }
  });
});

describe('secrets', () => {
  test('the signing secret and the URL credentials are in no answer, no Redis key and no log line; the call carries them', async () => {
    logged.length = 0;
    const url = `http://hook-user:hookpass-s3cret@127.0.0.1:${receiver.port}/with-secrets?token=tok-s3cret`;
    const { id, secret } = await connector({ url });
    worker();
    const failedRun = await finished(id, await pull(id));
    await notificationEnded(id, failedRun.id);
    const [delivered] = callsTo('/with-secrets');
    expect(delivered!.path).toBe('/with-secrets?token=tok-s3cret');
    expect(delivered!.headers.authorization).toBe(`Basic ${Buffer.from('hook-user:hookpass-s3cret').toString('base64')}`);

    const shown = (await call('GET', `/connectors/${id}`)).json();
    expect(shown.notify).toEqual({
      url: `http://***@127.0.0.1:${receiver.port}/with-secrets?***`,
      on: ['failed', 'recovered', 'needs_confirmation'],
    });
    expect(shown.notify_secret).toBeUndefined();
    const answers = [
      JSON.stringify(shown),
      (await call('GET', '/connectors')).body,
      (await call('GET', `/connectors/${id}/runs`)).body,
      (await call('GET', `/connectors/${id}/runs/${failedRun.id}/events`)).body,
    ];
    const dump: string[] = [];
    for (const k of await conn.keys('*')) {
      const type = await conn.type(k);
      if (type === 'string') dump.push(k, String(await conn.get(k)));
      else if (type === 'hash') dump.push(k, JSON.stringify(await conn.hgetall(k)));
      else if (type === 'list') dump.push(k, JSON.stringify(await conn.lrange(k, 0, -1)));
      else if (type === 'zset') dump.push(k, JSON.stringify(await conn.zrange(k, 0, -1)));
      else if (type === 'set') dump.push(k, JSON.stringify(await conn.smembers(k)));
      else if (type === 'stream') dump.push(k, JSON.stringify(await conn.xrange(k, '-', '+')));
    }
    expect(dump.join('\n')).toContain(failedRun.id);
    const settings = (await t.db.pool.query('select settings::text as s from connectors where id = $1', [id])).rows[0].s as string;
    for (const [where, text] of [
      ['answers', answers.join('\n')],
      ['redis', dump.join('\n')],
      ['log', logged.join('\n')],
      ['settings', settings],
    ] as const) {
      for (const secretText of [secret, 'hookpass-s3cret', 'tok-s3cret', 'hook-user']) {
        expect(text.includes(secretText), `${secretText} in ${where}`).toBe(false);
      }
    }
  });

  test('a rotated secret signs the next call; the old one no longer verifies, and is never shown again', async () => {
    const { id, secret, path } = await connector({ url: hook('/rotated') });
    const rotated = await call('POST', `/connectors/${id}/notify/rotate-secret`);
    expect(rotated.statusCode).toBe(200);
    const fresh = rotated.json().notify_secret as string;
    expect(fresh).toMatch(/^qnsec_[0-9a-f]{64}$/);
    expect(fresh).not.toBe(secret);
    worker();
    const failedRun = await finished(id, await pull(id));
    await notificationEnded(id, failedRun.id);
    const [c] = callsTo(path);
    expect(verify(c!, fresh)).toBe(true);
    expect(verify(c!, secret)).toBe(false);
    expect((await call('GET', `/connectors/${id}`)).body).not.toContain(fresh);
  });
});

describe('the notify setting', () => {
  test('an unknown event is refused with the nearest name; on defaults to every event; PATCH null removes it', async () => {
    const bad = await call('POST', '/connectors', {
      name: 'typo',
      connector_type: 'postgresql',
      connection_config: { dsn: source.url },
      vertical: 'typo',
      entity_type: 'product',
      table: 'products',
      notify: { url: hook('/x'), on: ['failed', 'recoverd', 'paged'] },
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().detail).toEqual([
      { loc: ['body', 'notify', 'on', '1'], msg: expect.stringContaining('did you mean "recovered"?'), type: 'invalid_value' },
      {
        loc: ['body', 'notify', 'on', '2'],
        msg: expect.stringContaining('use one of failed, recovered, needs_confirmation'),
        type: 'invalid_value',
      },
    ]);
    const typoField = await call('POST', '/connectors', {
      name: 'typo2',
      connector_type: 'postgresql',
      connection_config: { dsn: source.url },
      vertical: 'typo',
      entity_type: 'product',
      table: 'products',
      notify: { url: hook('/x'), event: ['failed'] },
    });
    expect(typoField.json().detail).toEqual([
      { loc: ['body', 'notify', 'event'], msg: expect.stringContaining('unknown field'), type: 'unknown_field' },
    ]);

    const { id, path } = await connector({ url: hook('/removed') });
    expect((await call('GET', `/connectors/${id}`)).json().notify.on).toEqual(['failed', 'recovered', 'needs_confirmation']);
    const patched = await call('PATCH', `/connectors/${id}`, { notify: null });
    expect(patched.json().changed_fields).toEqual(['notify']);
    expect(patched.json().notify).toBeUndefined();
    worker();
    const failedRun = await finished(id, await pull(id));
    expect(failedRun.status).toBe('failed');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(callsTo(path)).toEqual([]);
    // Set again by PATCH: the same file applied twice changes nothing the second time.
    const again = await call('PATCH', `/connectors/${id}`, { notify: { url: hook('/removed'), on: ['failed'] } });
    expect(again.json().changed_fields).toEqual(['notify']);
    expect((await call('PATCH', `/connectors/${id}`, { notify: { url: hook('/removed'), on: ['failed'] } })).json().changed_fields).toEqual(
      [],
    );
  });

  test('a connector saved before it had a signing secret gets one, shown once, when it first asks for notifications', async () => {
    const { id } = await connector(null);
    await t.db.pool.query('update connectors set notify_secret_sealed = null where id = $1', [id]);
    const first = (await call('PATCH', `/connectors/${id}`, { notify: { url: hook('/legacy') } })).json();
    expect(first.notify_secret).toMatch(/^qnsec_[0-9a-f]{64}$/);
    const second = (await call('PATCH', `/connectors/${id}`, { notify: { url: hook('/legacy'), on: ['failed'] } })).json();
    expect(second.changed_fields).toEqual(['notify']);
    expect(second.notify_secret).toBeUndefined();
    worker();
    const failedRun = await finished(id, await pull(id));
    await notificationEnded(id, failedRun.id);
    expect(verify(callsTo('/legacy')[0]!, first.notify_secret)).toBe(true);
  });
});
