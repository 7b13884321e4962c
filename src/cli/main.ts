import { CliError, EXIT } from './api-client';
import { guardOutput } from './terminal';

const HELP = `qanatix — the QANATIX ingestion platform: scheduled database pulls and an HTTP push API

Usage: qanatix <command> [options]        (qanatix <command> --help for a command's options)

Run:
  serve                       the API, the pull worker and the scheduler in one process
  api                         the HTTP API only (HOST, PORT)
  worker                      the pull worker and the schedule reconciler only
  demo                        a sample source, connectors and scheduled pulls, end to end
  migrate                     apply database migrations (DATABASE_URL)
  reseal                      seal connection configs again with the first encryption key (DATABASE_URL)

Operate (over the API: QANATIX_URL, QANATIX_API_KEY):
  keys create|list|rotate|revoke API keys (create talks to DATABASE_URL directly)
  operator create|list|revoke operator credentials for installation-wide operations (DATABASE_URL)
  connectors apply|list|get|test|preview|doctor|rotate-notify-secret|delete
  pull <connector> [--full|--sweep|--verify|--from V --to V] [--wait]
  runs <connector>
  cancel <connector|run-id>   stop a queued or running run (after its current batch)
  confirm <connector|run-id>  let a sweep the guard held delete
  pause|resume <connector>    no scheduled runs and no manual pulls while paused; the position is kept
  state <connector> [--set]   the committed position; --set '{"value": …, "key": […]}' moves it
  events <connector> [run]    what happened during a run: batches, retries, held-back rows, its end
  queues [--watch]            a tenant key sees its own jobs; an operator credential sees all
  queues pause|resume|clean   installation-wide: needs an operator credential in QANATIX_API_KEY
  retry <job-id>

Exit codes: 0 done, 1 failed (or the run failed), 2 wrong usage, 3 API unreachable or key refused,
4 a sweep waits for confirmation, 5 a verify found drift, 6 a doctor check failed.`;

const ROLE_HELP = {
  serve:
    'qanatix serve\n\nRuns the HTTP API (HOST:PORT, default 127.0.0.1:8000), the pull worker and the schedule reconciler in one process; migrates first.',
  api: 'qanatix api\n\nRuns the HTTP API on HOST:PORT (default 127.0.0.1:8000); migrates first. Pulls are queued in REDIS_URL.',
  worker:
    'qanatix worker\n\nRuns pulls from the queue in REDIS_URL (WORKER_CONCURRENCY at once, default 2) and keeps job schedulers in step with Postgres.',
} as const;

// Each command loads its own modules: `qanatix pull --help` should not pay for the server's.
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  migrate: async (a) => (await import('./migrate-command')).migrateCommand(a),
  reseal: async (a) => (await import('./reseal-command')).resealCommand(a),
  keys: async (a) => (await import('./keys-command')).keysCommand(a),
  operator: async (a) => (await import('./operator-command')).operatorCommand(a),
  connectors: async (a) => (await import('./connectors-command')).connectorsCommand(a),
  pull: async (a) => (await import('./pull-command')).pullCommand(a),
  runs: async (a) => (await import('./pull-command')).runsCommand(a),
  cancel: async (a) => (await import('./control-command')).cancelCommand(a),
  confirm: async (a) => (await import('./control-command')).confirmCommand(a),
  pause: async (a) => (await import('./control-command')).pauseCommand(a, 'pause'),
  resume: async (a) => (await import('./control-command')).pauseCommand(a, 'resume'),
  state: async (a) => (await import('./control-command')).stateCommand(a),
  events: async (a) => (await import('./control-command')).eventsCommand(a),
  queues: async (a) => (await import('./queues-command')).queuesCommand(a),
  retry: async (a) => (await import('./queues-command')).retryCommand(a),
  demo: async (a) => (await import('./demo')).demo(a),
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'serve' || command === 'api' || command === 'worker') {
      if (rest.includes('--help') || rest.includes('-h')) return help(ROLE_HELP[command]);
      const [{ startRoles }, { loadConfig }] = await Promise.all([import('../server'), import('../config')]);
      await startRoles(loadConfig(), { api: command !== 'worker', worker: command !== 'api' });
      return await new Promise<number>(() => {});
    }
    guardOutput();
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') return help(HELP);
    const run = COMMANDS[command];
    if (!run) {
      console.error(`unknown command "${command}"\n\n${HELP}`);
      return EXIT.usage;
    }
    return await run(rest);
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
