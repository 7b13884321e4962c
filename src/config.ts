/** Settings from the environment, read once. Every variable is documented in the README. */
export interface Config {
  databaseUrl: string;
  redisUrl: string;
  host: string;
  port: number;
  /** When set, webhook calls must carry `X-Webhook-Signature: sha256=<HMAC of the raw body>`. */
  webhookSecret: string | null;
  /** Keys are stored as HMAC-SHA256(API_KEY_SALT, key). */
  apiKeySalt: string;
  /** Dev mode allows built-in defaults for secrets; never use it in production. */
  dev: boolean;
  logLevel: string;
  /** Stream intake: records buffered server-wide before new streams get 429. */
  maxPendingRecords: number;
  /** Pulls one worker process runs at once. */
  workerConcurrency: number;
  /** A pull job's lock lifetime; a killed worker's job is retried after it. */
  workerLockMs: number;
  /** How often a pull may lose its worker (killed, out of memory) before its job fails. */
  workerMaxStalls: number;
}

const DEV_SALT = 'qanatix-dev-salt-not-for-production';

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dev = env.QANATIX_DEV === '1' || env.QANATIX_DEV === 'true' || env.NODE_ENV === 'development' || env.NODE_ENV === 'test';
  const apiKeySalt = env.API_KEY_SALT ?? (dev ? DEV_SALT : '');
  if (!apiKeySalt) throw new Error('API_KEY_SALT is not set: set it to a long random string (or QANATIX_DEV=1 for a local trial).');
  return {
    databaseUrl: env.DATABASE_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/qanatix',
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    host: env.HOST ?? '127.0.0.1',
    port: Number(env.PORT ?? 8000),
    webhookSecret: env.WEBHOOK_SECRET || null,
    apiKeySalt,
    dev,
    logLevel: env.LOG_LEVEL ?? 'info',
    maxPendingRecords: Number(env.STREAM_MAX_PENDING_RECORDS ?? 10_000),
    workerConcurrency: Number(env.WORKER_CONCURRENCY ?? 2),
    workerLockMs: Number(env.WORKER_LOCK_MS ?? 60_000),
    workerMaxStalls: Number(env.WORKER_MAX_STALLS ?? 10),
  };
}
