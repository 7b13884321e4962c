import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { probe, readiness } from './health-probe';

/**
 * A worker has no HTTP API; with WORKER_METRICS_PORT set it answers an orchestrator's probes there: /healthz (the
 * process is up) and /readyz (PostgreSQL and Redis answer, as in the API's /readyz). Nothing else, nothing of a tenant.
 */
export async function startWorkerHealth(host: string, port: number, deps: { pool: pg.Pool; redis: Redis }): Promise<Server> {
  const ready = async () =>
    readiness({
      postgres: await probe(() => deps.pool.query('select 1')),
      // While the connection is away no command is queued behind it: it would only answer after reconnecting.
      redis: await probe(async () => {
        if (deps.redis.status !== 'ready') throw new Error(`connection ${deps.redis.status}`);
        await deps.redis.ping();
      }),
    });
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const answer = async () => {
      if (req.method === 'GET' && path === '/healthz') return { status: 200, body: { status: 'ok' } };
      if (req.method === 'GET' && path === '/readyz') return ready();
      return { status: 404, body: { detail: `No such endpoint: ${req.method} ${path}` } };
    };
    void answer().then(({ status, body }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
