import { createServer } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createPullQueue } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { startWorker } from '../../jobs/worker';
import { SecretBox } from '../../src/crypto/secret-box';
import { outageLog, type Logger } from '../../src/outage-log';

type Line = { level: string; o: Record<string, unknown>; m: string };

function recorder(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  return {
    lines,
    info: (o, m) => lines.push({ level: 'info', o: o as Record<string, unknown>, m }),
    warn: (o, m) => lines.push({ level: 'warn', o: o as Record<string, unknown>, m }),
    error: (o, m) => lines.push({ level: 'error', o: o as Record<string, unknown>, m }),
  };
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('outageLog', () => {
  test('an outage is one error line when it begins, a reminder at most once a minute, and one line when it ends', () => {
    vi.useFakeTimers({ now: 0 });
    const log = recorder();
    const outage = outageLog(log, 'redis');
    for (let i = 0; i < 500; i++) {
      outage.down(new Error(`connect ECONNREFUSED attempt ${i}`));
      vi.advanceTimersByTime(250); // 125 s of reconnect attempts, four a second
    }
    outage.up();
    outage.up(); // already up: nothing more
    expect(log.lines.map((l) => [l.level, l.m])).toEqual([
      ['error', 'redis is failing; it keeps retrying (repeats are counted, not logged)'],
      ['warn', 'redis is still failing'],
      ['warn', 'redis is still failing'],
      ['info', 'redis works again'],
    ]);
    expect(log.lines[0]!.o).toEqual({ component: 'redis', err: 'connect ECONNREFUSED attempt 0' });
    expect(log.lines[1]!.o).toMatchObject({ errors: 241, down_ms: 60_000 });
    expect(log.lines[3]!.o).toEqual({ component: 'redis', errors: 500, down_ms: 125_000 });
  });

  test('a second outage is logged again, with its own count', () => {
    vi.useFakeTimers({ now: 0 });
    const log = recorder();
    const outage = outageLog(log, 'postgres');
    outage.down(new Error('terminating connection due to administrator command'));
    outage.up();
    vi.advanceTimersByTime(1_000);
    outage.down('the server closed the connection');
    outage.down('the server closed the connection');
    outage.up();
    expect(log.lines.map((l) => [l.level, l.o.errors ?? null])).toEqual([
      ['error', null],
      ['info', 1],
      ['error', null],
      ['info', 2],
    ]);
  });

  test('only the message is logged: other fields of a driver error (a connection string) never are', () => {
    const log = recorder();
    const err = Object.assign(new Error('password authentication failed'), { connectionString: 'postgres://u:secret@db/x' });
    outageLog(log, 'postgres').down(err);
    expect(JSON.stringify(log.lines)).not.toContain('secret');
  });
});

describe("'error' events of Redis and the queue", () => {
  test('a Redis that does not answer is logged once by each client, queue and worker while ioredis and BullMQ keep retrying', async () => {
    const log = recorder();
    const url = `redis://127.0.0.1:${await closedPort()}`;
    const redis = createRedis(url, log, 'redis (queue)');
    const queue = createPullQueue(redis, log);
    // Its pool never connects: no job reaches the worker.
    const pool = new pg.Pool({ connectionString: `postgres://nobody@127.0.0.1:${await closedPort()}/none` });
    const worker = startWorker({ pool, box: SecretBox.fromEnv({}, true), connection: createRedis(url, log, 'redis (pull worker)'), log });
    try {
      await vi.waitFor(() => expect(log.lines.length).toBeGreaterThanOrEqual(6), { timeout: 5_000 });
      await new Promise((r) => setTimeout(r, 1_500)); // several more reconnect attempts
      expect(log.lines.map((l) => `${l.level} ${l.o.component}`).sort()).toEqual([
        'error notification queue',
        'error notification worker',
        'error pull queue',
        'error pull worker',
        'error redis (pull worker)',
        'error redis (queue)',
      ]);
      for (const l of log.lines) expect(l.o.err).toMatch(/ECONNREFUSED/);
    } finally {
      await Promise.race([worker.close(), new Promise((r) => setTimeout(r, 1_000))]);
      await queue.close().catch(() => {});
      redis.disconnect();
      worker.worker.disconnect().catch(() => {});
      worker.notifier.disconnect().catch(() => {});
      await pool.end();
    }
  });
});
