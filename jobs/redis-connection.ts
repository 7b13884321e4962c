import { Redis } from 'ioredis';

/** One hash tag for every key, so a Redis Cluster keeps a queue's keys in one slot. */
export const QUEUE_PREFIX = '{qanatix}';

/** A connection BullMQ can use: it must retry forever rather than fail a blocking command. */
export function createRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
  // Reconnection is ioredis' job; an unhandled 'error' event would crash the process instead.
  redis.on('error', () => {});
  return redis;
}
