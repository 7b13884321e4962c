import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createPullQueue } from '../jobs/pull-queue';
import { createRedisConnection } from '../jobs/redis-connection';
import { startReconciler } from '../jobs/schedule-reconciler';
import { startWorker } from '../jobs/worker';
import type { Config } from './config';
import { SecretBox } from './crypto/secret-box';
import { migrate } from './db/migrate';
import { createPool } from './db/pool';
import { REDACT_PATHS } from './log-redaction';
import { startWorkerHealth } from './worker-health';

export interface Roles {
  api: boolean;
  worker: boolean;
}

/**
 * Starts the roles of one process: the HTTP API, the pull worker with the schedule reconciler, or both
 * (`serve`). Migrates first. SIGTERM/SIGINT stop taking work, let running pulls commit their current batch,
 * and close every connection.
 */
export async function startRoles(config: Config, roles: Roles): Promise<{ app?: FastifyInstance; stop(): Promise<void> }> {
  const log = pino({ level: config.logLevel, redact: REDACT_PATHS });
  const box = SecretBox.fromEnv(process.env, config.dev);
  // A running pull holds its connector lock and writes two batches at once: three connections.
  const pool = createPool(config.databaseUrl, 10 + (roles.worker ? 3 * config.workerConcurrency : 0), log);
  await migrate(pool);
  const redis = createRedisConnection(config.redisUrl, log, 'redis (queue)');
  const queue = createPullQueue(redis, log);
  const closers: Array<() => Promise<unknown>> = [];

  let app: FastifyInstance | undefined;
  if (roles.worker) {
    const worker = startWorker({
      pool,
      box,
      connection: createRedisConnection(config.redisUrl, log, 'redis (pull worker)'),
      log,
      concurrency: config.workerConcurrency,
      lockDurationMs: config.workerLockMs,
      maxStalls: config.workerMaxStalls,
    });
    const stopReconciler = startReconciler(pool, queue, log);
    closers.push(
      async () => stopReconciler(),
      () => worker.close(),
    );
    log.info({ concurrency: config.workerConcurrency }, 'pull worker started');
    if (config.workerMetricsPort) {
      const health = await startWorkerHealth(config.host, config.workerMetricsPort, { pool, redis, queue, ...config });
      closers.unshift(() => new Promise((resolve) => health.close(resolve)));
      log.info({ host: config.host, port: config.workerMetricsPort }, 'worker health endpoint listening (/healthz, /readyz, /metrics)');
    }
  }
  if (roles.api) {
    // Loaded only for the API role: a worker process does not carry the HTTP stack.
    const { buildApp } = await import('./api/app');
    app = await buildApp({ pool, config, box, pullQueue: queue, logger: log });
    if (!config.webhookSecret) app.log.warn('WEBHOOK_SECRET is not set: webhook calls are accepted without a signature');
    else if (config.webhookAcceptBodyOnly) {
      app.log.warn(
        'WEBHOOK_ACCEPT_BODY_ONLY_SIGNATURES is on: calls signed over the body alone are accepted, and their replays cannot be refused',
      );
    }
    await app.listen({ host: config.host, port: config.port });
    closers.unshift(() => app!.close());
  }

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const close of closers) await close();
      await queue.close();
      redis.disconnect();
      await pool.end();
    })());
  const onSignal = (signal: string) => {
    log.info({ signal }, 'shutting down');
    void stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return { app, stop };
}
