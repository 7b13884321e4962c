import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { startRoles } from '../server';
import { CliError, EXIT } from './api-client';
import { CONNECTORS_HELP, connectorsCommand } from './connectors-command';
import { KEYS_HELP, keysCommand } from './keys-command';
import { PULL_HELP, pullCommand, RUNS_HELP, runsCommand } from './pull-command';
import { QUEUES_HELP, queuesCommand, RETRY_HELP, retryCommand } from './queues-command';

const HELP = `qanatix — the QANATIX ingestion platform: scheduled database pulls and an HTTP push API

Usage: qanatix <command> [options]        (qanatix <command> --help for a command's options)

Run:
  serve                       the API, the pull worker and the scheduler in one process
  api                         the HTTP API only (HOST, PORT)
  worker                      the pull worker and the schedule reconciler only
  demo                        a sample source, connectors and scheduled pulls, end to end
  migrate                     apply database migrations (DATABASE_URL)

Operate (over the API: QANATIX_URL, QANATIX_API_KEY):
  keys create|list|revoke     API keys (create talks to DATABASE_URL directly)
  connectors apply|list|get|test|delete
  pull <connector> [--full] [--wait]
  runs <connector>
  queues [--watch]
  retry <job-id>

Exit codes: 0 done, 1 failed (or the run failed), 2 wrong usage, 3 API unreachable or key refused.`;

const ROLE_HELP = {
  serve: 'qanatix serve\n\nRuns the HTTP API (HOST:PORT, default 127.0.0.1:8000), the pull worker and the schedule reconciler in one process; migrates first.',
  api: 'qanatix api\n\nRuns the HTTP API on HOST:PORT (default 127.0.0.1:8000); migrates first. Pulls are queued in REDIS_URL.',
  worker: 'qanatix worker\n\nRuns pulls from the queue in REDIS_URL (WORKER_CONCURRENCY at once, default 2) and keeps job schedulers in step with Postgres.',
} as const;

const COMMANDS: Record<string, { help: string; run(args: string[]): Promise<number> }> = {
  migrate: { help: 'qanatix migrate\n\nApplies the migrations not yet applied to DATABASE_URL.', run: migrateCommand },
  keys: { help: KEYS_HELP, run: keysCommand },
  connectors: { help: CONNECTORS_HELP, run: connectorsCommand },
  pull: { help: PULL_HELP, run: (a) => pullCommand(a) },
  runs: { help: RUNS_HELP, run: runsCommand },
  queues: { help: QUEUES_HELP, run: queuesCommand },
  retry: { help: RETRY_HELP, run: retryCommand },
  demo: {
    help: 'qanatix demo\n\nStarts the services when none are configured, seeds sample sources, and shows scheduled pulls picking up changes.',
    run: async (a) => (await import('./demo')).demo(a),
  },
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve' || command === 'api' || command === 'worker') {
      if (rest.includes('--help') || rest.includes('-h')) return help(ROLE_HELP[command]);
      await startRoles(loadConfig(), { api: command !== 'worker', worker: command !== 'api' });
      return await new Promise<number>(() => {});
    }
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') return help(HELP);
    const cmd = COMMANDS[command];
    if (!cmd) {
      console.error(`unknown command "${command}"\n\n${HELP}`);
      return EXIT.usage;
    }
    if (command !== 'connectors' && command !== 'keys' && (rest.includes('--help') || rest.includes('-h'))) return help(cmd.help);
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`error: ${err.message}`);
      return err.exitCode;
    }
    if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`error: ${(err as Error).message}`);
      return EXIT.usage;
    }
    console.error(`error: ${(err as Error).message}`);
    return EXIT.failed;
  }
}

function help(text: string): number {
  console.log(text);
  return EXIT.ok;
}

async function migrateCommand(): Promise<number> {
  const pool = createPool(loadConfig().databaseUrl, 1);
  try {
    const applied = await migrate(pool);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}
