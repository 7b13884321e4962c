import type { FastifyInstance } from 'fastify';
import { armSchedule, disarmSchedule } from '../../jobs/schedule-reconciler';

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
  if (!app.pullQueue) return;
  try {
    if (c && c.enabled && c.schedule) await armSchedule(app.pullQueue, tenantId, id, c.schedule, c.timezone);
    else await disarmSchedule(app.pullQueue, id);
  } catch (err) {
    app.log.warn({ connectorId: id, err: (err as Error).message }, 'could not update the job scheduler now; the reconciler will');
  }
}
