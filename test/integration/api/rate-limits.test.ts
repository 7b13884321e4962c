import { spawn } from 'node:child_process';
import { Writable } from 'node:stream';
import type { Queue } from 'bullmq';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, type PullJobData } from '../../../jobs/pull-queue';
import { createRedis } from '../../../jobs/redis-connection';
import { buildApp } from '../../../src/api/app';
import { RATE_LIMIT_KEY_PREFIX } from '../../../src/api/rate-limit';
import { createApiKey, ensureTenant, type Scope } from '../../../src/auth/api-keys';
import { createOperator } from '../../../src/auth/operator-credentials';
import { loadConfig, type Config } from '../../../src/config';
import { SecretBox } from '../../../src/crypto/secret-box';
import { bearer, TEST_SALT } from '../../helpers/api';
import { privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

/**
 * Per-key rate limits as QANATIX clients see them: X-RateLimit-* on every response to a tenant key, 429 with
 * Retry-After past the limit, one bucket per key shared by every API process through Redis, and requests that
 * pass (logged once) while Redis is away.
 */

const DEFAULT_LIMIT = 40;
let db: TestDatabase;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let app: FastifyInstance;
const logLines: Array<{ level: number; msg: string; component?: string }> = [];

const config = (overrides: Partial<Config> = {}): Config => ({
  ...loadConfig({ API_KEY_SALT: TEST_SALT }),
  databaseUrl: db.url,
  rateLimitPerMinute: DEFAULT_LIMIT,
  ...overrides,
});

async function appWith(overrides: Partial<Config> = {}, pullQueue: Queue<PullJobData> | null = queue): Promise<FastifyInstance> {
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  return buildApp({
    pool: db.pool,
    config: config(overrides),
    box: SecretBox.fromEnv({}, true),
    pullQueue,
    logger: pino({ level: 'info' }, sink),
  });
}

let tenantN = 0;
async function key(scopes: Scope[] = ['read', 'ingest', 'admin'], limit: number | null = null): Promise<{ key: string; id: string }> {
  const tenantId = await ensureTenant(db.pool, `rl-${tenantN++}`);
  return createApiKey(db.pool, TEST_SALT, tenantId, 'rate limited', scopes, null, limit);
}

const get = (a: FastifyInstance, k: string, url = '/api/v1/entities', headers: Record<string, string> = {}) =>
  a.inject({ method: 'GET', url, headers: { ...bearer(k), ...headers } });
const call = (a: FastifyInstance, k: string, method: InjectOptions['method'], url: string, payload?: object) =>
  a.inject({ method, url, headers: bearer(k), ...(payload ? { payload } : {}) });

/** The three headers as numbers; undefined when absent. */
const limits = (res: LightMyRequestResponse) => ({
  limit: num(res.headers['x-ratelimit-limit']),
  remaining: num(res.headers['x-ratelimit-remaining']),
  reset: num(res.headers['x-ratelimit-reset']),
});
const num = (v: unknown) => (v === undefined ? undefined : Number(v));
const nowSeconds = () => Date.now() / 1000;

beforeAll(async () => {
  [db, redis] = await Promise.all([freshDatabase(), privateRedis()]);
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  app = await appWith();
});

afterAll(async () => {
  await app?.close();
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
  await db?.drop();
});

describe('headers and 429, as the reference shows them', () => {
  test('every authenticated response carries X-RateLimit-Limit/Remaining/Reset, errors included, and counts down', async () => {
    const { key: k } = await key(['read'], 5);
    const answers = [
      await get(app, k), // 200
      await get(app, k, '/api/v1/entities/00000000-0000-4000-8000-000000000000'), // 404
      await get(app, k, '/api/v1/entities?limit=0'), // 422
      await call(app, k, 'POST', '/api/v1/ingest/shop/item/batch', { records: [{ name: 'x' }] }), // 403: the key lacks ingest
    ];
    expect(answers.map((r) => r.statusCode)).toEqual([200, 404, 422, 403]);
    const before = nowSeconds();
    expect(answers.map((r) => limits(r).limit)).toEqual([5, 5, 5, 5]);
    expect(answers.map((r) => limits(r).remaining)).toEqual([4, 3, 2, 1]);
    for (const r of answers) {
      // 5 a minute: one token every 12 s; the bucket is full again at most 4 × 12 s from now, a Unix time in seconds.
      const reset = limits(r).reset!;
      expect(Number.isInteger(reset)).toBe(true);
      expect(reset).toBeGreaterThan(before);
      expect(reset).toBeLessThanOrEqual(Math.ceil(before + 4 * 12 + 1));
    }
  });

  test('past the limit: 429, Retry-After and {"detail": "Rate limit exceeded. Retry after N seconds."}, N the same in both', async () => {
    const { key: k } = await key(['read'], 3);
    for (let i = 0; i < 3; i++) expect((await get(app, k)).statusCode).toBe(200);
    const refused = await get(app, k);
    expect(refused.statusCode).toBe(429);
    const retryAfter = Number(refused.headers['retry-after']);
    // 3 a minute: a token every 20 s, so the wait is between 1 and 20 s.
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    expect(refused.json()).toEqual({ detail: `Rate limit exceeded. Retry after ${retryAfter} seconds.` });
    expect(limits(refused)).toMatchObject({ limit: 3, remaining: 0 });
    expect(refused.headers['x-request-id']).toMatch(/^req_/);
    // Refused requests take no token: still refused, never a negative count.
    expect(limits(await get(app, k))).toMatchObject({ remaining: 0 });
  });

  test('a refused client that waits Retry-After seconds is admitted again (60 a minute: one a second)', async () => {
    const { key: k } = await key(['read'], 60);
    // 100 at once: 60 admitted, or a few more when the burst takes over a second on a loaded machine (one a second
    // refills); requests one after another could be slower than the refill and never be refused.
    const answers = await Promise.all(Array.from({ length: 100 }, () => get(app, k)));
    const refused = answers.filter((r) => r.statusCode === 429);
    expect(answers.length - refused.length).toBeGreaterThanOrEqual(60);
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((r) => r.headers['retry-after']))).toEqual(new Set(['1']));
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get(app, k)).statusCode).toBe(200);
  });

  test('a key without a limit of its own gets the installation default (RATE_LIMIT_PER_MINUTE)', async () => {
    const { key: k } = await key(['read']);
    expect(limits(await get(app, k))).toMatchObject({ limit: DEFAULT_LIMIT, remaining: DEFAULT_LIMIT - 1 });
  });

  test("each key has its own bucket: one key used up leaves the tenant's other keys alone", async () => {
    const tenantId = await ensureTenant(db.pool, 'two-keys');
    const first = await createApiKey(db.pool, TEST_SALT, tenantId, 'one', ['read'], null, 2);
    const second = await createApiKey(db.pool, TEST_SALT, tenantId, 'two', ['read'], null, 2);
    await get(app, first.key);
    await get(app, first.key);
    expect((await get(app, first.key)).statusCode).toBe(429);
    expect(limits(await get(app, second.key))).toMatchObject({ limit: 2, remaining: 1 });
  });

  test("a tenant's keys together stop at TENANT_RATE_LIMIT_PER_MINUTE: a new key does not buy more requests", async () => {
    const capped = await appWith({ tenantRateLimitPerMinute: 5 });
    try {
      const tenantId = await ensureTenant(db.pool, 'many-keys');
      const keys = await Promise.all([1, 2, 3].map((n) => createApiKey(db.pool, TEST_SALT, tenantId, `k${n}`, ['read'], null, 4)));
      const statuses = [];
      for (const k of [...keys, ...keys]) statuses.push((await get(capped, k.key)).statusCode);
      expect(statuses.filter((s) => s === 200)).toHaveLength(5);
      const refused = await get(capped, keys[2]!.key);
      expect(refused.statusCode).toBe(429);
      const retryAfter = Number(refused.headers['retry-after']);
      expect(refused.json()).toEqual({
        detail: `Rate limit exceeded (all of this tenant's keys together). Retry after ${retryAfter} seconds.`,
      });
      expect(limits(refused)).toMatchObject({ limit: 5, remaining: 0 });
      // A key made now is refused too; another tenant is not.
      const fresh = await createApiKey(db.pool, TEST_SALT, tenantId, 'k4', ['read'], null, 4);
      expect((await get(capped, fresh.key)).statusCode).toBe(429);
      const { key: other } = await key(['read'], 4);
      expect((await get(capped, other)).statusCode).toBe(200);
    } finally {
      await capped.close();
    }
  });

  test('the bucket is counted in Redis under the {qanatix} hash tag, by key id (never the key itself)', async () => {
    const { key: k, id } = await key(['read'], 7);
    await get(app, k);
    const stored = await conn.hgetall(`${RATE_LIMIT_KEY_PREFIX}${id}`);
    expect(RATE_LIMIT_KEY_PREFIX.startsWith('{qanatix}:')).toBe(true);
    expect(Number(stored.tokens)).toBeCloseTo(6, 0);
    const everything = JSON.stringify(await Promise.all((await conn.keys('*')).map(async (name) => [name, await conn.type(name)])));
    expect(everything).not.toContain(k.slice(8));
    // It expires once it would be full again: an idle key leaves nothing behind.
    const ttl = await conn.pttl(`${RATE_LIMIT_KEY_PREFIX}${id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000 / 7 + 1000 + 10);
  });

  test('concurrent requests never get more than the limit: 50 at once against a limit of 20 admit exactly 20', async () => {
    const { key: k } = await key(['read'], 20);
    const second = await appWith();
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => get(i % 2 ? app : second, k)));
      const statuses = answers.map((r) => r.statusCode);
      expect(statuses.filter((s) => s === 200)).toHaveLength(20);
      expect(statuses.filter((s) => s === 429)).toHaveLength(30);
    } finally {
      await second.close();
    }
  });

  test('rotating a key keeps its bucket: a used-up key is still limited under its new secret', async () => {
    const tenantId = await ensureTenant(db.pool, 'rotating');
    const admin = await createApiKey(db.pool, TEST_SALT, tenantId, 'admin', ['admin'], null, 100);
    const busy = await createApiKey(db.pool, TEST_SALT, tenantId, 'busy', ['read'], null, 2);
    await get(app, busy.key);
    await get(app, busy.key);
    const rotated = await call(app, admin.key, 'POST', `/api/v1/auth/keys/${busy.id}/rotate`);
    expect(rotated.statusCode).toBe(200);
    const refused = await get(app, rotated.json().key);
    expect(refused.statusCode).toBe(429);
  });
});

describe('what is not limited', () => {
  test('operator credentials, /healthz, /readyz and /metrics carry no rate-limit headers and are never refused', async () => {
    const operator = (await createOperator(db.pool, TEST_SALT, `oncall-${Date.now()}`)).token;
    const before = await conn.keys(`${RATE_LIMIT_KEY_PREFIX}*`);
    for (let i = 0; i < DEFAULT_LIMIT + 5; i++) {
      const res = await get(app, operator, '/api/v1/queues');
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    }
    for (const url of ['/healthz', '/readyz', '/metrics']) {
      const res = await get(app, operator, url);
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['x-ratelimit-limit'], url).toBeUndefined();
    }
    // No bucket made (buckets of the tests before may expire meanwhile: a full bucket is dropped).
    expect((await conn.keys(`${RATE_LIMIT_KEY_PREFIX}*`)).filter((k) => !before.includes(k))).toEqual([]);
  });

  test('an unknown key is refused (401) before any bucket is touched', async () => {
    const before = await conn.keys(`${RATE_LIMIT_KEY_PREFIX}*`);
    const res = await get(app, 'sk_live_' + 'ab'.repeat(32));
    expect(res.statusCode).toBe(401);
    expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    expect((await conn.keys(`${RATE_LIMIT_KEY_PREFIX}*`)).filter((k) => !before.includes(k))).toEqual([]);
  });

  test('RATE_LIMIT_ENABLED=false, or an API without Redis: no headers, no 429', async () => {
    const { key: k } = await key(['read'], 1);
    for (const other of [await appWith({ rateLimitEnabled: false }), await appWith({}, null)]) {
      try {
        for (let i = 0; i < 3; i++) {
          const res = await get(other, k);
          expect(res.statusCode).toBe(200);
          expect(res.headers['x-ratelimit-limit']).toBeUndefined();
        }
      } finally {
        await other.close();
      }
    }
    expect(loadConfig({ API_KEY_SALT: 'x', RATE_LIMIT_ENABLED: 'false' }).rateLimitEnabled).toBe(false);
    expect(loadConfig({ API_KEY_SALT: 'x' }).rateLimitEnabled).toBe(true);
    expect(() => loadConfig({ API_KEY_SALT: 'x', RATE_LIMIT_ENABLED: 'maybe' })).toThrow(/RATE_LIMIT_ENABLED must be true or false/);
    expect(() => loadConfig({ API_KEY_SALT: 'x', RATE_LIMIT_PER_MINUTE: '0' })).toThrow(
      /RATE_LIMIT_PER_MINUTE must be a whole number of requests a minute/,
    );
    expect(loadConfig({ API_KEY_SALT: 'x', RATE_LIMIT_PER_MINUTE: '250' }).rateLimitPerMinute).toBe(250);
  });
});

describe('Redis away', () => {
  test('killed: requests pass without headers, the outage is logged once, and limits come back with Redis', async () => {
    const { key: k } = await key(['read'], 3);
    for (let i = 0; i < 3; i++) await get(app, k);
    expect((await get(app, k)).statusCode).toBe(429);
    const from = logLines.length;
    await redis.kill();
    const during = [];
    const started = Date.now();
    for (let i = 0; i < 20; i++) during.push(await get(app, k));
    expect(during.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
    expect(during.every((r) => r.headers['x-ratelimit-limit'] === undefined)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    const failing = () => logLines.slice(from).filter((l) => l.component === 'redis (rate limits)' && /is failing/.test(l.msg));
    await waitFor('the outage in the log', () => failing().length > 0);

    await redis.start();
    // A new Redis starts empty: the key's bucket is full again, and counted again once the connection is back.
    const back = await waitFor('limits to come back', async () => {
      const res = await get(app, k);
      return res.headers['x-ratelimit-limit'] ? res : null;
    });
    expect(limits(back)).toMatchObject({ limit: 3, remaining: 2 });
    expect(failing()).toHaveLength(1);
    const recovered = logLines.slice(from).filter((l) => l.component === 'redis (rate limits)' && /works again/.test(l.msg));
    expect(recovered).toHaveLength(1);
    await get(app, k);
    await get(app, k);
    expect((await get(app, k)).statusCode).toBe(429);
  });
});

describe('Redis hung (SIGSTOP): connected, but silent', () => {
  test('a request waits at most about half a second, the next ones none, and limits come back when Redis does', async () => {
    const { freePort } = await import('../../helpers/private-redis');
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: 'ignore',
    });
    const quiet = { info() {}, warn() {}, error() {} };
    const hungConn = createRedis(`redis://127.0.0.1:${port}`, quiet);
    await waitFor('redis-server', async () => (await hungConn.ping().catch(() => null)) === 'PONG', 10_000, 50);
    const hungQueue = createPullQueue(hungConn, quiet);
    const other = await appWith({}, hungQueue);
    try {
      const { key: k } = await key(['read'], 2);
      expect(limits(await get(other, k)).remaining).toBe(1);
      server.kill('SIGSTOP');
      const timed = async () => {
        const started = Date.now();
        const res = await get(other, k);
        return { status: res.statusCode, limited: res.headers['x-ratelimit-limit'] !== undefined, ms: Date.now() - started };
      };
      const first = await timed();
      expect(first).toMatchObject({ status: 200, limited: false });
      expect(first.ms).toBeLessThan(1500);
      const next = await timed();
      expect(next).toMatchObject({ status: 200, limited: false });
      expect(next.ms).toBeLessThan(200);
      server.kill('SIGCONT');
      await waitFor('limits to apply again', async () => (await get(other, k)).statusCode === 429, 30_000, 200);
    } finally {
      server.kill('SIGCONT');
      await other.close();
      await hungQueue.close();
      hungConn.disconnect();
      await new Promise((r) => {
        server.once('exit', r);
        server.kill('SIGKILL');
      });
    }
  });
});

