/**
 * The conformance suite's MySQL/MariaDB: a fresh database per test file, a mysql2 connection of its own
 * (UTC session) for writes, and the server's type table (MariaDB's extra types when it is MariaDB).
 */
import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { serviceUrl } from '../../helpers/service-url';
import type {
  ConformanceFactory,
  ConformanceSource,
  LogicalType,
  OpenTransaction,
  RowValues,
  TableSpec,
  TypeCase,
} from '../conformance-source';

const LOGICAL: Record<LogicalType, string> = {
  integer: 'INT',
  bigint: 'BIGINT',
  text: 'VARCHAR(191)',
  timestamp: 'DATETIME(6)',
};

const q = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/** `…Z` ISO timestamps become DATETIME literals (UTC); everything else goes to the driver as given. */
function toDriver(spec: TableSpec | undefined, column: string, value: unknown): unknown {
  const type = spec?.columns.find((c) => c.name === column)?.type;
  if (type === 'timestamp' && typeof value === 'string') return value.replace('T', ' ').replace(/Z$/, '');
  return value ?? null;
}

async function insertRows(conn: mysql.Connection, table: string, spec: TableSpec | undefined, rows: RowValues[]): Promise<void> {
  for (let start = 0; start < rows.length; start += 1000) {
    const chunk = rows.slice(start, start + 1000);
    const columns = [...new Set(chunk.flatMap((r) => Object.keys(r)))];
    const values = chunk.flatMap((r) => columns.map((c) => toDriver(spec, c, r[c])));
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    await conn.query(`INSERT INTO ${table} (${columns.map(q).join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')}`, values);
  }
}

async function connect(url: URL, database?: string): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({
    host: url.hostname,
    port: Number(url.port || 3306),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    ...(database ? { database } : {}),
    charset: 'utf8mb4',
    supportBigNumbers: true,
    dateStrings: true,
  });
  await conn.query("SET time_zone = '+00:00'");
  return conn;
}

