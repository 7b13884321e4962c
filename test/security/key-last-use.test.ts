import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createApiKey, ensureTenant } from '../../src/auth/api-keys';
import { createOperator } from '../../src/auth/operator-credentials';
import { bearer, testApi, TEST_SALT, type TestApi } from '../helpers/api';

/**
 * A credential's last use is bookkeeping: a burst of one key, or a lock a second writer holds on the key's row,
 * must neither rewrite the row once per request nor hold the request.
 */

let t: TestApi;
beforeAll(async () => {
  t = await testApi();
  // Every row version the bookkeeping writes, counted by the database itself.
  await t.db.pool.query(`
    create table touches (tbl text, id uuid);
    create function log_touch() returns trigger language plpgsql as $$
      begin insert into touches values (tg_table_name, new.id); return new; end $$;
    create trigger api_keys_touch after update on api_keys for each row execute function log_touch();
    create trigger operators_touch after update on operator_credentials for each row execute function log_touch();`);
});
afterAll(() => t?.close());

const touches = async (id: string) =>
  (await t.db.pool.query<{ n: number }>('select count(*)::int as n from touches where id = $1', [id])).rows[0]!.n;

async function tenantKey(name: string) {
  return createApiKey(t.db.pool, TEST_SALT, await ensureTenant(t.db.pool, name), 'k', ['read']);
}
const asKey = (key: string) => t.app.inject({ method: 'GET', url: '/api/v1/entities', headers: bearer(key) });
const asOperator = (token: string) => t.app.inject({ method: 'GET', url: '/metrics', headers: bearer(token) });

describe('last use of a key or an operator credential', () => {
  test('a burst of 40 requests of a never-used credential writes its row once, and every request is answered', async () => {
    const key = await tenantKey('burst');
    const op = await createOperator(t.db.pool, TEST_SALT, 'burst-op');
    const answers = await Promise.all([
      ...Array.from({ length: 40 }, () => asKey(key.key)),
      ...Array.from({ length: 40 }, () => asOperator(op.token)),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual(Array(80).fill(200));
    expect({ key: await touches(key.id), operator: await touches(op.id) }).toEqual({ key: 1, operator: 1 });
    const stored = await t.db.pool.query('select last_used_at from api_keys where id = $1', [key.id]);
    expect(stored.rows[0].last_used_at).not.toBeNull();
    // Within the minute, more requests write nothing.
    await Promise.all(Array.from({ length: 10 }, () => asKey(key.key)));
    expect(await touches(key.id)).toBe(1);
    // A minute on, the next burst records the use once again.
    await t.db.pool.query("update api_keys set last_used_at = now() - interval '61 seconds' where id = $1", [key.id]);
    const marked = await touches(key.id);
    await Promise.all(Array.from({ length: 10 }, () => asKey(key.key)));
    expect(await touches(key.id)).toBe(marked + 1);
    const { rows } = await t.db.pool.query("select last_used_at > now() - interval '5 seconds' as fresh from api_keys where id = $1", [
      key.id,
    ]);
    expect(rows[0].fresh).toBe(true);
  });

  test("a lock another writer holds on the credential's row does not hold its requests", async () => {
    const key = await tenantKey('locked');
    const op = await createOperator(t.db.pool, TEST_SALT, 'locked-op');
    const holder = await t.db.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('select 1 from api_keys where id = $1 for update', [key.id]);
      await holder.query('select 1 from operator_credentials where id = $1 for update', [op.id]);
      const answered = Promise.all([asKey(key.key), asOperator(op.token)]).then((all) => all.map((a) => a.statusCode));
      const held = new Promise((resolve) => setTimeout(() => resolve('held by the lock'), 2000));
      expect(await Promise.race([answered, held])).toEqual([200, 200]);
    } finally {
      await holder.query('rollback');
      holder.release();
    }
    // Once the lock is gone, the next request records the use.
    await asKey(key.key);
    expect(await touches(key.id)).toBe(1);
  });
});
