import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { waitFor } from '../../helpers/worker-process';
import { doctor, expectAllPass } from './doctor-report';

/** Each doctor check on PostgreSQL: a table that passes them all, and for each check a table built to trip it. */

const ROLE = `qdoctor_${randomBytes(4).toString('hex')}`;
const PASSWORD = `doc-Pw-${randomBytes(6).toString('hex')}`;
let source: TestDatabase;
let readerDsn: string;

/** A table (id, name, updated_at) with `rows` rows an hour old, one second apart; `indexed`: the (updated_at, id) index. */
async function table(name: string, rows: number, o: { indexed?: boolean; nullable?: boolean; key?: boolean } = {}) {
  await source.pool.query(
    `CREATE TABLE ${name} (id int ${o.key === false ? '' : 'PRIMARY KEY'}, name text NOT NULL, updated_at timestamptz ${o.nullable ? '' : 'NOT NULL'})`,
  );
  await source.pool.query(
    `INSERT INTO ${name} SELECT g, 'n' || g, now() - interval '1 hour' + g * interval '1 second' FROM generate_series(1, ${rows}) g`,
  );
  if (o.indexed !== false) await source.pool.query(`CREATE INDEX ${name}_order ON ${name} (updated_at, id)`);
  await source.pool.query(`ANALYZE ${name}`);
}

const def = (extra: Record<string, unknown>, dsn = source.url) => ({
  connector_type: 'postgresql',
  connection_config: { dsn },
  cursor: { column: 'updated_at' },
  batch_size: 10,
  ...extra,
});

beforeAll(async () => {
  source = await freshDatabase('qsrc', false);
  await table('good', 500);
  await table('bare', 50, { indexed: false });
  await table('bursty', 40);
  await source.pool.query("UPDATE bursty SET updated_at = now() - interval '2 hours' WHERE id > 5");
  await table('holes', 20, { nullable: true });
  await source.pool.query('UPDATE holes SET updated_at = NULL WHERE id % 4 = 0');
  await table('ahead', 20);
  await source.pool.query("UPDATE ahead SET updated_at = now() + interval '2 hours' + id * interval '1 second' WHERE id > 17");
  await table('fresh', 20);
  await source.pool.query('UPDATE fresh SET updated_at = now() WHERE id > 13');
  await table('keyless', 20, { key: false });
  await source.pool.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  await source.pool.query(`GRANT SELECT ON good TO ${ROLE}`);
  const url = new URL(source.url);
  url.username = ROLE;
  url.password = PASSWORD;
  readerDsn = url.toString();
});
afterAll(async () => {
  await source?.drop();
  await source?.pool.query(`DROP ROLE IF EXISTS ${ROLE}`).catch(() => {});
});

