import type { Queue } from 'bullmq';
import type { FastifyReply } from 'fastify';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { PullJobData } from '../../jobs/pull-queue';
import { QUEUE_PREFIX } from '../../jobs/redis-connection';
import { outageLog, type Logger, type OutageLog } from '../outage-log';
import { HttpError } from './http-error';

/** Every key's bucket lives under the queue's hash tag, so a Redis Cluster keeps them with the queue. */
export const RATE_LIMIT_KEY_PREFIX = `${QUEUE_PREFIX}:rate-limit:`;

/**
 * A token bucket per API key, in one script so that every API process shares it and no two requests race between
 * a read and a write. The bucket holds `limit` tokens and refills at `limit` per minute; the clock is Redis' own,
 * so API processes with different clocks agree. A bucket nobody touched until it is full again expires: an absent
 * bucket is a full one. Returns {admitted (1|0), whole tokens left, ms until the next token, ms until full, now in ms}.
 */
const TOKEN_BUCKET = `
local limit = tonumber(ARGV[1])
local per_ms = limit / 60000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then redis.call('DEL', KEYS[1]) end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
-- Absent, or not what this script writes (NaN fails every comparison): a full bucket.
if not (tokens and at and tokens >= 0 and tokens <= limit and at == at) then tokens, at = limit, now end
-- Written at an instant still ahead of this clock (a failover to a replica whose clock is behind): no refill until
-- this clock passes it, never a full bucket, which would hand every key a second burst after each failover.
tokens = math.min(limit, tokens + math.max(0, now - at) * per_ms)
local admitted = 0
if tokens >= 1 then
  tokens = tokens - 1
  admitted = 1
end
local full_in = math.ceil((limit - tokens) / per_ms)
local next_in = 0
if tokens < 1 then next_in = math.ceil((1 - tokens) / per_ms) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], full_in + 1000)
return {admitted, math.floor(tokens), next_in, full_in, now}
`;

/** A Redis that does not answer within this long is treated as down: the request passes. */
const COMMAND_TIMEOUT_MS = 500;
/** After a failed call, requests pass without asking Redis for this long, so a hung Redis slows one request, not all. */
const BYPASS_MS = 2000;

export interface RateLimitDecision {
  admitted: boolean;
  limit: number;
  remaining: number;
  /** Unix time (seconds) at which the bucket is full again. */
  resetAt: number;
  /** Seconds until the next request would be admitted (0 while tokens are left). */
  retryAfter: number;
}

type BucketCommand = (key: string, limit: number) => Promise<[number, number, number, number, number]>;

/**
 * Per-key request limits shared by every API process through Redis. When Redis cannot answer, requests pass (a
 * limit is not worth an outage of the API) and the outage is logged once, like every other Redis client here.
 */
export class RateLimiter {
  private bypassUntil = 0;
  private readonly bucket: BucketCommand;

  private constructor(
    private readonly redis: Redis | Cluster,
    private readonly outage: OutageLog,
  ) {
    redis.defineCommand('qanatixTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET });
    this.bucket = (redis as unknown as { qanatixTokenBucket: BucketCommand }).qanatixTokenBucket.bind(redis);
  }

  /**
   * A connection of its own to the queue's Redis that never waits: no offline queue, no retries, a short timeout.
   * The queue's connection retries forever, which is right for jobs and would hold every request while Redis is away.
   */
  static forQueue(queue: Queue<PullJobData>, log: Logger): RateLimiter {
    const fast: Partial<RedisOptions> = { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: COMMAND_TIMEOUT_MS };
    const connection = queue.opts.connection;
    const redis =
      connection instanceof Cluster
        ? connection.duplicate(undefined, { enableOfflineQueue: false, redisOptions: { ...connection.options.redisOptions, ...fast } })
        : connection instanceof Redis
          ? connection.duplicate(fast)
          : new Redis({ ...(connection as RedisOptions), ...fast });
    const outage = outageLog(log, 'redis (rate limits)');
    redis.on('error', outage.down);
    redis.on('ready', outage.up);
    return new RateLimiter(redis, outage);
  }

  /** Resolves once the connection is ready, or after `ms` (Redis away at start: requests pass until it comes). */
  async ready(ms = 1000): Promise<void> {
    if (this.redis.status === 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    let onReady: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      onReady = resolve;
      timer = setTimeout(resolve, ms);
      this.redis.once('ready', onReady);
    });
    clearTimeout(timer);
    this.redis.off('ready', onReady!);
  }

  /** Takes a token from the key's bucket; null when Redis could not be asked (the request passes). */
  async take(keyId: string, limit: number): Promise<RateLimitDecision | null> {
    if (this.redis.status !== 'ready' || Date.now() < this.bypassUntil) return null;
    try {
      const [admitted, remaining, nextInMs, fullInMs, nowMs] = await this.bucket(RATE_LIMIT_KEY_PREFIX + keyId, limit);
      this.outage.up();
      return {
        admitted: admitted === 1,
        limit,
        remaining,
        resetAt: Math.ceil((nowMs + fullInMs) / 1000),
        retryAfter: Math.ceil(nextInMs / 1000),
      };
    } catch (err) {
      this.bypassUntil = Date.now() + BYPASS_MS;
      this.outage.down(err);
      return null;
    }
  }

  /** Sets the X-RateLimit-* headers on the reply, or refuses the request with 429 and Retry-After. */
  async admit(keyId: string, limit: number, reply: FastifyReply): Promise<void> {
    const d = await this.take(keyId, limit);
    if (!d) return;
    const headers = {
      'x-ratelimit-limit': String(d.limit),
      'x-ratelimit-remaining': String(d.remaining),
      'x-ratelimit-reset': String(d.resetAt),
    };
    reply.headers(headers);
    if (d.admitted) return;
    const seconds = Math.max(1, d.retryAfter);
    throw new HttpError(429, `Rate limit exceeded. Retry after ${seconds} seconds.`, { ...headers, 'retry-after': String(seconds) });
  }

  close(): void {
    this.redis.disconnect();
  }
}
