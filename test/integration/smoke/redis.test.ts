import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, expect, test } from 'vitest';
import { serviceUrl } from '../../helpers/service-url';

const redis = new Redis(serviceUrl('redis'));
const key = `{qanatix-smoke}:${randomUUID()}`;
afterAll(async () => {
  await redis.del(key);
  redis.disconnect();
});

test('Redis: a hash written is read back unchanged', async () => {
  await redis.hset(key, { name: 'Ünïcode ✓', n: '42' });
  expect(await redis.hgetall(key)).toEqual({ name: 'Ünïcode ✓', n: '42' });
});
