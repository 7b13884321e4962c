import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { outageLog, stderrLogger, type Logger } from '../src/outage-log';

/** One hash tag for every key, so a Redis Cluster keeps a queue's keys in one slot. */
export const QUEUE_PREFIX = '{qanatix}';

/** A single Redis server or a Redis Cluster: BullMQ takes either. */
export type RedisConnection = Redis | Cluster;

/**
 * Where REDIS_URL points: `redis://` or `rediss://` is one server; `redis-cluster://host:port,host:port/` (or
 * `rediss-cluster://`, TLS) names seed nodes of a Redis Cluster, whose other nodes are found from them.
 */
export function redisTarget(
  url: string,
):
  | { cluster: false; url: string }
  | { cluster: true; nodes: Array<{ host: string; port: number }>; tls: boolean; username?: string; password?: string } {
  const m = /^(rediss?)-cluster:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/?$/.exec(url);
  if (!m) return { cluster: false, url };
  const nodes = m[4]!.split(',').map((hostPort) => {
    const at = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hostPort.trim());
    if (!at) throw new Error(`REDIS_URL: "${hostPort}" is not host:port (a cluster URL lists its seed nodes as host:port,host:port)`);
    return { host: at[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(at[2]) };
  });
  const decode = (s: string | undefined) => (s ? decodeURIComponent(s) : undefined);
  return { cluster: true, nodes, tls: m[1] === 'rediss', username: decode(m[2]), password: decode(m[3]) };
}

/**
 * A connection BullMQ can use, to one server or a cluster as the URL says (the one place that decides): it must retry
 * forever rather than fail a blocking command. Reconnecting is ioredis' job; its 'error' events (one per attempt while
 * Redis is away) are logged once per outage.
 */
export function createRedisConnection(url: string, log: Logger = stderrLogger, what = 'redis'): RedisConnection {
  const target = redisTarget(url);
  if (!target.cluster) return createRedis(url, log, what);
  const cluster = new Cluster(target.nodes, {
    redisOptions: { ...OPTIONS, username: target.username, password: target.password, ...(target.tls ? { tls: {} } : {}) },
    // A cluster that is away is retried like a single server: BullMQ's blocking commands wait for it.
    clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
  });
  return logOutages(cluster, log, what);
}

/** A connection to one Redis server (a cluster URL is refused: see createRedisConnection). */
export function createRedis(url: string, log: Logger = stderrLogger, what = 'redis'): Redis {
  if (redisTarget(url).cluster) throw new Error(`${what}: ${url.split('@').at(-1)} is a cluster URL; connect with createRedisConnection`);
  return logOutages(new Redis(url, OPTIONS), log, what);
}

const OPTIONS: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true };

function logOutages<C extends RedisConnection>(redis: C, log: Logger, what: string): C {
  const errors = outageLog(log, what);
  redis.on('error', errors.down);
  redis.on('ready', errors.up);
  return redis;
}
