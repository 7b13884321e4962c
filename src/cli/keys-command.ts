import { parseArgs } from 'node:util';
import { createApiKey, ensureTenant, MAX_ROTATION_GRACE_SECONDS, SCOPES, type ApiKeyInfo, type Scope } from '../auth/api-keys';
import { loadConfig, MAX_RATE_LIMIT_PER_MINUTE } from '../config';
import { migrate } from '../db/migrate';
import { createPool } from '../db/pool';
import { ApiClient, CliError, EXIT } from './api-client';
import { printTable } from './output';

export const KEYS_HELP = `qanatix keys <command>

  create --tenant <name> --scopes <${SCOPES.join('|')}>[,…] [--name <label>] [--rate-limit <n>]
      creates the tenant when new and prints a new API key once (talks to DATABASE_URL directly:
      it is how the first key comes to exist); --rate-limit: requests a minute for this key, any
      value up to ${MAX_RATE_LIMIT_PER_MINUTE} (default: RATE_LIMIT_PER_MINUTE)
  list [--json]          the tenant's active keys (never the keys themselves); needs an admin key
  rotate <key-id> [--grace <seconds>]
      prints a new secret for the key once (same id, name, scopes, expiry, rate limit); the old
      secret stops working at once, or after --grace seconds (at most ${MAX_ROTATION_GRACE_SECONDS}); needs an admin key
  revoke <key-id>        revoke a key; needs an admin key`;

export async function keysCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      tenant: { type: 'string' },
      scopes: { type: 'string' },
      name: { type: 'string' },
      'rate-limit': { type: 'string' },
      grace: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [sub, ref] = positionals;
  if (values.help || !sub) {
    console.log(KEYS_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  if (sub === 'create') return createKey(values);
  const api = ApiClient.fromEnv();
  if (sub === 'list') {
    const columns = ['id', 'name', 'key_prefix', 'scopes', 'rate_limit_per_minute', 'created_at', 'last_used_at', 'expires_at'];
    printTable(await api.ok('GET', '/auth/keys'), columns, values.json ?? false);
    return EXIT.ok;
  }
  if (sub === 'rotate') {
    if (!ref) throw new CliError('rotate needs a key id (see "qanatix keys list")', EXIT.usage);
    const grace = values.grace === undefined ? 0 : wholeNumber('--grace', values.grace, 0, MAX_ROTATION_GRACE_SECONDS);
    const rotated = await api.ok<ApiKeyInfo & { key: string }>('POST', `/auth/keys/${encodeURIComponent(ref)}/rotate`, {
      grace_seconds: grace,
    });
    console.log(rotated.key);
    const old = rotated.previous_key_expires_at
      ? `the old secret works until ${new Date(rotated.previous_key_expires_at).toISOString()}`
      : 'the old secret no longer works';
    console.error(`key ${rotated.id} ("${rotated.name}") rotated; ${old}; store the new key now, it cannot be shown again`);
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

/** A whole number from an option, or a usage error naming the option and the range. */
function wholeNumber(option: string, raw: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max)
    throw new CliError(`${option} must be a whole number from ${min} to ${max} (got "${raw}")`, EXIT.usage);
  return Number(raw);
}

async function createKey(values: { tenant?: string; scopes?: string; name?: string; 'rate-limit'?: string }): Promise<number> {
  const scopes = (values.scopes ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length) throw new CliError(`unknown scope(s): ${unknown.join(', ')} (known: ${SCOPES.join(', ')})`, EXIT.usage);
  if (!values.tenant || scopes.length === 0) throw new CliError('keys create needs --tenant and --scopes', EXIT.usage);
  const rateLimit =
    values['rate-limit'] === undefined ? null : wholeNumber('--rate-limit', values['rate-limit'], 1, MAX_RATE_LIMIT_PER_MINUTE);
  const config = loadConfig();
  const pool = createPool(config.databaseUrl, 1);
  try {
    await migrate(pool);
    const tenantId = await ensureTenant(pool, values.tenant);
    const key = await createApiKey(pool, config.apiKeySalt, tenantId, values.name ?? 'cli', scopes as Scope[], null, rateLimit);
    console.log(key.key);
    const limit = `${rateLimit ?? config.rateLimitPerMinute} requests a minute${rateLimit === null ? ' (the installation default)' : ''}`;
    console.error(
      `key ${key.id} for tenant "${values.tenant}" (${tenantId}), scopes ${scopes.join(',')}, ${limit}; store it now, it cannot be shown again`,
    );
    return EXIT.ok;
  } finally {
    await pool.end();
  }
}
