import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { createPullQueue } from '../jobs/pull-queue';
import { createRedisConnection } from '../jobs/redis-connection';
import { startReconciler } from '../jobs/schedule-reconciler';
import { startWorker } from '../jobs/worker';
import type { Config } from './config';
import { SecretBox } from './crypto/secret-box';
import { migrate } from './db/migrate';
import { bounded } from './bounded';
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
  // What to close on shutdown, in order, each with how long it may take.
  const closers: Array<[string, () => Promise<unknown>, number]> = [];

  let app: FastifyInstance | undefined;
  let reconcilerPool: ReturnType<typeof createPool> | undefined;
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
    // Its own sessions, named apart from the pulls' (pg_stat_activity), and never waiting for a pull's connection.
    reconcilerPool = createPool(config.databaseUrl, 2, log, 'reconciler');
    const stopReconciler = startReconciler(reconcilerPool, queue, log);
    closers.push(
      ['the schedule reconciler', async () => stopReconciler(), CONNECTION_CLOSE_MS],
      // Running pulls get the grace period to commit their current batch and hand the rest back.
      ['running pulls', () => worker.drain(), config.shutdownTimeoutMs],
      ['the pull worker', () => worker.close(), CONNECTION_CLOSE_MS],
    );
    log.info({ concurrency: config.workerConcurrency }, 'pull worker started');
    if (config.workerMetricsPort) {
      const health = await startWorkerHealth(config.host, config.workerMetricsPort, { pool, redis, queue, ...config });
      closers.unshift(['the health endpoint', () => new Promise((resolve) => health.close(resolve)), CONNECTION_CLOSE_MS]);
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
    closers.unshift(['the HTTP API', () => app!.close(), config.shutdownTimeoutMs]);
  }

  // Every step is bounded: a client library that waits forever for a socket event (BullMQ's close after a Redis
  // Cluster came back is one) must not keep the process from exiting. A pull cut off by the timeout is picked up
  // again by another worker, as after SIGKILL.
  const steps: Array<[string, () => Promise<unknown>, number]> = [
    ...closers,
    ['the queue connection', async () => (await queue.close(), redis.disconnect()), CONNECTION_CLOSE_MS],
    ['the database pools', () => Promise.all([pool.end(), reconcilerPool?.end()]), CONNECTION_CLOSE_MS],
  ];
  let stopping: Promise<boolean> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      let clean = true;
      for (const [what, close, ms] of steps) clean = (await bounded(close(), ms, what, log)) && clean;
      return clean;
    })());
  const onSignal = (signal: string) => {
    log.info({ signal, timeout_ms: config.shutdownTimeoutMs }, 'shutting down');
    void stop().then((clean) => process.exit(clean ? 0 : 1));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return { app, stop: async () => void (await stop()) };
}

/** How long closing a connection may take once its users are done. */
const CONNECTION_CLOSE_MS = 5_000;
