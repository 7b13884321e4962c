import type { Queue } from 'bullmq';
import type { FastifyReply } from 'fastify';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { PullJobData } from '../../jobs/pull-queue';
import { QUEUE_PREFIX } from '../../jobs/redis-connection';
import { outageLog, type Logger, type OutageLog } from '../outage-log';
import { HttpError } from './http-error';

/** Every bucket lives under the queue's hash tag, so a Redis Cluster keeps them with the queue (one script takes two). */
export const RATE_LIMIT_KEY_PREFIX = `${QUEUE_PREFIX}:rate-limit:`;
export const TENANT_BUCKET_PREFIX = `${RATE_LIMIT_KEY_PREFIX}tenant:`;

/** What a request is counted against: its key's limit, and its tenant's for all of the tenant's keys together. */
export interface LimitedKey {
  keyId: string;
  limit: number;
  tenantId: string;
  tenantLimit: number;
}

/**
 * Two token buckets in one script, the key's and its tenant's, so that every API process shares them and no two
 * requests race between a read and a write. A request is admitted only when both hold a token, and then takes one
 * from each; a refused request takes none. Each bucket holds its limit and refills at that limit per minute; the
 * clock is Redis' own, so API processes with different clocks agree. A bucket nobody touched until it is full again
 * expires: an absent bucket is a full one. Returns, per bucket (key, then tenant): {admitted (1|0), whole tokens
 * left, ms until the next token, ms until full}, then now in ms.
 */
const TOKEN_BUCKETS = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local buckets = {}
for i = 1, 2 do
  local limit = tonumber(ARGV[i])
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind ~= 'hash' and kind ~= 'none' then redis.call('DEL', KEYS[i]) end
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  -- Absent, or not what this script writes (NaN fails every comparison): a full bucket.
  if not (tokens and at and tokens >= 0 and tokens <= limit and at == at) then tokens, at = limit, now end
  -- Written at an instant still ahead of this clock (a failover to a replica whose clock is behind): no refill until
  -- this clock passes it, never a full bucket, which would hand every key a second burst after each failover.
  tokens = math.min(limit, tokens + math.max(0, now - at) * limit / 60000)
  buckets[i] = {limit = limit, tokens = tokens}
end
local admitted = 1
for i = 1, 2 do if buckets[i].tokens < 1 then admitted = 0 end end
local out = {}
for i = 1, 2 do
  local b = buckets[i]
  local per_ms = b.limit / 60000
  if admitted == 1 then b.tokens = b.tokens - 1 end
  local full_in = math.ceil((b.limit - b.tokens) / per_ms)
  local next_in = 0
  if b.tokens < 1 then next_in = math.ceil((1 - b.tokens) / per_ms) end
  redis.call('HSET', KEYS[i], 'tokens', tostring(b.tokens), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[i], full_in + 1000)
  local ok = 1
  if buckets[i].tokens < 1 and admitted == 0 then ok = 0 end
  for _, v in ipairs({ok, math.floor(b.tokens), next_in, full_in}) do table.insert(out, v) end
end
table.insert(out, now)
return out
`;

/** A Redis that does not answer within this long is treated as down: the request passes. */
const COMMAND_TIMEOUT_MS = 500;
/** After a failed call, requests pass without asking Redis for this long, so a hung Redis slows one request, not all. */
const BYPASS_MS = 2000;

export interface RateLimitDecision {
  admitted: boolean;
  /** The bucket these figures are of: the one that refused, else the one with fewer requests left. */
  bucket: 'key' | 'tenant';
  limit: number;
  remaining: number;
  /** Unix time (seconds) at which the bucket is full again. */
  resetAt: number;
  /** Seconds until the next request would be admitted (0 while tokens are left). */
  retryAfter: number;
}

type BucketCommand = (keyBucket: string, tenantBucket: string, keyLimit: number, tenantLimit: number) => Promise<number[]>;

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
    redis.defineCommand('qanatixTokenBuckets', { numberOfKeys: 2, lua: TOKEN_BUCKETS });
    this.bucket = (redis as unknown as { qanatixTokenBuckets: BucketCommand }).qanatixTokenBuckets.bind(redis);
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

  /** Takes a token from the key's bucket and its tenant's; null when Redis could not be asked (the request passes). */
  async take(key: LimitedKey): Promise<RateLimitDecision | null> {
    if (this.redis.status !== 'ready' || Date.now() < this.bypassUntil) return null;
    try {
      const limits = [key.limit, key.tenantLimit];
      const r = await this.bucket(RATE_LIMIT_KEY_PREFIX + key.keyId, TENANT_BUCKET_PREFIX + key.tenantId, key.limit, key.tenantLimit);
      this.outage.up();
      const nowMs = r[8] ?? 0;
      const buckets = [0, 1].map((i) => ({
        ok: r[i * 4] === 1,
        remaining: r[i * 4 + 1] ?? 0,
        nextInMs: r[i * 4 + 2] ?? 0,
        fullInMs: r[i * 4 + 3] ?? 0,
      }));
      const [keyBucket, tenantBucket] = buckets as [(typeof buckets)[0], (typeof buckets)[0]];
      const admitted = keyBucket.ok && tenantBucket.ok;
      const tenantBinds = admitted
        ? tenantBucket.remaining < keyBucket.remaining
        : !tenantBucket.ok && (keyBucket.ok || tenantBucket.nextInMs > keyBucket.nextInMs);
      const shown = tenantBinds ? tenantBucket : keyBucket;
      return {
        admitted,
        bucket: tenantBinds ? 'tenant' : 'key',
        limit: limits[tenantBinds ? 1 : 0] ?? key.limit,
        remaining: shown.remaining,
        resetAt: Math.ceil((nowMs + shown.fullInMs) / 1000),
        retryAfter: Math.ceil(shown.nextInMs / 1000),
      };
    } catch (err) {
      this.bypassUntil = Date.now() + BYPASS_MS;
      this.outage.down(err);
      return null;
    }
  }

  /** Sets the X-RateLimit-* headers on the reply, or refuses the request with 429 and Retry-After. */
  async admit(key: LimitedKey, reply: FastifyReply): Promise<void> {
    const d = await this.take(key);
    if (!d) return;
    const headers = {
      'x-ratelimit-limit': String(d.limit),
      'x-ratelimit-remaining': String(d.remaining),
      'x-ratelimit-reset': String(d.resetAt),
    };
    reply.headers(headers);
    if (d.admitted) return;
    const seconds = Math.max(1, d.retryAfter);
    const whose = d.bucket === 'tenant' ? " (all of this tenant's keys together)" : '';
    throw new HttpError(429, `Rate limit exceeded${whose}. Retry after ${seconds} seconds.`, {
      ...headers,
      'retry-after': String(seconds),
    });
  }

  close(): void {
    this.redis.disconnect();
  }
}
