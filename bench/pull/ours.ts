import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { createPullQueue, PULL_JOB, type PullJobData, type PullMode } from '../../jobs/pull-queue';
import { createRedis } from '../../jobs/redis-connection';
import { ensureTenant } from '../../src/auth/api-keys';
import { SecretBox } from '../../src/crypto/secret-box';
import { createRun } from '../../src/store/connector-runs';
import { insertConnector } from '../../src/store/connectors';
import { startService, type Service } from '../lib/child-process';
import { watchProcess, type ProcessUsage } from '../lib/proc-stats';
import { BIN, BIN_NODE_FLAGS } from '../lib/qanatix-bin';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The key a worker with QANATIX_DEV=1 and no QANATIX_ENCRYPTION_KEYS opens connection configs with. */
const DEV_BOX = SecretBox.fromEnv({}, true);

export interface PullResult {
  /** From the run's queued_at (set just before the job is added) to its finished_at, by the database clock. */
  wallMs: number;
  /** The same, by this process's clock: enqueue → the bench saw the run finished (polling every 20 ms). */
  observedMs: number;
  counts: { rows_read: number; inserted: number; updated: number; unchanged: number; rejected: number };
  worker: ProcessUsage;
}

/**
 * Our pull through the deployed path: a `qanatix worker` child process takes a job from the pulls
 * queue on our own Redis, runs it and records the run in Postgres, as a manual pull from the API would.
 */
export class OursHarness {
  private redis: Redis;
  private queue: Queue<PullJobData>;
  private worker: Service | null = null;
  private profiles = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly platformUrl: string,
    private readonly redisUrl: string,
  ) {
    this.redis = createRedis(redisUrl);
    this.queue = createPullQueue(this.redis);
  }

  get workerPid(): number | null {
    return this.worker?.pid ?? null;
  }

  /** A fresh worker process (so every measured pass starts from the same idle heap); waits until it listens. */
  async startWorker(profileDir?: string): Promise<void> {
    await this.stopWorker();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: this.platformUrl,
      REDIS_URL: this.redisUrl,
      QANATIX_DEV: '1',
      LOG_LEVEL: 'warn',
    };
    delete env.QANATIX_ENCRYPTION_KEYS;
    // QANATIX_BENCH_WORKER_FLAGS: more node/V8 flags for the worker (after the shebang's, so they win), to try them.
    const nodeArgs: string[] = [...BIN_NODE_FLAGS, ...(process.env.QANATIX_BENCH_WORKER_FLAGS ?? '').split(/\s+/).filter(Boolean)];
    if (profileDir) {
      // Not NODE_OPTIONS, which refuses --cpu-prof; the profile is written when the worker exits after SIGTERM.
      const dir = `${profileDir}/${++this.profiles}`;
      mkdirSync(dir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    this.worker = startService(process.execPath, [...nodeArgs, BIN, 'worker'], { cwd: ROOT, env, keepLines: 60 });
    const deadline = Date.now() + 60_000;
    while ((await this.queue.getWorkersCount()) === 0) {
      if (this.worker.child.exitCode !== null)
        throw new Error(`the worker exited (code ${this.worker.child.exitCode}):\n${this.worker.tail()}`);
      if (Date.now() > deadline) throw new Error(`the worker did not connect to Redis within 60 s:\n${this.worker.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    // Let its start-up work (module loading, the schedule reconciler's first pass) finish before a clock starts.
    await new Promise((r) => setTimeout(r, 1_500));
  }

  async stopWorker(): Promise<void> {
    await this.worker?.stop(30_000);
    this.worker = null;
  }

  tail(): string {
    return this.worker?.tail() ?? '';
  }

  /** A table-mode connector (a collection, a label) on `updated_at` (lag 0, default batch size), saved as the API saves it. */
  async createConnector(o: {
    tenant: string;
    vertical: string;
    entityType: string;
    connectorType: string;
    connectionConfig: Record<string, unknown>;
    table: string;
    batchSize?: number;
  }): Promise<string> {
    const tenantId = await ensureTenant(this.pool, o.tenant);
    const id = randomUUID();
    const settings: Record<string, unknown> = { table: o.table, cursor: { column: 'updated_at', lag_seconds: 0 } };
    if (o.batchSize) settings.batch_size = o.batchSize;
    await insertConnector(this.pool, DEV_BOX, tenantId, id, {
      name: `bench-${id.slice(0, 8)}`,
      connector_type: o.connectorType,
      vertical: o.vertical,
      entity_type: o.entityType,
      connection_config: o.connectionConfig,
      schedule: null,
      timezone: 'UTC',
      enabled: true,
      settings,
    });
    return id;
  }

  /** Enqueues one pull as the API's manual pull does (run row first, then the job) and waits for the run to end. */
  async pull(connectorId: string, mode: PullMode, timeoutMs = 30 * 60_000): Promise<PullResult> {
    if (!this.worker) throw new Error('no worker running');
    const { rows } = await this.pool.query<{ tenant_id: string }>('select tenant_id from connectors where id = $1', [connectorId]);
    const stopWatch = watchProcess(this.worker.pid);
    const t0 = performance.now();
    const runId = await createRun(this.pool, { connectorId, tenantId: rows[0]!.tenant_id, trigger: 'manual', mode });
    await this.queue.add(
      PULL_JOB,
      { connectorId, tenantId: rows[0]!.tenant_id, mode, trigger: 'manual', runId },
      { jobId: `run-${runId}` },
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows: r } = await this.pool.query<{
        status: string;
        error: string | null;
        ms: number;
        rows_read: number;
        inserted: number;
        updated: number;
        unchanged: number;
        rejected: number;
      }>(
        `select status, error, (extract(epoch from finished_at - queued_at) * 1000)::float8 as ms, rows_read::int, inserted::int, updated::int, unchanged::int, rejected::int
           from connector_runs where id = $1`,
        [runId],
      );
      const run = r[0]!;
      if (run.status === 'succeeded') {
        const observedMs = performance.now() - t0;
        return {
          wallMs: run.ms,
          observedMs,
          counts: {
            rows_read: run.rows_read,
            inserted: run.inserted,
            updated: run.updated,
            unchanged: run.unchanged,
            rejected: run.rejected,
          },
          worker: stopWatch(),
        };
      }
      if (run.status === 'failed' || run.status === 'retrying')
        throw new Error(`run ${runId} ${run.status}: ${run.error}\nworker output:\n${this.tail()}`);
      if (this.worker.child.exitCode !== null) throw new Error(`the worker exited mid-run:\n${this.tail()}`);
      if (Date.now() > deadline) throw new Error(`run ${runId} did not finish within ${timeoutMs / 1000} s`);
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  async close(): Promise<void> {
    await this.stopWorker();
    await this.queue.close().catch(() => {});
    this.redis.disconnect();
  }
}
