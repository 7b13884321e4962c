import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/pool';
import { hashKey, touchLastUse } from './api-keys';

/**
 * Operator credentials open what is installation-wide: the queue board, pausing, resuming and cleaning queues,
 * every tenant's jobs, `/metrics`. They belong to no tenant and reach no tenant's data routes; they are made
 * with the CLI against the database (`qanatix operator create`), never over the API.
 */
export interface Operator {
  operatorId: string;
  name: string;
}

export type OperatorInfo = {
  id: string;
  name: string;
  token_prefix: string;
  created_at: string;
  last_used_at: string | null;
};

const TOKEN_PATTERN = /^op_live_[0-9a-f]{64}$/;
/** Letters, digits and `._-`: the name is also the board's login user name, so it must survive HTTP Basic auth. */
export const OPERATOR_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** True for a string shaped like an operator token (not a check that it is valid). */
export const looksLikeOperatorToken = (token: string) => token.startsWith('op_live_');

/** Creates a credential; the token is returned once and only its hash is stored. */
export async function createOperator(db: Queryable, salt: string, name: string): Promise<OperatorInfo & { token: string }> {
  if (!OPERATOR_NAME_PATTERN.test(name)) throw new Error('an operator name is 1 to 64 letters, digits, ".", "_" or "-"');
  const token = 'op_live_' + randomBytes(32).toString('hex');
  try {
    const { rows } = await db.query<OperatorInfo>(
      `insert into operator_credentials (name, token_hash, token_prefix) values ($1, $2, $3)
       returning id, name, token_prefix, created_at, last_used_at`,
      [name, hashKey(token, salt), token.slice(0, 12)],
    );
    return { ...rows[0]!, token };
  } catch (err) {
    if ((err as { code?: string }).code === '23505')
      throw new Error(`an operator named "${name}" already exists; revoke it first or choose another name`);
    throw err;
  }
}

/** The operator a presented token belongs to, or null when it is malformed, unknown or revoked. */
export async function authenticateOperator(db: Queryable, salt: string, token: string): Promise<Operator | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const { rows } = await db.query<{ id: string; name: string; stale: boolean }>(
    `select id, name, (last_used_at is null or last_used_at < now() - interval '1 minute') as stale from operator_credentials
      where token_hash = $1 and revoked_at is null`,
    [hashKey(token, salt)],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) await db.query(touchLastUse('operator_credentials'), [row.id]);
  return { operatorId: row.id, name: row.name };
}

export async function listOperators(db: Queryable): Promise<OperatorInfo[]> {
  const { rows } = await db.query<OperatorInfo>(
    'select id, name, token_prefix, created_at, last_used_at from operator_credentials where revoked_at is null order by created_at',
  );
  return rows;
}

/** Revokes by id or by name; false when no active credential matches. */
export async function revokeOperator(db: Queryable, ref: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `update operator_credentials set revoked_at = now()
      where revoked_at is null and (name = $1 or id::text = $1)`,
    [ref],
  );
  return (rowCount ?? 0) > 0;
}
