import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPullQueue, type PullJobData } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { RATE_LIMIT_KEY_PREFIX } from '../../src/api/rate-limit';
import { bearer, testApi, type TestApi } from '../helpers/api';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';

/**
 * A tenant admin sets its keys' rate limits and rotates them: every value it may send is hostile. It may lower a key's
 * limit, never raise it past the installation's default; and whatever a bucket in Redis holds, the limiter answers
 * with sane numbers.
 */

const DEFAULT_LIMIT = 50;
let t: TestApi;
let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
let admin: string;

beforeAll(async () => {
  redis = await privateRedis();
  conn = createRedis(redis.url);
  queue = createPullQueue(conn);
  t = await testApi({ rateLimitPerMinute: DEFAULT_LIMIT }, queue);
  admin = await t.key('limits', ['admin']);
});
afterAll(async () => {
  await t?.close();
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
});

const createKey = (body: object) => t.app.inject({ method: 'POST', url: '/api/v1/auth/keys', headers: bearer(admin), payload: body });
const keyCount = async () => (await t.db.pool.query('select count(*)::int as n from api_keys')).rows[0].n as number;

describe('rate_limit_per_minute on POST /auth/keys', () => {
  test('values that are no limit, or more than the installation allows: 422 at body.rate_limit_per_minute, and no key made', async () => {
    const before = await keyCount();
    const refused = [
      0,
      -1,
      -1000,
      1.5,
      49.999,
      DEFAULT_LIMIT + 1,
      1_000_000,
      1_000_001,
      2 ** 31,
      1e300,
      'many',
      '',
      '1e3x',
      [],
      [10],
      {},
      { n: 1 },
    ];
    for (const value of refused) {
      const res = await createKey({ name: 'hostile', scopes: ['read'], rate_limit_per_minute: value });
      expect({ value, status: res.statusCode }).toEqual({ value, status: 422 });
      expect(
        res.json().detail.map((d: { loc: unknown[] }) => d.loc),
        JSON.stringify(value),
      ).toContainEqual(['body', 'rate_limit_per_minute']);
    }
    const tooHigh = await createKey({ name: 'greedy', scopes: ['read'], rate_limit_per_minute: DEFAULT_LIMIT + 1 });
    expect(tooHigh.json().detail[0]).toEqual({
      loc: ['body', 'rate_limit_per_minute'],
      msg: `rate_limit_per_minute may be at most ${DEFAULT_LIMIT} on this installation; its operator can create keys with higher limits`,
      type: 'value_error',
    });
    expect(await keyCount()).toBe(before);
  });

  test('a limit from 1 to the default is kept, listed, and is what the key is held to', async () => {
    for (const limit of [1, 7, DEFAULT_LIMIT]) {
      const res = await createKey({ name: `limited ${limit}`, scopes: ['read'], rate_limit_per_minute: limit });
      expect(res.statusCode).toBe(201);
      expect(res.json().rate_limit_per_minute).toBe(limit);
      const first = await t.app.inject({ method: 'GET', url: '/api/v1/entities', headers: bearer(res.json().key) });
      expect(first.headers['x-ratelimit-limit']).toBe(String(limit));
      expect(first.headers['x-ratelimit-remaining']).toBe(String(limit - 1));
    }
    const listed = (await t.app.inject({ method: 'GET', url: '/api/v1/auth/keys', headers: bearer(admin) })).json();
    expect(listed.map((k: { rate_limit_per_minute: number | null }) => k.rate_limit_per_minute)).toEqual(
      expect.arrayContaining([null, 1, 7, DEFAULT_LIMIT]),
    );
  });

  test('the database refuses a limit outside 1 to 1,000,000 whoever writes it', async () => {
    for (const bad of [0, -5, 1_000_001]) {
      await expect(t.db.pool.query('update api_keys set rate_limit_per_minute = $1', [bad])).rejects.toThrow(/check constraint/);
    }
  });
});

describe('whatever a bucket in Redis holds', () => {
  test('garbage, negative, huge, NaN or infinite state: the key gets a fresh bucket, never a 500 or a wrong count', async () => {
    const created = (await createKey({ name: 'bucket', scopes: ['read'], rate_limit_per_minute: 10 })).json();
    const bucket = `${RATE_LIMIT_KEY_PREFIX}${created.id}`;
    const far = String(Date.now() + 10 * 365 * 86_400_000);
    const states: Array<Record<string, string>> = [
      { tokens: 'abc', at: 'def' },
      { tokens: 'nan', at: '0' },
      { tokens: 'inf', at: '0' },
      { tokens: '-inf', at: '0' },
      { tokens: '-5', at: '0' },
      { tokens: '1e308', at: '0' },
      { tokens: '5', at: 'nan' },
      { tokens: '5' },
      { at: '0' },
      { other: 'x' },
    ];
    for (const state of states) {
      await conn.del(bucket);
      await conn.hset(bucket, state);
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/entities', headers: bearer(created.key) });
      expect({ state, status: res.statusCode }).toEqual({ state, status: 200 });
      expect({ state, remaining: res.headers['x-ratelimit-remaining'] }).toEqual({ state, remaining: '9' });
    }
    // Written ahead of Redis' clock, however far: its tokens as they are, no refill, never a fresh bucket.
    for (const at of [far, 'inf']) {
      await conn.del(bucket);
      await conn.hset(bucket, { tokens: '5', at });
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/entities', headers: bearer(created.key) });
      expect({ at, status: res.statusCode, remaining: res.headers['x-ratelimit-remaining'] }).toEqual({ at, status: 200, remaining: '4' });
    }
    // Not a hash at all: replaced by a fresh bucket too.
    for (const write of [() => conn.set(bucket, 'a string'), () => conn.rpush(bucket, 'x'), () => conn.sadd(bucket, 'x')]) {
      await conn.del(bucket);
      await write();
      const res = await t.app.inject({ method: 'GET', url: '/api/v1/entities', headers: bearer(created.key) });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-remaining']).toBe('9');
    }
  });
});
