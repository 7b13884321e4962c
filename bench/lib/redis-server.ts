import { Redis } from 'ioredis';
import { freePort, startService, type Service } from './child-process';

export interface RedisServer {
  url: string;
  pid: number;
  service: Service;
  stop(): Promise<void>;
}

/**
 * A redis-server of the benchmark's own on a free loopback port, without persistence, so a run can
 * FLUSHALL freely and measure it without other users of a shared Redis in the way.
 */
export async function startRedisServer(binary = 'redis-server'): Promise<RedisServer> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const service = startService(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (service.child.exitCode !== null) throw new Error(`redis-server exited (code ${service.child.exitCode}):\n${service.tail()}`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {}); // refused while the server starts: connect() rejects, which is handled below
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      if (Date.now() > deadline) {
        await service.stop(1_000);
        throw new Error(`redis-server did not answer on port ${port}:\n${service.tail()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      probe.disconnect();
    }
  }
  return { url, pid: service.pid, service, stop: async () => void (await service.stop(5_000)) };
}
