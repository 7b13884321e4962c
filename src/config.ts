/** Settings from the environment, read once. Every variable is documented in the README. */
import { parseSourceRules, type SourceRules } from './source-policy';

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  host: string;
  port: number;
  /** When set, webhook calls must be signed: `X-Webhook-Signature: sha256=<HMAC of "<timestamp>.<raw body>">`. */
  webhookSecret: string | null;
  /** How far `X-Webhook-Timestamp` may be from the server's clock; a signature is remembered twice as long. */
  webhookToleranceSeconds: number;
  /** Also accept QANATIX's signature of the raw body alone (no timestamp): such calls cannot be told from replays. */
  webhookAcceptBodyOnly: boolean;
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
  /** How long SIGTERM waits for running pulls and connections to close before the process exits anyway. */
  shutdownTimeoutMs: number;
  /** `/metrics` answers `Authorization: Bearer <this>` (or an operator credential); unset, only operators. */
  metricsToken: string | null;
  /** Source hosts and networks connectors may reach (QANATIX_SOURCE_ALLOW) and may not (QANATIX_SOURCE_DENY). */
  sourceRules: SourceRules;
  /** How often a pull may lose its worker (killed, out of memory) before its job fails. */
  workerMaxStalls: number;
  /** RATE_LIMIT_ENABLED (default on): tenant keys are rate-limited, counted in Redis. */
  rateLimitEnabled: boolean;
  /** Requests per minute of a key created without its own limit; also the most a tenant admin may give a key. */
  rateLimitPerMinute: number;
  /** Requests per minute of all of a tenant's keys together, so that more keys do not mean more requests without end. */
  tenantRateLimitPerMinute: number;
  /** A worker process answers /healthz and /readyz on this port (on HOST); unset: no port. */
  workerMetricsPort: number | null;
}

/** The largest per-minute limit a key or the installation can have. */
export const MAX_RATE_LIMIT_PER_MINUTE = 1_000_000;

const DEV_SALT = 'qanatix-dev-salt-not-for-production';

/** DATABASE_URL, or the local default; all `qanatix migrate` needs. */
export function databaseUrlOf(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATABASE_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/qanatix';
}

/** Development mode: built-in secrets are allowed (QANATIX_DEV=1, or NODE_ENV development or test). */
export function isDev(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.QANATIX_DEV === '1' || env.QANATIX_DEV === 'true' || env.NODE_ENV === 'development' || env.NODE_ENV === 'test';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dev = isDev(env);
  const apiKeySalt = env.API_KEY_SALT ?? (dev ? DEV_SALT : '');
  if (!apiKeySalt) throw new Error('API_KEY_SALT is not set: set it to a long random string (or QANATIX_DEV=1 for a local trial).');
  if (env.METRICS_TOKEN && env.METRICS_TOKEN.length < 16)
    throw new Error('METRICS_TOKEN is too short: use at least 16 random characters (e.g. openssl rand -hex 32).');
  return {
    databaseUrl: databaseUrlOf(env),
    redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    host: env.HOST ?? '127.0.0.1',
    port: Number(env.PORT ?? 8000),
    webhookSecret: env.WEBHOOK_SECRET || null,
    webhookToleranceSeconds: positiveInteger(env, 'WEBHOOK_TOLERANCE_SECONDS', 300),
    webhookAcceptBodyOnly: ['1', 'true'].includes(env.WEBHOOK_ACCEPT_BODY_ONLY_SIGNATURES ?? ''),
    apiKeySalt,
    dev,
    logLevel: env.LOG_LEVEL ?? 'info',
    maxPendingRecords: Number(env.STREAM_MAX_PENDING_RECORDS ?? 10_000),
    workerConcurrency: Number(env.WORKER_CONCURRENCY ?? 2),
    workerLockMs: Number(env.WORKER_LOCK_MS ?? 60_000),
    shutdownTimeoutMs: positiveInteger(env, 'SHUTDOWN_TIMEOUT_MS', 25_000, 'a whole number of milliseconds'),
    metricsToken: env.METRICS_TOKEN || null,
    sourceRules: sourceRulesFromEnv(env),
    workerMaxStalls: Number(env.WORKER_MAX_STALLS ?? 10),
    rateLimitEnabled: flag(env, 'RATE_LIMIT_ENABLED', true),
    rateLimitPerMinute: positiveInteger(
      env,
      'RATE_LIMIT_PER_MINUTE',
      1000,
      'a whole number of requests a minute',
      MAX_RATE_LIMIT_PER_MINUTE,
    ),
    tenantRateLimitPerMinute: positiveInteger(
      env,
      'TENANT_RATE_LIMIT_PER_MINUTE',
      5000,
      'a whole number of requests a minute',
      MAX_RATE_LIMIT_PER_MINUTE,
    ),
    workerMetricsPort: env.WORKER_METRICS_PORT ? positiveInteger(env, 'WORKER_METRICS_PORT', 0, 'a TCP port number', 65_535) : null,
  };
}

/** QANATIX_SOURCE_ALLOW and QANATIX_SOURCE_DENY; throws naming the variable and the entry that is wrong. */
export function sourceRulesFromEnv(env: NodeJS.ProcessEnv): SourceRules {
  return {
    allow: parseSourceRules(env.QANATIX_SOURCE_ALLOW, 'QANATIX_SOURCE_ALLOW'),
    deny: parseSourceRules(env.QANATIX_SOURCE_DENY, 'QANATIX_SOURCE_DENY'),
  };
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new Error(`${name} must be true or false (got "${env[name]}")`);
}

function positiveInteger(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  what = 'a whole number of seconds',
  max = 999_999_999,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[1-9][0-9]{0,8}$/.test(raw) || Number(raw) > max) {
    throw new Error(`${name} must be ${what}, from 1 to ${max} (got "${raw}")`);
  }
  return Number(raw);
}
