import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  url: string;
  /** Kills the server for real (SIGKILL) and starts a new one on the same port: its data is gone. */
  restart(): Promise<void>;
  kill(): Promise<void>;
  /** Starts the server unless it runs (empty: it keeps no data). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** FLUSHALL on every server (a cluster's keys live on several). */
  flushAll(): Promise<void>;
}

/**
 * A redis-server process of a test's own (the same binary `scripts/services.sh` installs), so a test can
 * FLUSHALL, kill or restart it without touching other tests.
 */
export async function privateRedis(): Promise<PrivateRedis> {
  // The worker tests run a second time against a Redis Cluster (QANATIX_TEST_REDIS_CLUSTER=1, see scripts/test.sh).
  if (process.env.QANATIX_TEST_REDIS_CLUSTER === '1') return privateRedisCluster();
  return privateRedisServer();
}

async function privateRedisServer(extraArgs: string[] = [], port?: number): Promise<PrivateRedis> {
  port ??= await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const start = async () => {
    if (child && child.exitCode === null) return;
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {}); // refused while the server starts: expected
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        return;
      } catch {
        probe.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`redis-server did not start on port ${port} (is it installed? run: bash scripts/services.sh up redis)`);
  };
  const kill = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await start();
  return {
    url,
    start,
    kill,
    stop: kill,
    async restart() {
      await kill();
      await start();
    },
    async flushAll() {
      const client = new Redis(url, { maxRetriesPerRequest: 1 });
      await client.flushall();
      client.disconnect();
    },
  };
}

/**
 * Three masters of a Redis Cluster of a test's own, made the way `scripts/services.sh` makes the shared one
 * (`--cluster-enabled yes`, then `redis-cli --cluster create`); its URL is `redis-cluster://` with the three nodes. A
 * restart kills every node (SIGKILL) and creates the cluster afresh: its data is gone.
 */
export async function privateRedisCluster(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'qanatix-cluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const nodes: PrivateRedis[] = [];
  for (const port of ports) {
    const args = ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir];
    nodes.push(await privateRedisServer(args, port));
  }
  const create = async () => {
    const addresses = ports.map((p) => `127.0.0.1:${p}`);
    execFileSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    for (let i = 0; i < 200; i++) {
      const states = ports.map((p) => execFileSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8' }));
      if (states.every((s) => s.includes('cluster_state:ok'))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`the Redis Cluster on ${addresses.join(', ')} did not become ok`);
  };
  const kill = async () => {
    for (const n of nodes) await n.kill();
  };
  const clusterOk = () =>
    ports.every((p) => {
      try {
        return execFileSync('redis-cli', ['-p', String(p), 'cluster', 'info'], { encoding: 'utf8', stdio: 'pipe' }).includes(
          'cluster_state:ok',
        );
      } catch {
        return false;
      }
    });
  const start = async () => {
    if (clusterOk()) return;
    // A node that starts with its old cluster configuration is not empty, and cannot join a new cluster.
    for (const port of ports) rmSync(join(dir, `nodes-${port}.conf`), { force: true });
    for (const n of nodes) await n.start();
    await create();
  };
  await create();
  return {
    url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    start,
    kill,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await kill();
      await start();
    },
    async flushAll() {
      for (const n of nodes) await n.flushAll();
    },
  };
}
