/**
 * The keyset statements the readers really send are index ranges: EXPLAIN each recorded statement of a
 * page that continues inside a long run of equal cursor values.
 */
import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ReadPlan } from '../../../connectors/contract';
import { validateConnectorConfig, type ConnectorDefinition } from '../../../connectors/connector-config';
import { EPOCH_ISO } from '../../../connectors/iso-time';
import type { MysqlConnection } from '../../../connectors/mysql/mysql-config';
import { describeMysqlSource } from '../../../connectors/mysql/mysql-connector';
import { MysqlSession } from '../../../connectors/mysql/mysql-session';
import type { PostgresqlConnection } from '../../../connectors/postgresql/postgresql-config';
import { describePostgresqlSource } from '../../../connectors/postgresql/postgresql-connector';
import { PostgresqlSession } from '../../../connectors/postgresql/postgresql-session';
import type { Statement } from '../../../connectors/sql/sql-keyset';
import { readSql, type SqlSession } from '../../../connectors/sql/sql-reader';
import type { SqlSource } from '../../../connectors/sql/sql-source';
import { serviceUrl } from '../../helpers/service-url';

const ROWS = 30_000;
const SHARED = 20_000;
const errors = { target: 'test', host: 'test', secrets: [], userQuery: null };

/** Reads pages 1–3 through the real reader and returns the statements of page 3 (inside the run of equal values). */
async function thirdPageStatements(session: SqlSession, source: SqlSource, def: ConnectorDefinition): Promise<Statement[]> {
  const pages: Statement[][] = [];
  const recording: SqlSession = {
    readPage: (builders, limit) => {
      const page: Statement[] = [];
      pages.push(page);
      return session.readPage(
        builders.map((build) => (n: number) => {
          const statement = build(n);
          page.push(statement);
          return statement;
        }),
        limit,
      );
    },
    stream: (statement, size, signal) => session.stream(statement, size, signal),
  };
  const plan: ReadPlan = { mode: 'incremental', cursor: null, now: '2030-01-01T00:00:00.000000Z', lastPull: null, batchSize: 5000 };
  let batches = 0;
  for await (const batch of readSql(recording, source, def, plan, new AbortController().signal)) {
    expect(batch.rows).toHaveLength(5000);
    if (++batches === 3) break;
  }
  return pages[2] as Statement[];
}

describe('PostgreSQL keyset plan', () => {
  const schema = `plans_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const dsn = (() => {
    const url = new URL(serviceUrl('postgres'));
    url.pathname = '/qanatix_source';
    return url.toString();
  })();
  const admin = new pg.Client({ connectionString: dsn });
  let session: PostgresqlSession;

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${schema}.items (id bigint PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL)`);
    await admin.query(
      `INSERT INTO ${schema}.items SELECT g, 'item ' || g, CASE WHEN g <= ${SHARED} THEN '2026-01-01'::timestamptz ELSE '2026-01-01'::timestamptz + g * interval '1 ms' END FROM generate_series(1, ${ROWS}) g`,
    );
    await admin.query(`CREATE INDEX items_cursor ON ${schema}.items (updated_at, id)`);
    await admin.query(`ANALYZE ${schema}.items`);
  });
  afterAll(async () => {
    await session?.close();
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  });

  test('the page statement is one index range on (cursor, key), no sort', async () => {
    const def = validateConnectorConfig({
      connector_type: 'postgresql',
      connection_config: { dsn },
      table: `${schema}.items`,
      cursor: { column: 'updated_at' },
    });
    session = new PostgresqlSession(def.connection_config as unknown as PostgresqlConnection, errors);
    const statements = await thirdPageStatements(session, await describePostgresqlSource(session, def, EPOCH_ISO), def);
    expect(statements).toHaveLength(1);
    const [statement] = statements as [Statement];
    expect(statement.sql).toContain('("updated_at", "id") > ($2, $3)');
    const [row] = await session.query<{ 'QUERY PLAN': Array<{ Plan: Record<string, unknown> }> }>(
      `EXPLAIN (FORMAT JSON) ${statement.sql}`,
      statement.values,
    );
    const plan = JSON.stringify(row?.['QUERY PLAN']);
    expect(plan).toContain('"Index Name":"items_cursor"');
    expect(plan).toMatch(/"Index Cond":"[^"]*ROW\(updated_at, id\) > ROW\(/);
    expect(plan).not.toContain('"Node Type":"Sort"');
  });
});

describe('MariaDB/MySQL keyset plan', () => {
  const database = `plans_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const url = new URL(serviceUrl('mysql'));
  const connection: MysqlConnection = {
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    ssl: null,
    connect_timeout_seconds: 10,
  };
  let admin: mysql.Connection;
  let session: MysqlSession;

  beforeAll(async () => {
    admin = await mysql.createConnection({
      host: connection.host,
      port: connection.port,
      user: connection.user,
      password: connection.password,
    });
    await admin.query(`CREATE DATABASE ${database}`);
    await admin.query(
      `CREATE TABLE ${database}.items (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, updated_at DATETIME(6) NOT NULL, KEY items_cursor (updated_at, id)) ENGINE=InnoDB`,
    );
    for (let start = 1; start <= ROWS; start += 5000) {
      const values: unknown[] = [];
      for (let id = start; id < start + 5000; id++) {
        values.push([
          id,
          `item ${id}`,
          id <= SHARED
            ? '2026-01-01 00:00:00'
            : `2026-01-01 00:${String(Math.floor(id / 1000) % 60).padStart(2, '0')}:00.${String(id % 1000).padStart(3, '0')}`,
        ]);
      }
      await admin.query(`INSERT INTO ${database}.items VALUES ?`, [values]);
    }
    await admin.query(`ANALYZE TABLE ${database}.items`);
  });
  afterAll(async () => {
    await session?.close();
    await admin.query(`DROP DATABASE ${database}`);
    await admin.end();
  });

  test('each split statement is a range on the (cursor, key) index, no filesort', async () => {
    const def = validateConnectorConfig({
      connector_type: 'mysql',
      connection_config: connection,
      table: 'items',
      cursor: { column: 'updated_at' },
    });
    session = new MysqlSession(def.connection_config as unknown as MysqlConnection, errors);
    const statements = await thirdPageStatements(session, await describeMysqlSource(session, def, EPOCH_ISO), def);
    expect(statements.length).toBeGreaterThanOrEqual(1);
    const [inRun] = statements as [Statement];
    expect(inRun.sql).toContain('`updated_at` >= ? AND `updated_at` <= ? AND `id` > CAST(? AS SIGNED)');
    for (const statement of statements) {
      const [row] = await session.query<{ EXPLAIN: string }>(`EXPLAIN FORMAT=JSON ${statement.sql}`, statement.values);
      const explain = JSON.parse(String(row?.EXPLAIN)) as {
        query_block: { table?: Record<string, unknown>; nested_loop?: Array<{ table: Record<string, unknown> }> };
      };
      const table = explain.query_block.table ?? explain.query_block.nested_loop?.[0]?.table;
      expect(table?.access_type, statement.sql).toBe('range');
      expect(table?.key).toBe('items_cursor');
      expect(JSON.stringify(explain)).not.toContain('filesort');
      if (statement === inRun) expect(table?.used_key_parts).toEqual(['updated_at', 'id']);
    }
  });
});
