/**
 * A MySQL/MariaDB source stays read-only, layer by layer, against a user that COULD write: it may UPDATE the
 * `canary` table and has the FILE privilege. After every attempt `canary.v` is still 1.
 *
 * 1. The connector refuses the text (validation, and again before check/describe/read), whichever way the
 *    server's sql_mode makes it read backslashes.
 * 2. Multiple statements stay off: the server parses one statement per query.
 * 3. Every statement runs in a READ ONLY transaction.
 * 4. The session is read-only by default: a statement after a COMMIT still cannot write.
 * Each layer is also shown against the same attack without it.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Row } from '../../connectors/contract';
import type { MysqlConnection } from '../../connectors/mysql/mysql-config';
import { MysqlSession } from '../../connectors/mysql/mysql-session';
import { createConnector } from '../../connectors/registry';
import type { StatementBuilder } from '../../connectors/sql/sql-keyset';
import { serviceUrl } from '../helpers/service-url';
import { expectConnectorError, expectRefusedEverywhere, queryShapes, readAll, transactionEscapes } from './source-read-only-cases';

const suffix = randomBytes(4).toString('hex');
const DATABASE = `qsec_${suffix}`;
const USER = `qsec_w_${suffix}`;
const PASSWORD = `Pw-${randomBytes(6).toString('hex')}`;
const UPDATE = 'UPDATE canary SET v = 999 WHERE id = 1';
let admin: mysql.Connection;
let connection: MysqlConnection;
let base: Record<string, unknown>;
let table: Record<string, unknown>;
const never = new AbortController().signal;

const canary = async () => {
  const [rows] = await admin.query<mysql.RowDataPacket[]>('SELECT v FROM canary WHERE id = 1');
  return Number(rows[0]?.v);
};

async function plainConnection(options: Partial<mysql.ConnectionOptions> = {}): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: connection.host,
    port: connection.port,
    user: USER,
    password: PASSWORD,
    database: DATABASE,
    ...options,
  });
}

beforeAll(async () => {
  const url = new URL(serviceUrl('mysql'));
  admin = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  });
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.query(`USE ${DATABASE}`);
  await admin.query(
    "CREATE TABLE canary (id INT PRIMARY KEY, v INT NOT NULL, name VARCHAR(20) NOT NULL DEFAULT 'bird', updated_at DATETIME(6) NOT NULL DEFAULT '2026-01-01 00:00:00')",
  );
  await admin.query('INSERT INTO canary (id, v) VALUES (1, 1), (2, 1)');
  await admin.query(
    'CREATE FUNCTION canary_bump() RETURNS INT MODIFIES SQL DATA BEGIN UPDATE canary SET v = v + 1 WHERE id = 1; RETURN 1; END',
  );
  await admin.query(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${DATABASE}.canary TO '${USER}'@'%'`);
  await admin.query(`GRANT EXECUTE ON FUNCTION ${DATABASE}.canary_bump TO '${USER}'@'%'`);
  await admin.query(`GRANT FILE ON *.* TO '${USER}'@'%'`);
  connection = {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: USER,
    password: PASSWORD,
    database: DATABASE,
    ssl: null,
    connect_timeout_seconds: 10,
  };
  base = {
    connector_type: 'mysql',
    connection_config: { host: connection.host, port: connection.port, user: USER, password: PASSWORD, database: DATABASE },
    query: 'SELECT id, name FROM canary',
  };
  table = { ...base, query: undefined, table: 'canary' };
});
beforeEach(async () => {
  await admin.query('UPDATE canary SET v = 1');
});
afterAll(async () => {
  await admin.query(`DROP USER IF EXISTS '${USER}'@'%'`);
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE}`);
  await admin.end();
});

const HIDERS = ["';'", "'it''s;'", "'\\';'", "'x' /* ; */", "'x' -- ;\n", "'x' # ;\n", '`a;b`'];

async function withSession<T>(work: (s: MysqlSession) => Promise<T>): Promise<T> {
  const s = new MysqlSession(connection, { target: 'source', host: connection.host, secrets: [PASSWORD] });
  try {
    return await work(s);
  } finally {
    await s.close();
  }
}

