import { createHmac, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/pool';

/** `entities` and `search` are QANATIX's names: see ENTITY_READ_SCOPES for what they reach here. */
export const SCOPES = ['ingest', 'read', 'connectors', 'admin', 'entities', 'search'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * The scopes that reach entity reads. QANATIX's `entities` is entity CRUD: entities are written only through
 * ingestion here, so it reaches the entity reads. QANATIX's `search` is its search API, which this platform does not
 * have: a search returns entities, so it reaches the same reads (the data a search would show, nothing else).
 */
export const ENTITY_READ_SCOPES: Scope[] = ['read', 'entities', 'search'];

export interface Principal {
  keyId: string;
  tenantId: string;
  scopes: Scope[];
  /** Requests per minute this key may make; null: the installation's default. */
  rateLimitPerMinute: number | null;
  /** Presented with the secret a rotation replaced (during its grace period), not the key's current one. */
  replacedSecret: boolean;
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  key_prefix: string;
  scopes: Scope[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  /** null: the installation's RATE_LIMIT_PER_MINUTE. */
  rate_limit_per_minute: number | null;
  /** While a rotation's grace period lasts: when the replaced secret stops working. */
  previous_key_expires_at: string | null;
}

/** The longest grace period a rotation may give the replaced secret: long enough to roll out a new key, no longer. */
export const MAX_ROTATION_GRACE_SECONDS = 86_400;

const KEY_COLUMNS = `id, name, key_prefix, scopes, created_at, expires_at, last_used_at, rate_limit_per_minute,
  case when previous_key_expires_at > now() then previous_key_expires_at end as previous_key_expires_at`;

const KEY_PATTERN = /^sk_live_[0-9a-f]{64}$/;

const newKey = () => 'sk_live_' + randomBytes(32).toString('hex');

export function hashKey(key: string, salt: string): string {
  return createHmac('sha256', salt).update(key).digest('hex');
}

/** `admin` grants every scope. */
export function hasScope(p: Principal, needed: readonly Scope[]): boolean {
  return p.scopes.includes('admin') || needed.some((s) => p.scopes.includes(s));
}

export async function ensureTenant(db: Queryable, name: string): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    'insert into tenants (name) values ($1) on conflict (name) do update set name = excluded.name returning id',
    [name],
  );
  return rows[0]!.id;
}

/** Creates a key; the key itself is returned once and only its hash is stored. */
export async function createApiKey(
  db: Queryable,
  salt: string,
  tenantId: string,
  name: string,
  scopes: Scope[],
  expiresAt: string | null = null,
  rateLimitPerMinute: number | null = null,
): Promise<ApiKeyInfo & { key: string }> {
  const key = newKey();
  const { rows } = await db.query<ApiKeyInfo>(
    `insert into api_keys (tenant_id, name, key_hash, key_prefix, scopes, expires_at, rate_limit_per_minute) values ($1, $2, $3, $4, $5, $6, $7)
     returning ${KEY_COLUMNS}`,
    [tenantId, name, hashKey(key, salt), key.slice(0, 12), scopes, expiresAt, rateLimitPerMinute],
  );
  return { ...rows[0]!, key };
}

export type Rotation = { rotated: ApiKeyInfo & { key: string } } | { refused: 'not_found' } | { refused: 'expired'; expiresAt: string };

/**
 * A new secret for the same key id: name, scopes, expiry, rate limit and bucket stay. The replaced secret stops
 * working at once, or after `graceSeconds` (at most one replaced secret is kept: rotating again ends the earlier
 * grace). The grace never outlasts the key: the replaced secret stops at the key's expiry if that comes first, and
 * previous_key_expires_at says so. A revoked key is not found; an expired one is refused (rotation keeps the expiry).
 */
export async function rotateApiKey(db: Queryable, salt: string, tenantId: string, keyId: string, graceSeconds: number): Promise<Rotation> {
  const key = newKey();
  const { rows } = await db.query<ApiKeyInfo>(
    `update api_keys set key_hash = $3, key_prefix = $4,
       previous_key_hash = case when $5::int > 0 then key_hash end,
       previous_key_expires_at = case when $5::int > 0 then least(now() + make_interval(secs => $5::int), expires_at) end
      where tenant_id = $1 and id = $2 and revoked_at is null and (expires_at is null or expires_at > now())
      returning ${KEY_COLUMNS}`,
    [tenantId, keyId, hashKey(key, salt), key.slice(0, 12), graceSeconds],
  );
  if (rows[0]) return { rotated: { ...rows[0], key } };
  const { rows: found } = await db.query<{ expires_at: Date | null }>(
    'select expires_at from api_keys where tenant_id = $1 and id = $2 and revoked_at is null',
    [tenantId, keyId],
  );
  const expiresAt = found[0]?.expires_at;
  return expiresAt ? { refused: 'expired', expiresAt: expiresAt.toISOString() } : { refused: 'not_found' };
}

/**
 * Records a credential's use, at most once a minute, and never waits for it: of many requests that find the mark
 * stale at once only the first writes it (the others see the row locked or already fresh and move on), so a burst
 * of one key neither rewrites its row once per request nor queues behind a lock someone else holds on it.
 */
export const touchLastUse = (table: 'api_keys' | 'operator_credentials') =>
  `update ${table} set last_used_at = now() where id = (select id from ${table} where id = $1
     and (last_used_at is null or last_used_at < now() - interval '1 minute') for update skip locked)`;

/** The principal of a presented key, or null when it is malformed, unknown, revoked or expired. */
export async function authenticateKey(db: Queryable, salt: string, key: string): Promise<Principal | null> {
  if (!KEY_PATTERN.test(key)) return null;
  type Row = { id: string; tenant_id: string; scopes: Scope[]; rate_limit_per_minute: number | null; stale: boolean; current: boolean };
  const { rows } = await db.query<Row>(
    `select id, tenant_id, scopes, rate_limit_per_minute, key_hash = $1 as current,
        (last_used_at is null or last_used_at < now() - interval '1 minute') as stale from api_keys
      where (key_hash = $1 or (previous_key_hash = $1 and previous_key_expires_at > now())) and revoked_at is null
        and (expires_at is null or expires_at > now())`,
    [hashKey(key, salt)],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) await db.query(touchLastUse('api_keys'), [row.id]);
  return {
    keyId: row.id,
    tenantId: row.tenant_id,
    scopes: row.scopes,
    rateLimitPerMinute: row.rate_limit_per_minute,
    replacedSecret: !row.current,
  };
}

export async function listApiKeys(db: Queryable, tenantId: string): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<ApiKeyInfo>(
    `select ${KEY_COLUMNS} from api_keys where tenant_id = $1 and revoked_at is null order by created_at`,
    [tenantId],
  );
  return rows;
}

export async function revokeApiKey(db: Queryable, tenantId: string, keyId: string): Promise<boolean> {
  const { rowCount } = await db.query('update api_keys set revoked_at = now() where tenant_id = $1 and id = $2 and revoked_at is null', [
    tenantId,
    keyId,
  ]);
  return (rowCount ?? 0) > 0;
}
