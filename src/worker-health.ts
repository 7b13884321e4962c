import { createServer, type Server } from 'node:http';
import type { Queue } from 'bullmq';
import type pg from 'pg';
import type { RedisConnection } from '../jobs/redis-connection';
import { probe, ProbeFailure, readiness } from './health-probe';
import { queueJobs, registry } from './metrics';
import { metricsRefusal } from './metrics-access';

interface Answer {
  status: number;
  body?: object;
  text?: string;
  headers?: Record<string, string>;
}

export interface WorkerHealthDeps {
  pool: pg.Pool;
  redis: RedisConnection;
  /** Its job counts become `qanatix_queue_jobs` on each scrape. */
  queue: Queue;
  apiKeySalt: string;
  metricsToken: string | null;
}

/**
 * A worker has no HTTP API; with WORKER_METRICS_PORT set it answers there: /healthz (the process is up), /readyz
 * (PostgreSQL and Redis answer, as in the API's /readyz) and /metrics (this process's pulls, reconciler and missed
 * fires, for the same credentials as the API's /metrics). Nothing else, nothing of a tenant without a credential.
 */
export async function startWorkerHealth(host: string, port: number, deps: WorkerHealthDeps): Promise<Server> {
  const ready = async () =>
    readiness({
      postgres: await probe(() => deps.pool.query('select 1')),
      // While the connection is away no command is queued behind it: it would only answer after reconnecting.
      redis: await probe(async () => {
        if (deps.redis.status !== 'ready') throw new ProbeFailure(`connection ${deps.redis.status}`);
        await deps.redis.ping();
      }),
    });
  const metrics = async (authorization: string | undefined): Promise<Answer> => {
    const refusal = await metricsRefusal(authorization, deps);
    if (refusal) return { status: 401, body: { detail: refusal }, headers: { 'www-authenticate': 'Bearer' } };
    if (deps.redis.status === 'ready') {
      const counts = await deps.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed').catch(() => null);
      for (const [state, n] of Object.entries(counts ?? {})) queueJobs.set({ queue: deps.queue.name, state }, n);
    }
    return { status: 200, text: await registry.metrics(), headers: { 'content-type': registry.contentType } };
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const answer = async (): Promise<Answer> => {
      if (req.method === 'GET' && path === '/healthz') return { status: 200, body: { status: 'ok' } };
      if (req.method === 'GET' && path === '/readyz') return ready();
      if (req.method === 'GET' && path === '/metrics') return metrics(req.headers.authorization);
      return { status: 404, body: { detail: `No such endpoint: ${req.method} ${path}` } };
    };
    void answer()
      .catch((): Answer => ({ status: 500, body: { detail: 'internal error' } }))
      .then(({ status, body, text, headers }) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text ?? JSON.stringify(body)),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
