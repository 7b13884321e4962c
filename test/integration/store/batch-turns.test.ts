import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ensureTenant } from '../../../src/auth/api-keys';
import { upsertEntities } from '../../../src/core/upsert-entities';
import { followBatch, takeBatchTurn } from '../../../src/store/pull-progress';
import { saveConnector } from '../../helpers/connector-fixture';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

let db: TestDatabase;
let tenantId: string;
beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
});
afterAll(() => db.drop());

const cursorOf = (n: number) => ({ value: `2026-01-01T00:00:0${n}.000000Z`, key: [n] });

async function connector(): Promise<string> {
  return saveConnector(db.pool, 'acme', { connection_config: { dsn: 'postgres://nobody@127.0.0.1/none' }, settings: { table: 't' } });
}

/** A transaction on a connection of its own, ended by hand. */
async function begin(): Promise<pg.PoolClient> {
  const c = await db.pool.connect();
  await c.query('begin');
  return c;
}
const end = async (c: pg.PoolClient, how: 'commit' | 'rollback') => {
  await c.query(how);
  c.release();
};
const moveCursor = (c: pg.PoolClient, id: string, n: number) =>
  c.query('update connector_state set cursor = $2::jsonb where connector_id = $1', [id, JSON.stringify(cursorOf(n))]);

/** Settles within `ms` or says it is still pending. */
const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);

describe('batch turns: two batches of a pull written at once commit in read order', () => {
  test('the batch beside waits for the one before it to commit, and then finds the position that one committed', async () => {
    const id = await connector();
    const turns = randomUUID();
    const first = await begin();
    await takeBatchTurn(first, `${turns}:0`);
    await moveCursor(first, id, 1);
    const second = await begin();
    await takeBatchTurn(second, `${turns}:1`);
    const follows = followBatch(second, id, `${turns}:0`, cursorOf(1));
    expect(await within(follows, 300)).toBe('pending');
    await end(first, 'commit');
    expect(await follows).toBe(true);
    await moveCursor(second, id, 2);
    await end(second, 'commit');
  });

  test('when the batch before it rolls back, the batch beside learns it did not commit (and must not commit either)', async () => {
    const id = await connector();
    const turns = randomUUID();
    const first = await begin();
    await takeBatchTurn(first, `${turns}:0`);
    await moveCursor(first, id, 1);
    const second = await begin();
    const follows = followBatch(second, id, `${turns}:0`, cursorOf(1));
    expect(await within(follows, 300)).toBe('pending');
    await end(first, 'rollback');
    expect(await follows).toBe(false);
    await end(second, 'rollback');
  });

  test('one that reaches its turn before the batch before it has moved the position is told so, and waits for nothing', async () => {
    const id = await connector();
    const turns = randomUUID();
    const second = await begin();
    // The batch before it has not started (or is between the attempts of a retried transaction): its turn is free.
    expect(await within(followBatch(second, id, `${turns}:0`, cursorOf(1)), 2_000)).toBe(false);
    await end(second, 'rollback');
  });

  test('two batches sharing an entity, each waiting for the other, are a deadlock PostgreSQL detects and breaks, never a hang', async () => {
    const id = await connector();
    const turns = randomUUID();
    const row = (name: string) => [{ name, sourceId: 'shared', dedupKey: 's:shared', data: '{}' }];
    const first = await begin();
    await takeBatchTurn(first, `${turns}:0`);
    const second = await begin();
    await takeBatchTurn(second, `${turns}:1`);
    // The later batch writes the shared entity first, then waits for its turn; the earlier one then wants the same row.
    await upsertEntities(second, tenantId, 'turns', 'product', row('later'));
    const secondFollows = followBatch(second, id, `${turns}:0`, cursorOf(1)).then(
      (ok) => ({ ok }),
      (err: { code?: string }) => ({ code: err.code }),
    );
    const firstWrites = upsertEntities(first, tenantId, 'turns', 'product', row('earlier')).then(
      () => ({ ok: true }),
      (err: { code?: string }) => ({ code: err.code }),
    );
    const outcomes = await within(Promise.race([secondFollows, firstWrites]), 10_000);
    expect(outcomes).not.toBe('pending');
    expect(outcomes).toEqual({ code: '40P01' });
    // Whichever was chosen as the victim rolls back; the other goes on.
    const [a, b] = await Promise.all([firstWrites, secondFollows]);
    expect([a, b].filter((o) => 'code' in o)).toHaveLength(1);
    await end(first, 'rollback');
    await end(second, 'rollback');
  });
});
