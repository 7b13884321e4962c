import { Redis } from 'ioredis';
import { outageLog, stderrLogger, type Logger } from '../src/outage-log';

/** One hash tag for every key, so a Redis Cluster keeps a queue's keys in one slot. */
export const QUEUE_PREFIX = '{qanatix}';

/**
 * A connection BullMQ can use: it must retry forever rather than fail a blocking command. Reconnecting is
 * ioredis' job; its 'error' events (one per attempt while Redis is away) are logged once per outage.
 */
export function createRedis(url: string, log: Logger = stderrLogger, what = 'redis'): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
  const errors = outageLog(log, what);
  redis.on('error', errors.down);
  redis.on('ready', errors.up);
  return redis;
}
