import type { Job, JobSchedulerJson, Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PullJobData } from '../../../jobs/pull-queue';
import { ownedJobs, tenantConnectorIds, type OwnedJob } from '../../store/tenant-jobs';
import { HttpError, notFound } from '../http-error';
import { readyPullQueue } from '../pull-queue-access';
import { errorResponse } from '../schemas';

export const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'] as const;
type JobState = (typeof JOB_STATES)[number];
/** Only finished jobs may be cleaned: a waiting or running job has a run in PostgreSQL that would never end. */
const CLEANABLE = ['completed', 'failed'] as const;

export async function queueCounts(queue: Queue): Promise<Record<JobState, number>> {
  return (await queue.getJobCounts(...JOB_STATES)) as Record<JobState, number>;
}

/**
 * Who is asking: an operator sees and drives the whole queue; a tenant admin sees its own jobs only. Which jobs
 * are a tenant's is decided by PostgreSQL (runs and connectors), never by the job data in Redis.
 */
type Viewer = { operator: true } | { operator: false; tenantId: string };

const viewerOf = (req: FastifyRequest): Viewer =>
  req.operator ? { operator: true } : { operator: false, tenantId: req.principal!.tenantId };

/**
 * A job as the API shows it. A tenant's view takes the connector, the run and the failure reason from PostgreSQL
 * (the run's own error, which holds no secret), never a stack trace; an operator sees what the job holds.
 */
function jobView(job: Job<PullJobData>, state: string, owned: OwnedJob | null) {
  const data = (job.data ?? {}) as Partial<PullJobData>;
  return {
    id: job.id,
    name: job.name,
    state,
    connector_id: owned ? owned.connectorId : (data.connectorId ?? null),
    ...(owned ? {} : { tenant_id: data.tenantId ?? null }),
    run_id: owned ? owned.runId : (data.runId ?? null),
    mode: data.mode === 'full' || data.mode === 'incremental' ? data.mode : null,
    trigger: data.trigger === 'schedule' || data.trigger === 'manual' ? data.trigger : null,
    attempts_made: job.attemptsMade,
    progress: job.progress,
    failed_reason: owned ? (state === 'failed' ? owned.error : null) : (job.failedReason ?? null),
    created_at: new Date(job.timestamp).toISOString(),
    processed_at: job.processedOn ? new Date(job.processedOn).toISOString() : null,
    finished_at: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  };
}

function schedulerView(s: JobSchedulerJson) {
  return {
    id: s.key,
    connector_id: s.key.startsWith('connector:') ? s.key.slice('connector:'.length) : null,
    pattern: s.pattern ?? null,
    every: s.every ?? null,
    tz: s.tz ?? null,
    next_run_at: s.next ? new Date(s.next).toISOString() : null,
  };
}