const statements = (...sql: string[]): StatementBuilder[] => sql.map((text) => () => ({ sql: text, values: [] }));
const escapes = [
  ...transactionEscapes(UPDATE),
  `COMMIT; SET SESSION tx_read_only = 0; ${UPDATE}`,
  `COMMIT; XA START 'x'; ${UPDATE}; XA END 'x'; XA COMMIT 'x' ONE PHASE`,
];

describe('layer 1: the connector refuses text that could end or escape its transaction', () => {
  test('in query mode, with and without a cursor column, however the ";" is hidden, on validation and on check, describe and read', async () => {
    for (const escape of escapes) {
      for (const query of queryShapes(escape, HIDERS)) {
        await expectRefusedEverywhere(base, { query }, /more than one statement/, query);
        await expectRefusedEverywhere(base, { query, cursor: { column: 'id' } }, /more than one statement/, `${query} (cursor)`);
      }
    }
    expect(await canary()).toBe(1);
  });

  test('backslashes: text that is one string under the default sql_mode and two statements under NO_BACKSLASH_ESCAPES (or the other way) is refused', async () => {
    for (const query of [
      `SELECT 1 AS id, '\\'; ${UPDATE}; -- ' AS name`,
      `SELECT 1 AS id, "\\"; ${UPDATE}; -- " AS name`,
      `SELECT 1 AS id, '\\\\'; ${UPDATE}; -- ' AS name`,
    ]) {
      await expectRefusedEverywhere(base, { query }, /more than one statement/, query);
    }
    await expectRefusedEverywhere(table, { where: `name = '\\'; ${UPDATE}; -- '` }, /more than one statement/, 'where');
    expect(await canary()).toBe(1);
  });

  test('in a where condition, with and without a cursor column', async () => {
    for (const escape of escapes) {
      for (const where of [
        `id > 0); ${escape}; SELECT 1 FROM DUAL WHERE (1`,
        `id > 0; ${escape}`,
        `name = ';' ; ${escape}`,
        `id > 0 --; ${escape}`,
      ]) {
        await expectRefusedEverywhere(table, { where }, /more than one statement/, where);
        await expectRefusedEverywhere(table, { where, cursor: { column: 'updated_at' } }, /more than one statement/, `${where} (cursor)`);
      }
    }
    expect(await canary()).toBe(1);
  });

  test('statements that are not a read, executable comments, and what a READ ONLY transaction lets through', async () => {
    for (const query of [
      UPDATE,
      'COMMIT',
      'CALL p()',
      'SET SESSION TRANSACTION READ WRITE',
      'DO GET_LOCK("x", 0)',
      'HANDLER canary OPEN',
      "LOAD DATA INFILE '/etc/hostname' INTO TABLE canary",
    ]) {
      await expectRefusedEverywhere(base, { query }, /the connector only reads: query must be one SELECT/, query);
    }
    for (const query of [
      "SELECT 1 AS id /*! , 'x' AS name; UPDATE canary SET v = 2 */",
      "SELECT 1 AS id /*!50000 , LOAD_FILE('/etc/hostname') */ AS name",
      'SELECT 1 AS id /*M! , SLEEP(1) */',
    ]) {
      await expectRefusedEverywhere(base, { query }, /executable comment/, query);
    }
    for (const query of [
      "SELECT 1 AS id, 'x' AS name INTO OUTFILE '/tmp/qsec-never-written'",
      "SELECT 1 AS id, LOAD_FILE('/etc/hostname') AS name",
      "SELECT 1 AS id, GET_LOCK('qsec', 0) AS name",
      'SELECT 1 AS id, SLEEP(60) AS name',
    ]) {
      await expectRefusedEverywhere(base, { query }, /the connector only reads: .* is refused because it/, query);
    }
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
        expect((await readAll(connector)).map((r) => r.id)).toEqual([1, 2]);
      } finally {
        await connector.close();
      }
    }
  });
});