export const mysqlFactory: ConformanceFactory = {
  name: 'MySQL protocol',
  async setup(): Promise<ConformanceSource> {
    const url = new URL(serviceUrl('mysql'));
    const database = `conformance_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const admin = await connect(url);
    await admin.query(`CREATE DATABASE ${q(database)} CHARACTER SET utf8mb4`);
    await admin.end();
    const conn = await connect(url, database);
    const [[version]] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS v');
    const mariadb = String(version?.v).includes('MariaDB');
    const specs = new Map<string, TableSpec>();
    const connection = {
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database,
    };

    const typeCases: TypeCase[] = [
      { column: 'big_exact', nativeType: 'BIGINT', input: '9007199254740993', expected: '9007199254740993' },
      { column: 'big_small', nativeType: 'BIGINT', input: '-42', expected: -42 },
      { column: 'big_unsigned', nativeType: 'BIGINT UNSIGNED', input: '18446744073709551615', expected: '18446744073709551615' },
      { column: 'int4', nativeType: 'INT', input: 2147483647, expected: 2147483647 },
      { column: 'tiny_bool', nativeType: 'TINYINT(1)', input: 1, expected: 1 },
      {
        column: 'num_38_10',
        nativeType: 'DECIMAL(38,10)',
        input: '1234567890123456789012345678.0123456789',
        expected: '1234567890123456789012345678.0123456789',
      },
      { column: 'num_scaled', nativeType: 'DECIMAL(12,4)', input: '0.1', expected: '0.1000' },
      { column: 'float4', nativeType: 'FLOAT', input: 1.5, expected: 1.5 },
      { column: 'float8', nativeType: 'DOUBLE', input: 0.1, expected: 0.1 },
      { column: 'dt6', nativeType: 'DATETIME(6)', input: '2026-01-02 03:04:05.123456', expected: '2026-01-02T03:04:05.123456' },
      { column: 'dt0', nativeType: 'DATETIME', input: '2026-01-02 03:04:05', expected: '2026-01-02T03:04:05.000000' },
      { column: 'dt3', nativeType: 'DATETIME(3)', input: '2026-01-02 03:04:05.12', expected: '2026-01-02T03:04:05.120000' },
      { column: 'ts6', nativeType: 'TIMESTAMP(6) NULL', input: '2026-01-02 03:04:05.000001', expected: '2026-01-02T03:04:05.000001Z' },
      { column: 'day', nativeType: 'DATE', input: '2026-01-02', expected: '2026-01-02' },
      { column: 'time_of_day', nativeType: 'TIME(6)', input: '-838:59:59.000000', expected: '-838:59:59.000000' },
      { column: 'yr', nativeType: 'YEAR', input: 2026, expected: 2026 },
      { column: 'blob_bytes', nativeType: 'BLOB', input: Buffer.from([0, 1, 2, 255]), expected: 'AAEC/w==' },
      { column: 'varbinary_bytes', nativeType: 'VARBINARY(16)', input: Buffer.from('hi'), expected: 'aGk=' },
      { column: 'binary_bytes', nativeType: 'BINARY(4)', input: Buffer.from([1, 2, 3, 4]), expected: 'AQIDBA==' },
      { column: 'bits', nativeType: 'BIT(4)', input: 5, expected: '0101' },
      { column: 'bit_wide', nativeType: 'BIT(10)', input: 513, expected: '1000000001' },
      {
        column: 'doc',
        nativeType: 'JSON',
        input: '{"a": [1, "x", null], "b": {"c": true}}',
        expected: { a: [1, 'x', null], b: { c: true } },
      },
      { column: 'choice', nativeType: "ENUM('small','large')", input: 'large', expected: 'large' },
      { column: 'choices', nativeType: "SET('x','y','z')", input: 'x,z', expected: 'x,z' },
      { column: 'unicode', nativeType: 'VARCHAR(100)', input: 'Ünïcode ✓ 😀 "quoted" \\ back', expected: 'Ünïcode ✓ 😀 "quoted" \\ back' },
      { column: 'long_text', nativeType: 'TEXT', input: 'line 1\nline 2', expected: 'line 1\nline 2' },
      {
        column: 'uuid_text',
        nativeType: 'CHAR(36)',
        input: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      },
      ...(mariadb
        ? [
            {
              column: 'uuid_native',
              nativeType: 'UUID',
              input: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
              expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
            },
            { column: 'inet', nativeType: 'INET6', input: '::1', expected: '::1' },
          ]
        : []),
    ];

    const source: ConformanceSource = {
      connectorType: 'mysql',
      tableRef: (name) => name,
      async createTable(spec: TableSpec) {
        specs.set(spec.name, spec);
        const columns = spec.columns.map(
          (c) => `${q(c.name)} ${typeof c.type === 'string' ? LOGICAL[c.type] : c.type.native}${c.nullable ? '' : ' NOT NULL'}`,
        );
        if (spec.primaryKey) columns.push(`PRIMARY KEY (${spec.primaryKey.map(q).join(', ')})`);
        for (const [i, index] of (spec.indexes ?? []).entries()) columns.push(`KEY ${q(`ix_${i}`)} (${index.map(q).join(', ')})`);
        await conn.query(`CREATE TABLE ${q(spec.name)} (${columns.join(', ')}) ENGINE=InnoDB`);
      },
      insert: (name, rows) => insertRows(conn, q(name), specs.get(name), rows),
      async update(name, where, changes) {
        const spec = specs.get(name);
        const set = Object.keys(changes).map((c) => `${q(c)} = ?`);
        const cond = Object.keys(where).map((c) => `${q(c)} = ?`);
        const values = [...Object.entries(changes), ...Object.entries(where)].map(([c, v]) => toDriver(spec, c, v));
        await conn.query(`UPDATE ${q(name)} SET ${set.join(', ')} WHERE ${cond.join(' AND ')}`, values);
      },
      async remove(name, column, values) {
        const spec = specs.get(name);
        if (values.length === 0) return;
        await conn.query(
          `DELETE FROM ${q(name)} WHERE ${q(column)} IN (${values.map(() => '?').join(', ')})`,
          values.map((v) => toDriver(spec, column, v)),
        );
      },
      async count(name) {
        const [[row]] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${q(name)}`);
        return Number(row?.n ?? 0);
      },
      async begin(): Promise<OpenTransaction> {
        const writer = await connect(url, database);
        await writer.query('START TRANSACTION');
        const done = async (sql: string) => {
          try {
            await writer.query(sql);
          } finally {
            await writer.end();
          }
        };
        return {
          insert: (name, rows) => insertRows(writer, q(name), specs.get(name), rows),
          commit: () => done('COMMIT'),
          rollback: () => done('ROLLBACK'),
        };
      },
      definition: (overrides) => ({ connector_type: 'mysql', connection_config: connection, ...overrides }),
      timestampOut: (iso) => iso.replace(/Z$/, ''),
      whereEquals: (column, value) => `${q(column)} = '${value.replaceAll("'", "''")}'`,
      lastPullQuery: (name) =>
        `SELECT id, name, updated_at, ':last_pull' AS literal FROM ${q(name)} WHERE updated_at > :last_pull # :last_pull\n;`,
      projectionQuery: (name) => `SELECT id, name, updated_at FROM ${q(name)} WHERE name IS NOT NULL`,
      async writeAttempts(name) {
        const fn = q(`write_${name}`);
        await conn.query(
          `CREATE FUNCTION ${fn}() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO ${q(name)} (id, name) VALUES (1000, 'fn'); RETURN 1; END`,
        );
        return [
          { label: 'INSERT', refusedBy: 'validation', overrides: { query: `INSERT INTO ${q(name)} (id, name) VALUES (100, 'x')` } },
          { label: 'UPDATE', refusedBy: 'validation', overrides: { query: `UPDATE ${q(name)} SET name = 'changed'` } },
          { label: 'DELETE', refusedBy: 'validation', overrides: { query: `DELETE FROM ${q(name)}` } },
          {
            label: 'COMMIT and a second statement',
            refusedBy: 'validation',
            overrides: {
              query: `SELECT 1 AS id, 'x' AS name) s; COMMIT; UPDATE ${q(name)} SET name = 'changed'; SELECT * FROM (SELECT 1 AS id, 'x' AS name`,
            },
          },
          { label: 'a function that writes', refusedBy: 'source', overrides: { query: `SELECT ${fn}() AS id, 'x' AS name` } },
          {
            label: 'INSERT read with a cursor',
            refusedBy: 'validation',
            overrides: { query: `INSERT INTO ${q(name)} (id, name) VALUES (101, 'x')`, cursor: { column: 'updated_at', tiebreaker: 'id' } },
          },
          {
            label: 'a function that writes, read with a cursor',
            refusedBy: 'source',
            overrides: {
              query: `SELECT ${fn}() AS id, 'x' AS name, TIMESTAMP('2020-01-01 00:00:00') AS updated_at`,
              cursor: { column: 'updated_at', tiebreaker: 'id' },
            },
          },
        ];
      },
      // A misspelt first word is refused before it runs (a query starts with SELECT): misspell a later one.
      syntaxErrorQuery: 'SELECT id FRM nowhere',
      wrongPassword: { connection_config: { ...connection, password: 'Wr0ng-S3cret-pw' }, password: 'Wr0ng-S3cret-pw' },
      unknownHost: { ...connection, host: 'qanatix-no-such-host.invalid', connect_timeout_seconds: 5 },
      typeCases,
      async teardown() {
        try {
          await conn.query(`DROP DATABASE ${q(database)}`);
        } finally {
          await conn.end();
        }
      },
    };
    return source;
  },
};
