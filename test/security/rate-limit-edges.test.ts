import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createPullQueue, type PullJobData } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { RATE_LIMIT_KEY_PREFIX, RateLimiter, TENANT_BUCKET_PREFIX, type LimitedKey } from '../../src/api/rate-limit';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';

/**
 * The token bucket at its edges, on a Redis of the test's own: a limit of 1, a burst to the limit, partial refills,
 * the headers' numbers at each step, several API processes whose clocks disagree, and many callers at once. Elapsed
 * time is made by moving a bucket's `at` back on Redis' own clock, the clock the script reads.
 */

let redis: PrivateRedis;
let conn: Redis;
let queue: Queue<PullJobData>;
const limiters: RateLimiter[] = [];
const log = pino({ level: 'silent' });

beforeAll(async () => {
  redis = await privateRedis();
  conn = createRedis(redis.url, log);
  queue = createPullQueue(conn, log);
});
afterAll(async () => {
  for (const l of limiters) l.close();
  await queue?.close();
  conn?.disconnect();
  await redis?.stop();
});

async function limiter(): Promise<RateLimiter> {
  const l = RateLimiter.forQueue(queue, log);
  limiters.push(l);
  await l.ready();
  return l;
}
const redisNowMs = async () => {
  const [s, us] = await conn.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
};
/** A key whose tenant has no other key and a ceiling it never reaches: only the key's own bucket counts. */
const alone = (keyId: string, limit: number): LimitedKey => ({ keyId, limit, tenantId: keyId, tenantLimit: 1_000_000 });
/** Makes `ms` pass for the bucket: its last update moves back by that much. */
const elapse = async (keyId: string, ms: number, prefix = RATE_LIMIT_KEY_PREFIX) => {
  const bucket = prefix + keyId;
  const at = Number(await conn.hget(bucket, 'at'));
  await conn.hset(bucket, 'at', String(at - ms));
};

