/**
 * A PostgreSQL source stays read-only, layer by layer, against a role that COULD write: it may UPDATE the
 * `canary` table, use a sequence and call dblink. After every attempt `canary.v` is still 1.
 *
 * 1. The connector refuses the text (validation, and again before check/describe/read).
 * 2. Below that, the session sends each statement through the extended protocol: one statement per message.
 * 3. Every statement runs in a READ ONLY transaction.
 * 4. The session is read-only by default, even when the DSN asks otherwise: a statement after a COMMIT
 *    still cannot write.
 * Each layer is also shown against the same attack without it (the simple protocol, a plain session), so a
 * test that passes proves the layer, not an attack that would have failed anyway.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Row } from '../../connectors/contract';
import { createConnector } from '../../connectors/registry';
import { PostgresqlSession } from '../../connectors/postgresql/postgresql-session';
import type { StatementBuilder } from '../../connectors/sql/sql-keyset';
import { serviceUrl } from '../helpers/service-url';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { expectConnectorError, expectRefusedEverywhere, queryShapes, readAll, transactionEscapes } from './source-read-only-cases';

const ROLE = `qsec_writer_${randomBytes(4).toString('hex')}`;
const PASSWORD = `Pw-${randomBytes(6).toString('hex')}`;
const UPDATE = 'UPDATE canary SET v = 999 WHERE id = 1';
let source: TestDatabase;
let dsn: string;
let base: Record<string, unknown>;
let table: Record<string, unknown>;
const never = new AbortController().signal;

const canary = async () => (await source.pool.query<{ v: number }>('SELECT v FROM canary WHERE id = 1')).rows[0]?.v;

beforeAll(async () => {
  source = await freshDatabase('qsrc', false);
  const admin = source.pool;
  await admin.query(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  await admin.query(
    'CREATE TABLE canary (id int PRIMARY KEY, v int NOT NULL, name text NOT NULL DEFAULT $$bird$$, updated_at timestamptz NOT NULL DEFAULT $$2026-01-01$$)',
  );
  await admin.query('INSERT INTO canary (id, v) VALUES (1, 1), (2, 1)');
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON canary TO ${ROLE}`);
  await admin.query('CREATE SEQUENCE canary_seq');
  await admin.query(`GRANT USAGE, SELECT, UPDATE ON SEQUENCE canary_seq TO ${ROLE}`);
  await admin.query(
    `CREATE FUNCTION canary_bump() RETURNS int LANGUAGE plpgsql AS $$ BEGIN UPDATE canary SET v = v + 1 WHERE id = 1; RETURN 1; END $$`,
  );
  await admin.query('CREATE EXTENSION dblink');
  await admin.query(`GRANT CREATE ON SCHEMA public TO ${ROLE}`);
  const url = new URL(source.url);
  url.username = ROLE;
  url.password = PASSWORD;
  dsn = url.toString();
  base = { connector_type: 'postgresql', connection_config: { dsn }, query: 'SELECT id, name FROM canary' };
  table = { connector_type: 'postgresql', connection_config: { dsn }, table: 'canary' };
});
beforeEach(async () => {
  await source.pool.query('UPDATE canary SET v = 1');
});
afterAll(async () => {
  await source.drop();
  const admin = new pg.Client({ connectionString: serviceUrl('postgres') });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${ROLE}`);
  await admin.end();
});

const HIDERS = ["';'", '$$;$$', '$q$ ; $q$', "E'\\';'", "'it''s;'", '"a;b"', "'x' /* ; */", "'x' -- ;\n", "'x' /* /* ; */ ; */"];

function session(url = dsn): PostgresqlSession {
  return new PostgresqlSession(
    { dsn: url, ssl: null, connect_timeout_seconds: 10 },
    { target: 'source', host: '127.0.0.1', secrets: [PASSWORD] },
  );
}

async function withSession<T>(work: (s: PostgresqlSession) => Promise<T>, url = dsn): Promise<T> {
  const s = session(url);
  try {
    return await work(s);
  } finally {
    await s.close();
  }
}

const statements = (...sql: string[]): StatementBuilder[] => sql.map((text) => () => ({ sql: text, values: [] }));

