import { fileURLToPath } from 'node:url';
import { startService, type Service } from '../lib/child-process';
import { BIN, BIN_NODE_FLAGS } from '../lib/qanatix-bin';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What the worker logged at warn level or above (pino JSON), and anything else it printed. */
export interface WorkerOutput {
  warnings: number;
  errors: number;
  other: number;
  /** The first few distinct messages, with how often each came. */
  samples: Array<{ level: string; msg: string; n: number }>;
}

export interface WorkerProcess {
  service: Service;
  pid: number;
  /** Null while it runs; how and when it ended otherwise (a worker stopped by someone else exits 0 on SIGTERM). */
  exited(): string | null;
  output(): WorkerOutput;
  stop(): Promise<{ code: number | null; ms: number }>;
}

/** `bin/qanatix.mjs worker` as a child process, the way it is deployed: pull worker plus reconciler. */
export function startWorkerProcess(env: {
  databaseUrl: string;
  redisUrl: string;
  concurrency: number;
  profileDir?: string;
  /** Serves /metrics on this port (WORKER_METRICS_PORT). */
  metricsPort?: number;
  /** Another build of the CLI (an A/B comparison); the worktree's own by default. */
  bin?: string;
  /** More environment for the worker (settings under comparison). */
  extraEnv?: Record<string, string>;
}): WorkerProcess {
  // A V8 CPU profile of the whole life of the worker, written when it exits (diagnostic runs only: it costs
  // CPU). A node flag, since NODE_OPTIONS refuses --cpu-prof.
  const nodeFlags = [...BIN_NODE_FLAGS, ...(env.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${env.profileDir}`] : [])];
  const service = startService(process.execPath, [...nodeFlags, env.bin ?? BIN, 'worker'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      QANATIX_DEV: '1',
      WORKER_CONCURRENCY: String(env.concurrency),
      LOG_LEVEL: 'warn',
      ...(env.metricsPort ? { WORKER_METRICS_PORT: String(env.metricsPort) } : {}),
      ...env.extraEnv,
    },
    keepLines: 100,
  });
  const out: WorkerOutput = { warnings: 0, errors: 0, other: 0, samples: [] };
  const seen = new Map<string, { level: string; msg: string; n: number }>();
  let partial = '';
  const onData = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let level = 'other';
      let msg = line.slice(0, 300);
      try {
        const o = JSON.parse(line) as { level?: number; msg?: string; err?: unknown };
        level = (o.level ?? 0) >= 50 ? 'error' : (o.level ?? 0) >= 40 ? 'warn' : 'info';
        msg = `${o.msg ?? ''}${o.err ? ` (${JSON.stringify(o.err).slice(0, 200)})` : ''}`;
      } catch {
        // not pino: a stack trace or a runtime warning
      }
      if (level === 'error') out.errors++;
      else if (level === 'warn') out.warnings++;
      else if (level === 'other') out.other++;
      const key = `${level}|${msg}`;
      const s = seen.get(key);
      if (s) s.n++;
      else if (seen.size < 20) seen.set(key, { level, msg, n: 1 });
    }
  };
  let exit: string | null = null;
  service.child.once(
    'exit',
    (code, signal) => (exit = `exit code ${code}${signal ? `, signal ${signal}` : ''} at ${new Date().toISOString()}`),
  );
  service.child.stdout!.on('data', onData);
  service.child.stderr!.on('data', onData);
  return {
    service,
    pid: service.pid,
    exited: () => exit,
    output: () => ({ ...out, samples: [...seen.values()] }),
    async stop() {
      const t0 = Date.now();
      const code = await service.stop(20_000);
      return { code, ms: Date.now() - t0 };
    },
  };
}
