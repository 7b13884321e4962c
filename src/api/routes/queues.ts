import type { Job, Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { PullJobData } from '../../../jobs/pull-queue';
import { HttpError, notFound } from '../http-error';
import { errorResponse } from '../schemas';

export const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'] as const;
type JobState = (typeof JOB_STATES)[number];

export async function queueCounts(queue: Queue): Promise<Record<JobState, number>> {
  return (await queue.getJobCounts(...JOB_STATES)) as Record<JobState, number>;
}

function jobView(job: Job) {
  return {
    id: job.id,
    name: job.name,
    data: job.data,
    attempts_made: job.attemptsMade,
    progress: job.progress,
    failed_reason: job.failedReason ?? null,
    created_at: new Date(job.timestamp).toISOString(),
    processed_at: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    finished_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

/** Queue health for operators (admin scope): counts per state, schedulers, jobs, and retrying a failed job. */
export async function queuesRoutes(app: FastifyInstance) {
  const scope = { scopes: ['admin' as const] };
  const queueNamed = (name: string): Queue<PullJobData> => {
    if (!app.pullQueue) throw new HttpError(503, 'This server has no job queue configured (REDIS_URL).');
    if (name !== app.pullQueue.name) throw notFound(`Queue "${name}"`);
    return app.pullQueue;
  };

  app.get('/queues', { config: scope, schema: { summary: 'Job counts per state and job schedulers with their next run', tags: ['queues'] } }, async () => {
    const queue = queueNamed(app.pullQueue?.name ?? '');
    const schedulers = await queue.getJobSchedulers(0, -1, true);
    return [
      {
        name: queue.name,
        counts: await queueCounts(queue),
        schedulers: schedulers.map((s) => ({
          id: s.key,
          connector_id: s.key.startsWith('connector:') ? s.key.slice('connector:'.length) : null,
          pattern: s.pattern ?? null,
          every: s.every ?? null,
          tz: s.tz ?? null,
          next_run_at: s.next ? new Date(s.next).toISOString() : null,
        })),
      },
    ];
  });

  app.get<{ Params: { name: string }; Querystring: { state: JobState; limit: number } }>(
    '/queues/:name/jobs',
    {
      config: scope,
      schema: {
        summary: 'Jobs of a queue in one state, newest first',
        tags: ['queues'],
        querystring: {
          type: 'object',
          properties: { state: { type: 'string', enum: [...JOB_STATES], default: 'failed' }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
        },
      },
    },
    async (req) => {
      const queue = queueNamed(req.params.name);
      const jobs = await queue.getJobs([req.query.state], 0, req.query.limit - 1, false);
      return jobs.filter(Boolean).map(jobView);
    },
  );

  app.post<{ Params: { name: string; id: string } }>(
    '/queues/:name/jobs/:id/retry',
    { config: scope, schema: { summary: 'Retry a failed job', tags: ['queues'], response: { 409: errorResponse('The job has not failed') } } },
    async (req) => {
      const queue = queueNamed(req.params.name);
      const job = await queue.getJob(req.params.id);
      if (!job) throw notFound('Job');
      const state = await job.getState();
      if (state !== 'failed') throw new HttpError(409, `Job ${job.id} is ${state}; only failed jobs can be retried.`);
      await job.retry('failed');
      return { id: job.id, state: await job.getState() };
    },
  );
}