describe('the doctor on PostgreSQL', () => {
  test('a read-only role on an indexed table with settled, distinct, past cursors passes every check', async () => {
    const d = await doctor(def({ table: 'good' }, readerDsn));
    expectAllPass(d);
    expect(d.check('cursor_index').detail).toContain('"good_order"');
    expect(d.check('privileges').detail).toBe(`role "${ROLE}" can only read table "good"`);
    expect(d.check('resync_estimate').detail).toMatch(/about 500 rows .*reltuples.*no run yet/);
  });

  test('no index serving (cursor, key): warn with the CREATE INDEX statement for that table and those columns', async () => {
    const c = (await doctor(def({ table: 'bare' }))).check('cursor_index');
    expect(c.verdict).toBe('warn');
    expect(c.fix).toBe('CREATE INDEX CONCURRENTLY ON "bare" ("updated_at", "id");');
    // An index on other columns, or on the same ones in another order, does not serve it either.
    await source.pool.query('CREATE INDEX bare_other ON bare (id, updated_at)');
    expect((await doctor(def({ table: 'bare' }))).check('cursor_index').verdict).toBe('warn');
  });

  test('a run of equal cursor values longer than batch_size: warn naming the column; the where filter scopes the count', async () => {
    const c = (await doctor(def({ table: 'bursty' }))).check('equal_cursor_run');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/35 rows share "updated_at" = "\d{4}-.*Z" \(batch_size 10\)/);
    expect(c.fix).toContain('(updated_at, id)');
    expect(c.fix).toContain('raise batch_size above 35');
    const scoped = (await doctor(def({ table: 'bursty', where: 'id > 33' }))).check('equal_cursor_run');
    expect(scoped).toMatchObject({ verdict: 'ok', fix: null });
    expect(scoped.detail).toContain('7 rows share');
  });

  test('NULL cursors: warn with the count, what the connector does with them, and the column to fill', async () => {
    const c = (await doctor(def({ table: 'holes' }))).check('null_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toContain('5 rows of table "holes" have a NULL "updated_at"');
    expect(c.detail).toContain('reads them once, first and in key order');
    expect(c.fix).toContain('give "updated_at" a value on every row');
    const skippedByStart = (
      await doctor(def({ table: 'holes', cursor: { column: 'updated_at', initial_value: '2000-01-01T00:00:00Z' } }))
    ).check('null_cursors');
    expect(skippedByStart.detail).toContain('never reads them');
  });

  test("cursor values after the source's clock: warn with the count, the latest value and how far ahead it is", async () => {
    const c = (await doctor(def({ table: 'ahead' }))).check('future_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^3 rows have "updated_at" later than the source clock/);
    expect(c.detail).toMatch(/, 72\d\d s ahead/);
    expect(c.fix).toContain('write "updated_at" from the source database\'s clock');
  });

  test('rows inside the lag window: warn with the count the runs would record and the lag to lower', async () => {
    const d = await doctor(def({ table: 'fresh' }));
    const c = d.check('held_back');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^7 rows changed within the lag window \(60 s, from "updated_at" = "\d{4}-/);
    expect(c.fix).toContain('lower cursor.lag_seconds (now 60)');
    // The same rows with no lag are read by the next run.
    expect((await doctor(def({ table: 'fresh', cursor: { column: 'updated_at', lag_seconds: 0 } }))).check('held_back').verdict).toBe('ok');
  });

  test('a role that can write: warn naming the privileges, with the statement that takes them away', async () => {
    await source.pool.query(`GRANT INSERT, DELETE ON good TO ${ROLE}`);
    try {
      const c = (await doctor(def({ table: 'good' }, readerDsn))).check('privileges');
      expect(c.verdict).toBe('warn');
      expect(c.detail).toContain(`role "${ROLE}" can write: INSERT, DELETE`);
      expect(c.fix).toBe(`REVOKE INSERT, DELETE ON "good" FROM "${ROLE}"; (or connect as a role that has only SELECT)`);
    } finally {
      await source.pool.query(`REVOKE INSERT, DELETE ON good FROM ${ROLE}`);
    }
    const superuser = (await doctor(def({ table: 'good' }))).check('privileges');
    expect(superuser.verdict).toBe('warn');
    expect(superuser.detail).toMatch(/can write: SUPERUSER, INSERT, UPDATE, DELETE, TRUNCATE/);
    expect(superuser.fix).toContain('GRANT USAGE ON SCHEMA "public" TO qanatix_reader; GRANT SELECT ON "good" TO qanatix_reader');
  });

  test("a full resync's time comes from this connector's past rows/s", async () => {
    const c = (await doctor(def({ table: 'good' }, readerDsn), { rowsPerSecond: 50 })).check('resync_estimate');
    expect(c).toMatchObject({ verdict: 'ok', fix: null });
    expect(c.detail).toMatch(/about 500 rows .*: about 10 s at this connector's past 50 rows\/s$/);
  });

  test('a table without a key: the index check fails with the tie-breaker to set, and so does the report', async () => {
    const d = await doctor(def({ table: 'keyless' }));
    expect(d.check('cursor_index')).toMatchObject({ verdict: 'fail', fix: expect.stringContaining('set cursor.tiebreaker') });
    expect(d.report.verdict).toBe('fail');
  });

  test('query mode: no index of its own to check; the counts run over the query', async () => {
    const d = await doctor(
      def({ query: 'SELECT id, name, updated_at FROM bursty WHERE id > 2', cursor: { column: 'updated_at', tiebreaker: ['id'] } }),
    );
    expect(d.check('cursor_index').verdict).toBe('skipped');
    expect(d.check('equal_cursor_run').detail).toContain('35 rows share');
  });

  test('a check over its budget is skipped as timed out, and the server stops its statement', async () => {
    const started = Date.now();
    const d = await doctor(
      def({
        query: "SELECT g AS id, 'n' AS name, now() - interval '1 hour' AS updated_at FROM generate_series(1, 20000000) g",
        cursor: { column: 'updated_at', tiebreaker: ['id'] },
      }),
      { checkSeconds: 0.3 },
    );
    expect(d.check('equal_cursor_run')).toMatchObject({ verdict: 'skipped', detail: 'timed out after 0.3 s' });
    expect(Date.now() - started).toBeLessThan(15_000);
    // Each statement carries the budget as its statement_timeout: none is left running.
    await waitFor(
      'the statements to end',
      async () => {
        const { rows } = await source.pool.query(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 20000000)%' AND state = 'active' AND pid <> pg_backend_pid()",
        );
        return rows[0].n === 0;
      },
      2_000,
      100,
    );
  });
});
