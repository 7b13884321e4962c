import { describe, expect, test } from 'vitest';
import { createRedis, redisTarget } from '../../../jobs/redis-connection';

describe('REDIS_URL: one server or a cluster', () => {
  test('redis:// and rediss:// are one server, as given', () => {
    for (const url of ['redis://127.0.0.1:6379', 'rediss://user:pw@cache.example:6380/2', 'redis://[::1]:6379']) {
      expect(redisTarget(url)).toEqual({ cluster: false, url });
    }
  });

  test('redis-cluster:// lists seed nodes; credentials are decoded; rediss-cluster:// is TLS', () => {
    expect(redisTarget('redis-cluster://127.0.0.1:7001,127.0.0.1:7002,[::1]:7003/')).toEqual({
      cluster: true,
      tls: false,
      username: undefined,
      password: undefined,
      nodes: [
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
        { host: '::1', port: 7003 },
      ],
    });
    expect(redisTarget('rediss-cluster://app:p%40ss@a.example:6379,b.example:6379')).toMatchObject({
      cluster: true,
      tls: true,
      username: 'app',
      password: 'p@ss',
      nodes: [
        { host: 'a.example', port: 6379 },
        { host: 'b.example', port: 6379 },
      ],
    });
  });

  test('a cluster node without a port is refused with the form to use; a single-server client refuses a cluster URL', () => {
    expect(() => redisTarget('redis-cluster://127.0.0.1,127.0.0.1:7002')).toThrow(/"127.0.0.1" is not host:port/);
    expect(() => createRedis('redis-cluster://127.0.0.1:7001')).toThrow(/cluster URL; connect with createRedisConnection/);
  });
});
