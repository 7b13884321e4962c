import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { serviceUrl } from '../../helpers/service-url';
import { doctor, expectAllPass } from './doctor-report';

/** Each doctor check on MySQL/MariaDB: a table that passes them all, and for each check a table built to trip it. */

const suffix = randomBytes(4).toString('hex');
const DATABASE = `qdoctor_${suffix}`;
const USER = `qdoc_${suffix}`;
const PASSWORD = `doc-Pw-${randomBytes(6).toString('hex')}`;
let admin: mysql.Connection;
let url: URL;

/** A table (id, name, updated_at) with `rows` rows an hour old, one second apart; `index`: its secondary index's columns. */
async function table(name: string, rows: number, o: { index?: string | null; nullable?: boolean } = {}) {
  await admin.query(
    `CREATE TABLE ${name} (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, updated_at DATETIME(6) ${o.nullable ? 'NULL' : 'NOT NULL'}) ENGINE=InnoDB`,
  );
  const values = Array.from({ length: rows }, (_, i) => i + 1);
  await admin.query(
    `INSERT INTO ${name} VALUES ${values.map(() => '(?, ?, UTC_TIMESTAMP(6) - INTERVAL 3600 SECOND + INTERVAL ? SECOND)').join(', ')}`,
    values.flatMap((i) => [i, `n${i}`, i]),
  );
  const index = o.index === undefined ? 'updated_at, id' : o.index;
  if (index) await admin.query(`CREATE INDEX ${name}_order ON ${name} (${index})`);
  await admin.query(`ANALYZE TABLE ${name}`);
}

const def = (extra: Record<string, unknown>, user = decodeURIComponent(url.username), password = decodeURIComponent(url.password)) => ({
  connector_type: 'mysql',
  connection_config: { host: url.hostname, port: Number(url.port || 3306), user, password, database: DATABASE },
  cursor: { column: 'updated_at' },
  batch_size: 10,
  ...extra,
});
const reader = (extra: Record<string, unknown>) => def(extra, USER, PASSWORD);

beforeAll(async () => {
  url = new URL(serviceUrl('mysql'));
  admin = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  });
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.query(`USE ${DATABASE}`);
  await table('good', 500);
  await table('single', 30, { index: 'updated_at' });
  await table('bare', 50, { index: null });
  await table('bursty', 40);
  await admin.query('UPDATE bursty SET updated_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR WHERE id > 5');
  await table('holes', 20, { nullable: true });
  await admin.query('UPDATE holes SET updated_at = NULL WHERE id % 4 = 0');
  await table('ahead', 20);
  await admin.query('UPDATE ahead SET updated_at = UTC_TIMESTAMP(6) + INTERVAL 2 HOUR + INTERVAL id SECOND WHERE id > 17');
  await table('fresh', 20);
  await admin.query('UPDATE fresh SET updated_at = UTC_TIMESTAMP(6) WHERE id > 13');
  await admin.query(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await admin.query(`GRANT SELECT ON ${DATABASE}.* TO '${USER}'@'%'`);
});
afterAll(async () => {
  await admin?.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await admin?.query(`DROP USER IF EXISTS '${USER}'@'%'`);
  await admin?.end();
});

describe('the doctor on MySQL/MariaDB', () => {
  test('a SELECT-only user on an indexed table with settled, distinct, past cursors passes every check', async () => {
    const d = await doctor(reader({ table: 'good' }));
    expectAllPass(d);
    expect(d.check('cursor_index').detail).toContain('"good_order"');
    expect(d.check('privileges').detail).toBe(`user '${USER}'@'%' can only read table "good"`);
    expect(d.check('resync_estimate').detail).toMatch(/about \d+ rows \(information_schema\.TABLES\.TABLE_ROWS.*no run yet/);
    // InnoDB ends every secondary index with the primary key: an index on the cursor alone serves (cursor, id).
    expect((await doctor(reader({ table: 'single' }))).check('cursor_index')).toMatchObject({ verdict: 'ok', fix: null });
  });

  test('no index serving (cursor, key): warn with the CREATE INDEX statement for that table and those columns', async () => {
    const c = (await doctor(def({ table: 'bare' }))).check('cursor_index');
    expect(c.verdict).toBe('warn');
    expect(c.fix).toBe('CREATE INDEX `updated_at_id_idx` ON `bare` (`updated_at`, `id`);');
  });

  test('a run of equal cursor values longer than batch_size: warn naming the column; the where filter scopes the count', async () => {
    const c = (await doctor(def({ table: 'bursty' }))).check('equal_cursor_run');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/35 rows share "updated_at" = "\d{4}-[^"]+" \(batch_size 10\)/);
    expect(c.fix).toContain('(updated_at, id)');
    const scoped = (await doctor(def({ table: 'bursty', where: 'id > 33' }))).check('equal_cursor_run');
    expect(scoped).toMatchObject({ verdict: 'ok', fix: null });
    expect(scoped.detail).toContain('7 rows share');
  });

  test('NULL cursors: warn with the count and the column to fill', async () => {
    const c = (await doctor(def({ table: 'holes' }))).check('null_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toContain('5 rows of table "holes" have a NULL "updated_at"');
    expect(c.fix).toContain('give "updated_at" a value on every row');
  });

  test("cursor values after the source's clock: warn with the count and how far ahead", async () => {
    const c = (await doctor(def({ table: 'ahead' }))).check('future_cursors');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^3 rows have "updated_at" later than the source clock .*, 72\d\d s ahead/);
  });

  test('rows inside the lag window: warn with their count', async () => {
    const c = (await doctor(def({ table: 'fresh' }))).check('held_back');
    expect(c.verdict).toBe('warn');
    expect(c.detail).toMatch(/^7 rows changed within the lag window \(60 s/);
  });

  test('a user that can write: warn naming the grants, with the REVOKE for them', async () => {
    await admin.query(`GRANT INSERT, DELETE ON ${DATABASE}.good TO '${USER}'@'%'`);
    try {
      const c = (await doctor(reader({ table: 'good' }))).check('privileges');
      expect(c.verdict).toBe('warn');
      expect(c.detail).toContain(`user '${USER}'@'%' can write: INSERT, DELETE`);
      expect(c.fix).toContain(`REVOKE INSERT, DELETE ON \`${DATABASE}\`.\`good\` FROM '${USER}'@'%';`);
    } finally {
      await admin.query(`REVOKE INSERT, DELETE ON ${DATABASE}.good FROM '${USER}'@'%'`);
    }
    // The test server's own user holds ALL PRIVILEGES on *.*.
    const all = (await doctor(def({ table: 'good' }))).check('privileges');
    expect(all.verdict).toBe('warn');
    expect(all.detail).toContain('can write: ALL PRIVILEGES');
    expect(all.fix).toContain('REVOKE ALL PRIVILEGES ON *.*');
  });
});
