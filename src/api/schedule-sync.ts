import type { FastifyInstance } from 'fastify';
import { armSchedule, disarmSchedule } from '../../jobs/schedule-reconciler';
import { pullQueueIfReady } from './pull-queue-access';

/**
 * Keeps a connector's job scheduler in step with what was just written (`null`: deleted); the reconciler repairs it
 * when Redis is away.
 */
export async function syncSchedule(
  app: FastifyInstance,
  tenantId: string,
  id: string,
  c: { enabled: boolean; schedule: string | null; timezone: string } | null,
): Promise<void> {
  const queue = await pullQueueIfReady(app);
  if (!queue) return; // none, or Redis away: asked now, the request would wait for it to come back
  try {
    if (c && c.enabled && c.schedule) await armSchedule(queue, tenantId, id, c.schedule, c.timezone);
    else await disarmSchedule(queue, id);
  } catch (err) {
    app.log.warn({ connectorId: id, err: (err as Error).message }, 'could not update the job scheduler now; the reconciler will');
  }
}
