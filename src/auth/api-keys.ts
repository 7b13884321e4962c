import { createHmac, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/pool';

export const SCOPES = ['ingest', 'read', 'connectors', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  keyId: string;
  tenantId: string;
  scopes: Scope[];
}

export interface ApiKeyInfo {
  id: string;
  name: string;
  key_prefix: string;
  scopes: Scope[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
}

const KEY_PATTERN = /^sk_live_[0-9a-f]{64}$/;

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
): Promise<ApiKeyInfo & { key: string }> {
  const key = 'sk_live_' + randomBytes(32).toString('hex');
  const { rows } = await db.query<ApiKeyInfo>(
    `insert into api_keys (tenant_id, name, key_hash, key_prefix, scopes, expires_at) values ($1, $2, $3, $4, $5, $6)
     returning id, name, key_prefix, scopes, created_at, expires_at, last_used_at`,
    [tenantId, name, hashKey(key, salt), key.slice(0, 12), scopes, expiresAt],
  );
  return { ...rows[0]!, key };
}

/** The principal of a presented key, or null when it is malformed, unknown, revoked or expired. */
export async function authenticateKey(db: Queryable, salt: string, key: string): Promise<Principal | null> {
  if (!KEY_PATTERN.test(key)) return null;
  const { rows } = await db.query<{ id: string; tenant_id: string; scopes: Scope[]; stale: boolean }>(
    `select id, tenant_id, scopes, (last_used_at is null or last_used_at < now() - interval '1 minute') as stale from api_keys
      where key_hash = $1 and revoked_at is null and (expires_at is null or expires_at > now())`,
    [hashKey(key, salt)],
  );
  const row = rows[0];
  if (!row) return null;
  // At most one write a minute per key: busy ingest clients must not queue up on this row's lock.
  if (row.stale) await db.query('update api_keys set last_used_at = now() where id = $1', [row.id]);
  return { keyId: row.id, tenantId: row.tenant_id, scopes: row.scopes };
}

export async function listApiKeys(db: Queryable, tenantId: string): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<ApiKeyInfo>(
    `select id, name, key_prefix, scopes, created_at, expires_at, last_used_at from api_keys
      where tenant_id = $1 and revoked_at is null order by created_at`,
    [tenantId],
  );
  return rows;
}

export async function revokeApiKey(db: Queryable, tenantId: string, keyId: string): Promise<boolean> {
  const { rowCount } = await db.query('update api_keys set revoked_at = now() where tenant_id = $1 and id = $2 and revoked_at is null', [tenantId, keyId]);
  return (rowCount ?? 0) > 0;
}