describe('layer 2: one statement per query', () => {
  test('without the connector checks, describe, pages and streamed reads refuse a second statement', async () => {
    await withSession(async (s) => {
      for (const escape of escapes) {
        const sql = `SELECT 1 AS id; ${escape}`;
        await expectConnectorError(s.describe({ sql, values: [] }, null), 'syntax', /not valid/, `describe: ${sql}`);
        await expectConnectorError(s.readPage(statements(sql), 10), 'syntax', /not valid/, `page: ${sql}`);
        await expectConnectorError(
          (async () => {
            for await (const rows of s.stream({ sql, values: [] }, 10, never)) expect(rows).toBeDefined();
          })(),
          'syntax',
          /not valid/,
          `stream: ${sql}`,
        );
      }
    });
    expect(await canary()).toBe(1);
  });

  test('(with multiple statements on, the same text writes)', async () => {
    const conn = await plainConnection({ multipleStatements: true });
    try {
      await conn.query(`START TRANSACTION READ ONLY; SELECT 1 AS id; COMMIT; ${UPDATE}`);
    } finally {
      await conn.end();
    }
    expect(await canary()).toBe(999);
  });
});

describe('layer 3: READ ONLY transactions', () => {
  test('writes and functions that write are refused by the server', async () => {
    await withSession(async (s) => {
      for (const sql of [
        UPDATE,
        'INSERT INTO canary (id, v) VALUES (3, 3)',
        'DELETE FROM canary',
        'SELECT canary_bump() AS b',
        'CREATE TABLE canary_new (id INT)',
        'TRUNCATE canary',
      ]) {
        await expectConnectorError(s.query(sql), 'permission', /only reads/, sql);
      }
    });
    expect(await canary()).toBe(1);
  });

  test('(what a READ ONLY transaction lets through, and the connector therefore refuses: INTO OUTFILE writes a file, LOAD_FILE reads one, GET_LOCK outlives the read)', async () => {
    const [[priv]] = await admin.query<mysql.RowDataPacket[]>('SELECT @@secure_file_priv AS dir');
    const dir = typeof priv?.dir === 'string' && priv.dir !== '' ? priv.dir.replace(/\/?$/, '/') : '/tmp/';
    const file = `${dir}qsec-outfile-${suffix}.txt`;
    try {
      await withSession(async (s) => {
        await s.query(`SELECT 'written from a read-only transaction' INTO OUTFILE '${file}'`);
        const [[written]] = await admin.query<mysql.RowDataPacket[]>('SELECT LOAD_FILE(?) AS content', [file]);
        expect(String(written?.content)).toContain('written from a read-only transaction');
        expect((await s.query<Row>('SELECT LOAD_FILE(?) AS content', [file]))[0]?.content).not.toBeNull();
        await s.query("SELECT GET_LOCK('qsec-lock', 0) AS l");
        const [[held]] = await admin.query<mysql.RowDataPacket[]>("SELECT IS_USED_LOCK('qsec-lock') IS NOT NULL AS held");
        expect(Number(held?.held)).toBe(1);
      });
    } finally {
      await rm(file, { force: true }).catch(() => undefined);
    }
  });
});

describe('layer 4: a read-only session', () => {
  const ends = [['COMMIT'], ['ROLLBACK'], ['COMMIT', 'BEGIN'], ['COMMIT', 'START TRANSACTION']];

  test('a statement after the READ ONLY transaction ends still cannot write', async () => {
    await withSession(async (s) => {
      for (const end of ends)
        await expectConnectorError(s.readPage(statements(...end, UPDATE), 10), 'permission', /only reads/, `${end.join('; ')}; ${UPDATE}`);
    });
    expect(await canary()).toBe(1);
  });

  test('(the same statements on a session that is not read-only by default write)', async () => {
    const conn = await plainConnection();
    try {
      for (const end of ends) {
        await conn.query('START TRANSACTION READ ONLY');
        for (const sql of end) await conn.query(sql);
        await conn.query('UPDATE canary SET v = 998 WHERE id = 1');
        await conn.query('COMMIT');
        expect(await canary(), end.join('; ')).toBe(998);
        await admin.query('UPDATE canary SET v = 1');
      }
    } finally {
      await conn.end();
    }
  });
});