describe('Redis away when the API starts', () => {
  test('the API starts within a second or so, requests pass, and limits apply once Redis answers', async () => {
    const late = await privateRedis();
    await late.kill();
    const lateConn = createRedis(late.url, { info() {}, warn() {}, error() {} });
    const lateQueue = createPullQueue(lateConn, { info() {}, warn() {}, error() {} });
    const started = Date.now();
    const other = await appWith({}, lateQueue);
    try {
      expect(Date.now() - started).toBeLessThan(5000);
      const { key: k } = await key(['read'], 2);
      for (let i = 0; i < 4; i++) {
        const res = await get(other, k);
        expect(res.statusCode).toBe(200);
        expect(res.headers['x-ratelimit-limit']).toBeUndefined();
      }
      await late.start();
      await waitFor('limits to apply', async () => (await get(other, k)).statusCode === 429, 30_000, 200);
    } finally {
      await other.close();
      await lateQueue.close();
      lateConn.disconnect();
      await late.stop();
    }
  });
});

describe('several API processes', () => {
  let apis: ChildRole[] = [];
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.kill()));
  });

  test('two `qanatix api` processes share one bucket per key: what one admitted, the other counts', async () => {
    const { freePort } = await import('../../helpers/private-redis');
    const ports = [await freePort(), await freePort()];
    const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, API_KEY_SALT: TEST_SALT, HOST: '127.0.0.1', LOG_LEVEL: 'warn' };
    apis = ports.map((port) => spawnRole('api', { ...env, PORT: String(port) }));
    for (const [i, port] of ports.entries()) {
      await waitFor(
        `API process ${i + 1}`,
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok,
        60_000,
        200,
      );
    }
    const via = (p: number, k: string) => fetch(`http://127.0.0.1:${ports[p]}/api/v1/entities`, { headers: bearer(k) });

    const one = await key(['read'], 30);
    for (let i = 0; i < 20; i++) expect((await via(0, one.key)).status).toBe(200);
    const tenth = [];
    for (let i = 0; i < 10; i++) tenth.push(await via(1, one.key));
    expect(tenth.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(tenth.map((r) => Number(r.headers.get('x-ratelimit-remaining')))).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect((await via(0, one.key)).status).toBe(429);
    expect((await via(1, one.key)).status).toBe(429);

    // At once, spread over both: exactly the limit is admitted.
    const two = await key(['read'], 30);
    const statuses = await Promise.all(Array.from({ length: 60 }, (_, i) => via(i % 2, two.key).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
  });
});
