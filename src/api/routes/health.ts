import type { FastifyInstance, FastifyRequest } from 'fastify';
import { probe, ProbeFailure, readiness } from '../../health-probe';
import { HttpError } from '../http-error';
import { registry, queueJobs } from '../../metrics';
import { metricsRefusal } from '../../metrics-access';
import { queueCounts } from './queues';

/** See metricsRefusal: a Prometheus scrape token or an operator credential. */
async function metricsAccess(app: FastifyInstance, req: FastifyRequest): Promise<void> {
  const refusal = await metricsRefusal(req.headers.authorization, { pool: app.pool, ...app.config });
  if (refusal) throw new HttpError(401, refusal, { 'www-authenticate': 'Bearer' });
}

export async function healthRoutes(app: FastifyInstance) {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, string> = { postgres: await probe(() => app.pool.query('select 1')) };
    const queue = app.pullQueue;
    // A real round trip through the queue's own connection; while it is reconnecting, no command is queued behind it.
    if (queue) {
      checks.redis = await probe(async () => {
        const client = await queue.backend.client;
        if (client.status !== 'ready') throw new ProbeFailure(`connection ${client.status}`);
        await queue.getJobCounts('waiting');
      });
    }
    const { status, body } = readiness(checks);
    return reply.code(status).send(body);
  });

  app.get('/metrics', { schema: { hide: true }, onRequest: (req) => metricsAccess(app, req) }, async (_req, reply) => {
    if (app.pullQueue) {
      try {
        const counts = await queueCounts(app.pullQueue);
        for (const [state, n] of Object.entries(counts)) queueJobs.set({ queue: app.pullQueue.name, state }, n);
      } catch {
        // Redis away: the other metrics are still worth serving.
      }
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
