import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { PullJobData } from '../../jobs/pull-queue';
import { HttpError } from './http-error';

/**
 * The pull queue's connection holds commands while Redis is away: right for workers, which wait the outage out, but
 * a request asking it then would hang until Redis came back. Requests take the queue from here instead.
 */

/** The pull queue when its connection is up; null when this server has none or Redis is away. */
export async function pullQueueIfReady(app: FastifyInstance): Promise<Queue<PullJobData> | null> {
  const queue = app.pullQueue;
  return queue && (await queue.backend.client).status === 'ready' ? queue : null;
}

/** The pull queue for a request that needs Redis now: 503 at once when there is none or Redis is away. */
export async function readyPullQueue(app: FastifyInstance): Promise<Queue<PullJobData>> {
  if (!app.pullQueue) throw new HttpError(503, 'This server has no job queue configured (REDIS_URL).');
  const queue = await pullQueueIfReady(app);
  if (!queue) throw new HttpError(503, 'The job queue (Redis) is unreachable; try again when /readyz reports ready.');
  return queue;
}