const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 100 } } } as const;
const jobParams = {
  type: 'object',
  required: ['name', 'id'],
  properties: { name: { type: 'string', maxLength: 100 }, id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

/**
 * Queue monitoring and control. Tenant admins see and retry their own jobs; operators (an operator credential)
 * see every job and alone may pause, resume and clean the queue.
 */
export async function queuesRoutes(app: FastifyInstance) {
  const tenantOrOperator = { scopes: ['admin' as const], operator: true };
  const operatorOnly = { operator: true };
  const queueNamed = async (name: string): Promise<Queue<PullJobData>> => {
    const queue = await readyPullQueue(app);
    if (name !== queue.name) throw notFound(`Queue "${name}"`);
    return queue;
  };

  /** The ids of the jobs in `state` this viewer may see, newest first, with what PostgreSQL knows of them. */
  const visibleIds = async (queue: Queue, viewer: Viewer, state: JobState): Promise<Array<[string, OwnedJob | null]>> => {
    const ids = (await queue.getRanges([state], 0, -1, false)) as string[];
    if (viewer.operator) return ids.map((id) => [id, null]);
    const owned = await ownedJobs(app.pool, viewer.tenantId, ids);
    return ids.filter((id) => owned.has(id)).map((id) => [id, owned.get(id)!]);
  };

  /** One job this viewer may see, or 404 alike for another tenant's job and a job that does not exist. */
  const visibleJob = async (queue: Queue<PullJobData>, viewer: Viewer, id: string) => {
    const owned = viewer.operator ? null : ((await ownedJobs(app.pool, viewer.tenantId, [id])).get(id) ?? null);
    if (!viewer.operator && !owned) throw notFound('Job');
    const job = await queue.getJob(id);
    if (!job) throw notFound('Job');
    return { job, owned };
  };

  app.get(
    '/queues',
    {
      config: tenantOrOperator,
      schema: { summary: "Job counts per state and job schedulers with their next run (a tenant's own)", tags: ['queues'] },
    },
    async (req) => {
      const queue = await queueNamed(app.pullQueue?.name ?? '');
      const viewer = viewerOf(req);
      let schedulers = await queue.getJobSchedulers(0, -1, true);
      let counts: Record<JobState, number>;
      if (viewer.operator) counts = await queueCounts(queue);
      else {
        const mine = await tenantConnectorIds(app.pool, viewer.tenantId);
        schedulers = schedulers.filter((s) => s.key.startsWith('connector:') && mine.has(s.key.slice('connector:'.length)));
        const perState = await Promise.all(JOB_STATES.map((s) => visibleIds(queue, viewer, s)));
        counts = Object.fromEntries(JOB_STATES.map((s, i) => [s, perState[i]!.length])) as Record<JobState, number>;
      }
      return [{ name: queue.name, paused: await queue.isPaused(), counts, schedulers: schedulers.map(schedulerView) }];
    },
  );

  app.get<{ Params: { name: string }; Querystring: { state: JobState; limit: number } }>(
    '/queues/:name/jobs',
    {
      config: tenantOrOperator,
      schema: {
        summary: 'Jobs of a queue in one state, newest first (a tenant sees its own)',
        tags: ['queues'],
        params: nameParams,
        querystring: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: [...JOB_STATES], default: 'failed' },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
          },
        },
      },
    },
    async (req) => {
      const queue = await queueNamed(req.params.name);
      const visible = (await visibleIds(queue, viewerOf(req), req.query.state)).slice(0, req.query.limit);
      const jobs = await Promise.all(visible.map(async ([id, owned]) => ({ job: await queue.getJob(id), owned })));
      return jobs.filter((j) => j.job).map((j) => jobView(j.job!, req.query.state, j.owned));
    },
  );

  app.get<{ Params: { name: string; id: string } }>(
    '/queues/:name/jobs/:id',
    { config: tenantOrOperator, schema: { summary: 'One job with its state', tags: ['queues'], params: jobParams } },
    async (req) => {
      const { job, owned } = await visibleJob(await queueNamed(req.params.name), viewerOf(req), req.params.id);
      return jobView(job, await job.getState(), owned);
    },
  );

  app.post<{ Params: { name: string; id: string } }>(
    '/queues/:name/jobs/:id/retry',
    {
      config: tenantOrOperator,
      schema: {
        summary: 'Retry a failed job (a tenant: its own)',
        tags: ['queues'],
        params: jobParams,
        response: { 409: errorResponse('The job has not failed') },
      },
    },
    async (req) => {
      const { job } = await visibleJob(await queueNamed(req.params.name), viewerOf(req), req.params.id);
      const state = await job.getState();
      if (state !== 'failed') throw new HttpError(409, `Job ${job.id} is ${state}; only failed jobs can be retried.`);
      await job.retry('failed');
      return { id: job.id, state: await job.getState() };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/queues/:name/pause',
    {
      config: operatorOnly,
      schema: { summary: 'Operators: stop every worker taking new jobs (running pulls finish)', tags: ['queues'], params: nameParams },
    },
    async (req) => {
      const queue = await queueNamed(req.params.name);
      await queue.pause();
      req.log.warn({ operator: req.operator!.name, queue: queue.name }, 'queue paused');
      return { name: queue.name, paused: await queue.isPaused() };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/queues/:name/resume',
    { config: operatorOnly, schema: { summary: 'Operators: let workers take jobs again', tags: ['queues'], params: nameParams } },
    async (req) => {
      const queue = await queueNamed(req.params.name);
      await queue.resume();
      req.log.warn({ operator: req.operator!.name, queue: queue.name }, 'queue resumed');
      return { name: queue.name, paused: await queue.isPaused() };
    },
  );

  app.post<{ Params: { name: string }; Body: { state: (typeof CLEANABLE)[number]; grace_seconds: number; limit: number } | null }>(
    '/queues/:name/clean',
    {
      config: operatorOnly,
      schema: {
        summary: 'Operators: remove finished jobs older than the grace period from Redis (run history stays in PostgreSQL)',
        tags: ['queues'],
        params: nameParams,
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            state: { type: 'string', enum: [...CLEANABLE], default: 'completed' },
            grace_seconds: { type: 'integer', minimum: 0, default: 3600 },
            limit: { type: 'integer', minimum: 1, maximum: 100_000, default: 10_000 },
          },
        },
      },
    },
    async (req) => {
      const queue = await queueNamed(req.params.name);
      const { state = 'completed', grace_seconds = 3600, limit = 10_000 } = req.body ?? {};
      const removed = await queue.clean(grace_seconds * 1000, limit, state);
      req.log.warn({ operator: req.operator!.name, queue: queue.name, state, removed: removed.length }, 'queue cleaned');
      return { name: queue.name, state, removed: removed.length };
    },
  );
}
