import { parseArgs } from 'node:util';
import { createApiKey, ensureTenant, SCOPES, type Scope } from '../auth/api-keys';
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { ApiClient, CliError, EXIT } from './api-client';
import { printTable } from './output';

export const KEYS_HELP = `qanatix keys <command>

  create --tenant <name> --scopes <${SCOPES.join('|')}>[,…] [--name <label>]
      creates the tenant when new and prints a new API key once (talks to DATABASE_URL directly:
      it is how the first key comes to exist)
  list [--json]          the tenant's active keys (never the keys themselves); needs an admin key
  revoke <key-id>        revoke a key; needs an admin key`;

export async function keysCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { tenant: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  const [sub, ref] = positionals;
  if (values.help || !sub) {
    console.log(KEYS_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (sub === 'create') return createKey(values);
  const api = ApiClient.fromEnv();
  if (sub === 'list') {
    printTable(await api.ok('GET', '/auth/keys'), ['id', 'name', 'key_prefix', 'scopes', 'created_at', 'last_used_at', 'expires_at'], values.json ?? false);
    return EXIT.ok;
  }
  if (sub === 'revoke') {
    if (!ref) throw new CliError('revoke needs a key id (see "qanatix keys list")', EXIT.usage);
    await api.ok('DELETE', `/auth/keys/${ref}`);
    console.log(`revoked ${ref}`);
    return EXIT.ok;
  }
  throw new CliError(`unknown keys command "${sub}"\n\n${KEYS_HELP}`, EXIT.usage);
}

async function createKey(values: { tenant?: string; scopes?: string; name?: string }): Promise<number> {
  const scopes = (values.scopes ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new CliError(`unknown scope(s): ${unknown.join(', ')} (known: ${SCOPES.join(', ')})`, EXIT.usage);
  if (!values.tenant || scopes.length === 0) throw new CliError('keys create needs --tenant and --scopes', EXIT.usage);
  const config = loadConfig();
  const pool = createPool(config.databaseUrl, 1);
  try {
    await migrate(pool);
    const tenantId = await ensureTenant(pool, values.tenant);
    const key = await createApiKey(pool, config.apiKeySalt, tenantId, values.name ?? 'cli', scopes as Scope[]);
    console.log(key.key);
    console.error(`key ${key.id} for tenant "${values.tenant}" (${tenantId}), scopes ${scopes.join(',')}; store it now, it cannot be shown again`);
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}
