import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateOperator } from '../../auth/operator-credentials';
import { probe, readiness } from '../../health-probe';
import { HttpError } from '../http-error';
import { registry, queueJobs } from '../../metrics';
import { queueCounts } from './queues';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `/metrics` names every tenant's connectors, so it is not public: it answers `Authorization: Bearer <METRICS_TOKEN>`
 * (what a Prometheus scrape config sends) or an operator credential. Without METRICS_TOKEN only operators get in.
 */
async function metricsAccess(app: FastifyInstance, req: FastifyRequest): Promise<void> {
  const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
  if (!token) {
    throw new HttpError(401, 'Metrics need a credential: "Authorization: Bearer <METRICS_TOKEN>" or an operator credential.', {
      'www-authenticate': 'Bearer',
    });
  }
  const expected = app.config.metricsToken;
  if (expected && timingSafeEqual(digest(token), digest(expected))) return;
  if (await authenticateOperator(app.pool, app.config.apiKeySalt, token)) return;
  throw new HttpError(401, 'Invalid metrics token or operator credential.', { 'www-authenticate': 'Bearer' });
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
        if (client.status !== 'ready') throw new Error(`connection ${client.status}`);
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
