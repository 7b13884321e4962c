import { parseArgs } from 'node:util';
import { ensureTenant, createApiKey, SCOPES, type Scope } from '../auth/api-keys';
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { startRoles, type Roles } from '../server';

const HELP = `qanatix — the QANATIX ingestion platform

Usage: qanatix <command> [options]

Commands:
  serve                                 run the API, the pull worker and the scheduler in one process
  api                                   run the HTTP API (HOST, PORT, DATABASE_URL, REDIS_URL)
  worker                                run the pull worker and the schedule reconciler
  migrate                               apply database migrations
  keys create --tenant T --scopes a,b   create an API key (printed once) [--name N]

Run "qanatix <command> --help" for a command's options.`;

const ROLE_HELP: Record<'serve' | 'api' | 'worker', string> = {
  serve: 'qanatix serve\n\nRuns the HTTP API (HOST:PORT, default 127.0.0.1:8000), the pull worker and the schedule reconciler in one process; migrates first.',
  api: 'qanatix api\n\nRuns the HTTP API on HOST:PORT (default 127.0.0.1:8000); migrates first. Pulls are queued in REDIS_URL.',
  worker: 'qanatix worker\n\nRuns pulls from the queue in REDIS_URL (WORKER_CONCURRENCY at once, default 2) and keeps job schedulers in step with Postgres.',
};

/** Exit codes: 0 ok, 1 the operation failed, 2 wrong usage. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'api':
      case 'worker':
      case 'serve':
        if (rest.includes('--help')) return help(ROLE_HELP[command]);
        await startRoles(loadConfig(), { api: command !== 'worker', worker: command !== 'api' } satisfies Roles);
        return await new Promise<number>(() => {});
      case 'migrate':
        return await migrateCommand(rest);
      case 'keys':
        return await keysCommand(rest);
      case undefined:
      case '--help':
      case 'help':
        return help(HELP);
      default:
        console.error(`unknown command "${command}"\n\n${HELP}`);
        return 2;
    }
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    return 1;
  }
}

function help(text: string): number {
  console.log(text);
  return 0;
}

async function migrateCommand(args: string[]): Promise<number> {
  if (args.includes('--help')) return help('qanatix migrate\n\nApplies the migrations not yet applied to DATABASE_URL.');
  const pool = createPool(loadConfig().databaseUrl, 1);
  try {
    const applied = await migrate(pool);
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    return 0;
  } finally {
    await pool.end();
  }
}

async function keysCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean' } },
  });
  if (sub !== 'create' || values.help) {
    console.log(`qanatix keys create --tenant <name> --scopes <${SCOPES.join('|')}>[,…] [--name <label>]

Creates the tenant when it does not exist and prints a new API key once.`);
    return values.help ? 0 : 2;
  }
  const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (!values.tenant || scopes.length === 0 || unknown.length) {
    console.error(unknown.length ? `unknown scope(s): ${unknown.join(', ')} (known: ${SCOPES.join(', ')})` : 'both --tenant and --scopes are required');
    return 2;
  }
  const config = loadConfig();
  const pool = createPool(config.databaseUrl, 1);
  try {
    await migrate(pool);
    const tenantId = await ensureTenant(pool, values.tenant);
    const key = await createApiKey(pool, config.apiKeySalt, tenantId, values.name ?? 'cli', scopes as Scope[]);
    console.log(key.key);
    console.error(`key ${key.id} for tenant "${values.tenant}" (${tenantId}), scopes ${scopes.join(',')}; store it now, it cannot be shown again`);
    return 0;
  } finally {
    await pool.end();
  }
}