describe('the token bucket at its edges', () => {
  test('a limit of 1: one request, then 429 for a minute (Retry-After 60), then one again', async () => {
    const l = await limiter();
    const key = randomUUID();
    const now = await redisNowMs();
    const first = (await l.take(alone(key, 1)))!;
    expect(first).toMatchObject({ admitted: true, limit: 1, remaining: 0, retryAfter: 60 });
    expect(first.resetAt).toBeGreaterThanOrEqual(Math.floor(now / 1000) + 60);
    expect(first.resetAt).toBeLessThanOrEqual(Math.ceil(now / 1000) + 61);
    const second = (await l.take(alone(key, 1)))!;
    expect(second).toMatchObject({ admitted: false, remaining: 0, retryAfter: 60 });
    await elapse(key, 30_000);
    expect(await l.take(alone(key, 1))).toMatchObject({ admitted: false, remaining: 0, retryAfter: 30 });
    await elapse(key, 29_000);
    expect(await l.take(alone(key, 1))).toMatchObject({ admitted: false, remaining: 0, retryAfter: 1 });
    await elapse(key, 1_000);
    expect(await l.take(alone(key, 1))).toMatchObject({ admitted: true, remaining: 0 });
  });

  test('a burst to the limit counts down one by one, the next is refused, and a refused request takes nothing', async () => {
    const l = await limiter();
    const key = randomUUID();
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const d = (await l.take(alone(key, 5)))!;
      expect(d.admitted).toBe(true);
      remaining.push(d.remaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);
    for (let i = 0; i < 20; i++) expect((await l.take(alone(key, 5)))!.admitted).toBe(false);
    // 5 a minute: one token each 12 s, whatever was refused in between.
    await elapse(key, 12_000);
    expect(await l.take(alone(key, 5))).toMatchObject({ admitted: true, remaining: 0 });
    await elapse(key, 60_000);
    expect(await l.take(alone(key, 5))).toMatchObject({ admitted: true, remaining: 4 });
  });

  test('a refill never overfills: idle for an hour, a bucket holds its limit and no more', async () => {
    const l = await limiter();
    const key = randomUUID();
    await l.take(alone(key, 10));
    await elapse(key, 3_600_000);
    expect(await l.take(alone(key, 10))).toMatchObject({ admitted: true, remaining: 9 });
  });

  test("a bucket written ahead of Redis' clock (a failover to a replica behind) gets no refill, not a full bucket", async () => {
    const l = await limiter();
    const key = randomUUID();
    for (let i = 0; i < 3; i++) await l.take(alone(key, 3));
    expect((await l.take(alone(key, 3)))!.admitted).toBe(false);
    // The replica's clock is 5 s behind the primary that wrote the bucket.
    await elapse(key, -5_000);
    expect(await l.take(alone(key, 3))).toMatchObject({ admitted: false, remaining: 0 });
    // From then on the bucket refills on the new clock: 20 s is one token at 3 a minute.
    await elapse(key, 20_000);
    expect(await l.take(alone(key, 3))).toMatchObject({ admitted: true, remaining: 0 });
  });

  test('API processes whose clocks are hours apart count one bucket the same way', async () => {
    const [a, b] = [await limiter(), await limiter()];
    const key = randomUUID();
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const admitted: boolean[] = [];
      for (let i = 0; i < 6; i++) {
        // Each call from another process whose clock is off by hours, forwards or backwards.
        vi.setSystemTime(Date.now() + (i % 2 === 0 ? 1 : -1) * 3 * 3_600_000);
        admitted.push((await (i % 2 === 0 ? a : b).take(alone(key, 4)))!.admitted);
      }
      expect(admitted).toEqual([true, true, true, true, false, false]);
    } finally {
      vi.useRealTimers();
    }
  });

  test('many callers at once through several processes: exactly the limit is admitted', async () => {
    const processes = [await limiter(), await limiter(), await limiter()];
    const key = randomUUID();
    const decisions = await Promise.all(Array.from({ length: 300 }, (_, i) => processes[i % 3]!.take(alone(key, 37))));
    expect(decisions.filter((d) => d!.admitted)).toHaveLength(37);
    expect(Math.min(...decisions.map((d) => d!.remaining))).toBe(0);
  });

  describe("all of a tenant's keys together", () => {
    const keysOf = (tenantId: string, n: number, limit: number, tenantLimit: number): LimitedKey[] =>
      Array.from({ length: n }, () => ({ keyId: randomUUID(), limit, tenantId, tenantLimit }));

    test('more keys do not mean more requests: 4 keys of 20 under a tenant ceiling of 30 get 30 in all', async () => {
      const l = await limiter();
      const tenant = randomUUID();
      const keys = keysOf(tenant, 4, 20, 30);
      const decisions = [];
      for (let round = 0; round < 20; round++) for (const k of keys) decisions.push((await l.take(k))!);
      expect(decisions.filter((d) => d.admitted)).toHaveLength(30);
      const refused = decisions.filter((d) => !d.admitted);
      // No key reached its own 20: every refusal is the tenant's, and says so with the tenant's numbers.
      expect(refused.every((d) => d.bucket === 'tenant' && d.limit === 30 && d.remaining === 0 && d.retryAfter === 2)).toBe(true);
      // Another tenant's keys are untouched by it.
      const other = keysOf(randomUUID(), 2, 20, 30)[0]!;
      expect(await l.take(other)).toMatchObject({ admitted: true, bucket: 'key', limit: 20, remaining: 19 });
    });

    test("a request its key refuses takes nothing from the tenant's bucket, and one the tenant refuses nothing from the key's", async () => {
      const l = await limiter();
      const tenant = randomUUID();
      const [small, big] = [{ ...keysOf(tenant, 1, 2, 10)[0]! }, { ...keysOf(tenant, 1, 100, 10)[0]! }];
      for (let i = 0; i < 2; i++) expect((await l.take(small))!.admitted).toBe(true);
      for (let i = 0; i < 5; i++) expect(await l.take(small)).toMatchObject({ admitted: false, bucket: 'key', limit: 2 });
      // 2 of the tenant's 10 taken: the other key gets exactly 8.
      const admitted = [];
      for (let i = 0; i < 12; i++) admitted.push((await l.take(big))!.admitted);
      expect(admitted.filter(Boolean)).toHaveLength(8);
      expect(Number(await conn.hget(RATE_LIMIT_KEY_PREFIX + big.keyId, 'tokens'))).toBeCloseTo(92, 0);
      // The tenant refills (6 s is one token at 10 a minute); the small key's own bucket still refuses it.
      await elapse(tenant, 6_000, TENANT_BUCKET_PREFIX);
      expect(await l.take(small)).toMatchObject({ admitted: false, bucket: 'key' });
      expect(await l.take(big)).toMatchObject({ admitted: true });
    });

    test('the headers show the bucket that binds: the key while it has fewer left, the tenant once it has', async () => {
      const l = await limiter();
      const tenant = randomUUID();
      const [a, b] = keysOf(tenant, 2, 10, 15) as [LimitedKey, LimitedKey];
      expect(await l.take(a)).toMatchObject({ bucket: 'key', limit: 10, remaining: 9 });
      for (let i = 0; i < 7; i++) await l.take(b);
      // a: 9 left of 10; the tenant: 7 left of 15.
      expect(await l.take(a)).toMatchObject({ admitted: true, bucket: 'tenant', limit: 15, remaining: 6 });
    });

    test('many callers at once through several processes on many keys of one tenant: exactly its ceiling is admitted', async () => {
      const processes = [await limiter(), await limiter(), await limiter()];
      const keys = keysOf(randomUUID(), 6, 50, 41);
      const decisions = await Promise.all(Array.from({ length: 300 }, (_, i) => processes[i % 3]!.take(keys[i % 6]!)));
      expect(decisions.filter((d) => d!.admitted)).toHaveLength(41);
    });
  });
});