describe('layer 1: the connector refuses text that could end or escape its transaction', () => {
  test('in query mode, with and without a cursor column, however the ";" is hidden, on validation and on check, describe and read', async () => {
    let cases = 0;
    for (const escape of transactionEscapes(UPDATE)) {
      for (const query of queryShapes(escape, HIDERS)) {
        await expectRefusedEverywhere(base, { query }, /more than one statement/, query);
        await expectRefusedEverywhere(base, { query, cursor: { column: 'id' } }, /more than one statement/, `${query} (cursor)`);
        cases += 2;
      }
    }
    expect(cases).toBeGreaterThan(200);
    expect(await canary()).toBe(1);
  });

  test('in a where condition, with and without a cursor column', async () => {
    for (const escape of transactionEscapes(UPDATE)) {
      for (const where of [
        `id > 0); ${escape}; SELECT 1 WHERE (true`,
        `id > 0; ${escape}`,
        `name = ';' ; ${escape}`,
        `id > 0 /* ; */ ; ${escape} --`,
      ]) {
        await expectRefusedEverywhere(table, { where }, /more than one statement/, where);
        await expectRefusedEverywhere(table, { where, cursor: { column: 'updated_at' } }, /more than one statement/, `${where} (cursor)`);
      }
    }
    expect(await canary()).toBe(1);
  });

  test('statements that are not a read, and functions a READ ONLY transaction lets through', async () => {
    // LOCK TABLE … ACCESS EXCLUSIVE passes a READ ONLY transaction (measured): it is refused as a statement that is not a read.
    for (const query of [
      UPDATE,
      'COMMIT',
      'DO $$ BEGIN UPDATE canary SET v = 2; END $$',
      'CALL p()',
      'SET default_transaction_read_only = off',
      'COPY canary TO STDOUT',
      'LOCK TABLE canary IN ACCESS EXCLUSIVE MODE',
    ]) {
      await expectRefusedEverywhere(base, { query }, /the connector only reads: query must be one SELECT/, query);
    }
    const connection = `dbname=${new URL(dsn).pathname.slice(1)} user=${ROLE} password=${PASSWORD} host=127.0.0.1 port=${new URL(dsn).port || 5432}`;
    for (const query of [
      `SELECT 1 AS id, dblink_exec('${connection}', '${UPDATE}') AS name`,
      'SELECT 1 AS id, pg_advisory_lock(42)::text AS name',
      "SELECT 1 AS id, set_config('default_transaction_read_only', 'off', false) AS name",
      "SELECT 1 AS id, lo_from_bytea(0, 'x')::text AS name",
      "SELECT 1 AS id, pg_notify('qsec', 'x')::text AS name",
      'SELECT 1 AS id, pg_terminate_backend(pg_backend_pid())::text AS name',
      "SELECT 1 AS id, query_to_xml('SELECT pg_advisory_lock(42)', true, false, '')::text AS name",
    ]) {
      await expectRefusedEverywhere(base, { query }, /the connector only reads: \w+\(\) is refused/, query);
    }
    await expectRefusedEverywhere(table, { where: 'pg_advisory_lock(id) IS NOT NULL' }, /pg_advisory_lock\(\) is refused/, 'where');
    expect(await canary()).toBe(1);
  });

  test('a connector that reads is not affected: query, where, cursor pages and streams read the canary', async () => {
    for (const def of [
      base,
      {
        ...base,
        query: 'SELECT id, name, updated_at FROM canary WHERE updated_at > :last_pull',
        cursor: { column: 'updated_at', tiebreaker: 'id' },
      },
      { ...table, where: "name = 'bird'" },
    ]) {
      const connector = await createConnector(def);
      try {
        await connector.check();
        // Both rows, whatever order the heap holds them in (a query without ORDER BY promises none).
        expect((await readAll(connector)).map((r) => Number(r.id)).sort((a, b) => a - b)).toEqual([1, 2]);
      } finally {
        await connector.close();
      }
    }
  });
});

describe('layer 2: one statement per protocol message', () => {
  test('without the connector checks, describe, pages and streamed reads refuse a second statement', async () => {
    await withSession(async (s) => {
      for (const escape of transactionEscapes(UPDATE)) {
        const sql = `SELECT 1 AS id; ${escape}`;
        await expectConnectorError(s.describe({ sql, values: [] }, null), 'syntax', /runs one statement at a time/, `describe: ${sql}`);
        await expectConnectorError(s.readPage(statements(sql), 10), 'syntax', /runs one statement at a time/, `page: ${sql}`);
        await expectConnectorError(
          (async () => {
            for await (const rows of s.stream({ sql, values: [] }, 10, never)) expect(rows).toBeDefined();
          })(),
          'syntax',
          /runs one statement at a time/,
          `stream: ${sql}`,
        );
      }
    });
    expect(await canary()).toBe(1);
  });

  test('(the same text through the simple protocol, pg’s choice without values, writes: the reproduction of issue 12)', async () => {
    const client = new pg.Client({ connectionString: dsn });
    await client.connect();
    try {
      await client.query('BEGIN TRANSACTION READ ONLY');
      await client.query(`SELECT * FROM (SELECT 1 AS id, 'x' AS name) s; COMMIT; ${UPDATE}; SELECT * FROM (SELECT 1 AS id, 'x' AS name) t`);
    } finally {
      await client.end();
    }
    expect(await canary()).toBe(999);
  });
});

describe('layer 3: READ ONLY transactions', () => {
  test('writes, sequences, writing CTEs and functions that write are refused by the server', async () => {
    await withSession(async (s) => {
      for (const sql of [
        UPDATE,
        'INSERT INTO canary (id, v) VALUES (3, 3)',
        'DELETE FROM canary',
        'TRUNCATE canary',
        'SELECT canary_bump()',
        `WITH u AS (${UPDATE} RETURNING v) SELECT v FROM u`,
        "SELECT nextval('canary_seq')",
        "SELECT setval('canary_seq', 5)",
        'SELECT * INTO canary_copy FROM canary',
        'CREATE TABLE canary_new (id int)',
        'SELECT * FROM canary FOR UPDATE',
        'SELECT * FROM canary FOR SHARE',
      ]) {
        await expectConnectorError(s.query(sql), 'permission', /only reads/, sql);
      }
    });
    expect(await canary()).toBe(1);
  });

  test('(what a READ ONLY transaction lets through, and the connector therefore refuses: dblink writes, locks and settings outlive it, large objects persist, notifications leave)', async () => {
    const connection = `dbname=${new URL(dsn).pathname.slice(1)} user=${ROLE} password=${PASSWORD} host=127.0.0.1 port=${new URL(dsn).port || 5432}`;
    const listener = new pg.Client({ connectionString: source.url });
    await listener.connect();
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    await listener.query('LISTEN qsec');
    try {
      await withSession(async (s) => {
        await s.query(`SELECT dblink_exec('${connection}', 'UPDATE canary SET v = 777 WHERE id = 1')`);
        expect(await canary()).toBe(777);
        await s.query('SELECT pg_advisory_lock(4242)');
        const held = await source.pool.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242");
        expect(held.rows[0].n).toBe(1);
        await s.query("SELECT set_config('application_name', 'changed-by-tenant', false)");
        const changed = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'changed-by-tenant'";
        expect((await source.pool.query(changed)).rows[0].n).toBe(1);
        // It outlives the transaction until the connection's next use: each use starts from the defaults (a kept
        // connection serves other connectors' runs later).
        expect((await s.query<Row>("SELECT current_setting('application_name') AS v"))[0]?.v).toBe('qanatix-connector');
        const before = (await source.pool.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0].n;
        await s.query("SELECT lo_from_bytea(0, 'x')");
        expect((await source.pool.query('SELECT count(*)::int AS n FROM pg_largeobject_metadata')).rows[0].n).toBe(before + 1);
        await s.query("SELECT pg_notify('qsec', 'from a read-only transaction')");
      });
      await expect.poll(() => heard).toEqual(['from a read-only transaction']);
    } finally {
      await listener.end();
    }
  });
});

describe('layer 4: a read-only session', () => {
  const escapes = [
    ['COMMIT'],
    ['ROLLBACK'],
    ['END'],
    ['COMMIT', 'BEGIN'],
    ['COMMIT', 'BEGIN', 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE'],
  ];

  test('a statement after the READ ONLY transaction ends still cannot write, even when the DSN turns the default off', async () => {
    const off = new URL(dsn);
    off.searchParams.set('options', '-c default_transaction_read_only=off');
    for (const url of [dsn, off.toString()]) {
      await withSession(async (s) => {
        expect((await s.query<Row>("SELECT current_setting('default_transaction_read_only') AS v"))[0]?.v).toBe('on');
        for (const escape of escapes) {
          await expectConnectorError(
            s.readPage(statements(...escape, UPDATE), 10),
            'permission',
            /only reads/,
            `${escape.join('; ')}; ${UPDATE}`,
          );
        }
      }, url);
    }
    expect(await canary()).toBe(1);
  });

  test('(the same statements on a session that is not read-only by default write)', async () => {
    const client = new pg.Client({ connectionString: dsn });
    await client.connect();
    try {
      for (const escape of escapes) {
        await client.query('UPDATE canary SET v = 1').catch(() => undefined);
        await client.query('BEGIN TRANSACTION READ ONLY');
        for (const sql of escape) await client.query(sql);
        await client.query('UPDATE canary SET v = 998 WHERE id = 1');
        await client.query('COMMIT').catch(() => undefined);
        expect(await canary(), escape.join('; ')).toBe(998);
        await source.pool.query('UPDATE canary SET v = 1');
      }
    } finally {
      await client.end();
    }
  });

  test('a statement that asks for READ WRITE by name gets it from the session: layers 1 and 2 are what keep it away', async () => {
    const text = ['COMMIT', 'START TRANSACTION READ WRITE', UPDATE];
    await withSession((s) => s.readPage(statements(...text), 10));
    expect(await canary()).toBe(999);
    await source.pool.query('UPDATE canary SET v = 1');
    await expectRefusedEverywhere(base, { query: `SELECT 1 AS id; ${text.join('; ')}` }, /more than one statement/, 'READ WRITE');
    await withSession((s) =>
      expectConnectorError(
        s.describe({ sql: `SELECT 1 AS id; ${text.join('; ')}`, values: [] }, null),
        'syntax',
        /one statement/,
        'READ WRITE',
      ),
    );
    expect(await canary()).toBe(1);
  });
});
