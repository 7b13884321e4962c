/**
 * The conformance suite's PostgreSQL: a fresh schema in the `qanatix_source` database per test file, a
 * pg client of its own for writes, and PostgreSQL's type table.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
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

const SOURCE_DATABASE = 'qanatix_source';

const LOGICAL: Record<LogicalType, string> = {
  integer: 'integer',
  bigint: 'bigint',
  text: 'text',
  timestamp: 'timestamp(6) with time zone',
};

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The DSN of the source database, created when the server does not have it yet (e.g. a fresh container). */
async function sourceDsn(): Promise<string> {
  const url = new URL(serviceUrl('postgres'));
  url.pathname = `/${SOURCE_DATABASE}`;
  const admin = new pg.Client({ connectionString: serviceUrl('postgres') });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [SOURCE_DATABASE]);
    if (!rowCount)
      await admin.query(`CREATE DATABASE ${q(SOURCE_DATABASE)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err;
      });
  } finally {
    await admin.end();
  }
  return url.toString();
}

async function insertRows(client: pg.ClientBase, table: string, rows: RowValues[]): Promise<void> {
  for (let start = 0; start < rows.length; start += 1000) {
    const chunk = rows.slice(start, start + 1000);
    const columns = [...new Set(chunk.flatMap((r) => Object.keys(r)))];
    const values: unknown[] = [];
    const tuples = chunk.map(
      (r) =>
        `(${columns
          .map((c) => {
            values.push(r[c] ?? null);
            return `$${values.length}`;
          })
          .join(', ')})`,
    );
    await client.query(`INSERT INTO ${table} (${columns.map(q).join(', ')}) VALUES ${tuples.join(', ')}`, values);
  }
}

export const postgresqlFactory: ConformanceFactory = {
  name: 'PostgreSQL',
  async setup(): Promise<ConformanceSource> {
    const dsn = await sourceDsn();
    const schema = `conformance_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const client = new pg.Client({ connectionString: dsn });
    await client.connect();
    await client.query(`CREATE SCHEMA ${q(schema)}`);
    await client.query(`CREATE TYPE ${q(schema)}.mood AS ENUM ('sad', 'ok', 'happy')`);
    await client.query(`CREATE DOMAIN ${q(schema)}.positive AS integer CHECK (VALUE > 0)`);
    const table = (name: string) => `${q(schema)}.${q(name)}`;
    const withPassword = (password: string) => {
      const url = new URL(dsn);
      url.password = password;
      return url.toString();
    };
    const unknownHost = new URL(dsn);
    unknownHost.hostname = 'qanatix-no-such-host.invalid';

    const typeCases: TypeCase[] = [
      { column: 'big_exact', nativeType: 'bigint', input: '9007199254740993', expected: '9007199254740993' },
      { column: 'big_small', nativeType: 'bigint', input: '-42', expected: -42 },
      { column: 'big_max_safe', nativeType: 'bigint', input: '9007199254740991', expected: 9007199254740991 },
      { column: 'int4', nativeType: 'integer', input: 2147483647, expected: 2147483647 },
      { column: 'int2', nativeType: 'smallint', input: -32768, expected: -32768 },
      {
        column: 'num_38_10',
        nativeType: 'numeric(38,10)',
        input: '1234567890123456789012345678.0123456789',
        expected: '1234567890123456789012345678.0123456789',
      },
      { column: 'num_scaled', nativeType: 'numeric(12,4)', input: '0.1', expected: '0.1000' },
      { column: 'num_nan', nativeType: 'numeric', input: 'NaN', expected: 'NaN' },
      { column: 'float4', nativeType: 'real', input: 1.5, expected: 1.5 },
      { column: 'float8', nativeType: 'double precision', input: 0.1, expected: 0.1 },
      { column: 'float8_inf', nativeType: 'double precision', input: 'Infinity', expected: 'Infinity' },
      { column: 'flag', nativeType: 'boolean', input: true, expected: true },
      { column: 'ts_tz', nativeType: 'timestamptz', input: '2026-01-02 03:04:05.123456+02', expected: '2026-01-02T01:04:05.123456Z' },
      { column: 'ts_tz_whole', nativeType: 'timestamptz', input: '2026-01-02 03:04:05Z', expected: '2026-01-02T03:04:05.000000Z' },
      { column: 'ts_tz_ms', nativeType: 'timestamptz(3)', input: '2026-01-02 03:04:05.12Z', expected: '2026-01-02T03:04:05.120000Z' },
      { column: 'ts_tz_inf', nativeType: 'timestamptz', input: 'infinity', expected: 'infinity' },
      { column: 'ts_local', nativeType: 'timestamp', input: '2026-01-02 03:04:05.5', expected: '2026-01-02T03:04:05.500000' },
      { column: 'day', nativeType: 'date', input: '2026-01-02', expected: '2026-01-02' },
      { column: 'time_of_day', nativeType: 'time', input: '03:04:05.123456', expected: '03:04:05.123456' },
      { column: 'span', nativeType: 'interval', input: '1 year 2 mons 3 days 04:05:06.789', expected: 'P1Y2M3DT4H5M6.789S' },
      { column: 'bytes', nativeType: 'bytea', input: Buffer.from([0, 1, 2, 255]), expected: 'AAEC/w==' },
      { column: 'doc_json', nativeType: 'json', input: '{"b": 1, "a": [1, "x", null]}', expected: { b: 1, a: [1, 'x', null] } },
      { column: 'doc_jsonb', nativeType: 'jsonb', input: '{"nested": {"deep": [true, 2.5]}}', expected: { nested: { deep: [true, 2.5] } } },
      {
        column: 'id_uuid',
        nativeType: 'uuid',
        input: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      },
      { column: 'unicode', nativeType: 'text', input: 'Ünïcode ✓ 😀 "quoted" \\ back', expected: 'Ünïcode ✓ 😀 "quoted" \\ back' },
      {
        column: 'texts',
        nativeType: 'text[]',
        input: ['a b', null, 'c"d', 'NULL', '', 'ä,}'],
        expected: ['a b', null, 'c"d', 'NULL', '', 'ä,}'],
      },
      {
        column: 'matrix',
        nativeType: 'integer[]',
        input: [
          [1, 2],
          [3, 4],
        ],
        expected: [
          [1, 2],
          [3, 4],
        ],
      },
      { column: 'bigs', nativeType: 'bigint[]', input: ['9007199254740993', '1'], expected: ['9007199254740993', 1] },
      {
        column: 'instants',
        nativeType: 'timestamptz[]',
        input: ['2026-01-02 03:04:05.000001+00'],
        expected: ['2026-01-02T03:04:05.000001Z'],
      },
      { column: 'docs', nativeType: 'jsonb[]', input: ['{"a": 1}'], expected: [{ a: 1 }] },
      { column: 'blobs', nativeType: 'bytea[]', input: [Buffer.from('hi')], expected: ['aGk='] },
      { column: 'feeling', nativeType: `${q(schema)}.mood`, input: 'happy', expected: 'happy' },
      { column: 'feelings', nativeType: `${q(schema)}.mood[]`, input: ['sad', 'happy'], expected: ['sad', 'happy'] },
      { column: 'domain_int', nativeType: `${q(schema)}.positive`, input: 7, expected: 7 },
      { column: 'bits', nativeType: 'bit(4)', input: '0101', expected: '0101' },
      { column: 'varbits', nativeType: 'bit varying(8)', input: '101', expected: '101' },
      { column: 'address', nativeType: 'inet', input: '192.168.0.1/24', expected: '192.168.0.1/24' },
    ];

    const source: ConformanceSource = {
      connectorType: 'postgresql',
      tableRef: (name) => `${schema}.${name}`,
      async createTable(spec: TableSpec) {
        const columns = spec.columns.map(
          (c) => `${q(c.name)} ${typeof c.type === 'string' ? LOGICAL[c.type] : c.type.native}${c.nullable ? '' : ' NOT NULL'}`,
        );
        if (spec.primaryKey) columns.push(`PRIMARY KEY (${spec.primaryKey.map(q).join(', ')})`);
        await client.query(`CREATE TABLE ${table(spec.name)} (${columns.join(', ')})`);
        for (const index of spec.indexes ?? []) await client.query(`CREATE INDEX ON ${table(spec.name)} (${index.map(q).join(', ')})`);
      },
      insert: (name, rows) => insertRows(client, table(name), rows),
      async update(name, where, changes) {
        const values: unknown[] = [];
        const set = Object.entries(changes).map(([c, v]) => `${q(c)} = $${values.push(v)}`);
        const cond = Object.entries(where).map(([c, v]) => `${q(c)} = $${values.push(v)}`);
        await client.query(`UPDATE ${table(name)} SET ${set.join(', ')} WHERE ${cond.join(' AND ')}`, values);
      },
      async remove(name, column, values) {
        await client.query(`DELETE FROM ${table(name)} WHERE ${q(column)} = ANY($1)`, [values]);
      },
      async count(name) {
        const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table(name)}`);
        return rows[0]?.n ?? 0;
      },
      async begin(): Promise<OpenTransaction> {
        const writer = new pg.Client({ connectionString: dsn });
        await writer.connect();
        await writer.query('BEGIN');
        const done = async (sql: string) => {
          try {
            await writer.query(sql);
          } finally {
            await writer.end();
          }
        };
        return {
          insert: (name, rows) => insertRows(writer, table(name), rows),
          commit: () => done('COMMIT'),
          rollback: () => done('ROLLBACK'),
        };
      },
      definition: (overrides) => ({ connector_type: 'postgresql', connection_config: { dsn }, ...overrides }),
      timestampOut: (iso) => iso,
      whereEquals: (column, value) => `${q(column)} = '${value.replaceAll("'", "''")}'`,
      lastPullQuery: (name) =>
        `SELECT id, name, updated_at, ':last_pull' AS literal FROM ${table(name)} WHERE updated_at > :last_pull -- :last_pull\n;`,
      projectionQuery: (name) => `SELECT id, name, updated_at FROM ${table(name)} WHERE name IS NOT NULL`,
      async writeAttempts(name) {
        const fn = `${q(schema)}.${q(`write_${name}`)}`;
        await client.query(
          `CREATE FUNCTION ${fn}() RETURNS integer LANGUAGE plpgsql AS $$ BEGIN INSERT INTO ${table(name)} (id, name) VALUES (1000, 'fn'); RETURN 1; END $$`,
        );
        return [
          {
            label: 'INSERT … RETURNING',
            refusedBy: 'validation',
            overrides: { query: `INSERT INTO ${table(name)} (id, name) VALUES (100, 'x') RETURNING id, name` },
          },
          { label: 'UPDATE', refusedBy: 'validation', overrides: { query: `UPDATE ${table(name)} SET name = 'changed'` } },
          {
            label: 'COMMIT and a second statement',
            refusedBy: 'validation',
            overrides: {
              query: `SELECT 1 AS id, 'x' AS name) s; COMMIT; UPDATE ${table(name)} SET name = 'changed'; SELECT * FROM (SELECT 1 AS id, 'x' AS name`,
            },
          },
          {
            label: 'UPDATE in a CTE',
            refusedBy: 'source',
            overrides: { query: `WITH w AS (UPDATE ${table(name)} SET name = 'changed' RETURNING id, name) SELECT * FROM w` },
          },
          { label: 'a function that writes', refusedBy: 'source', overrides: { query: `SELECT ${fn}() AS id, 'x' AS name` } },
          {
            label: 'INSERT read with a cursor',
            refusedBy: 'validation',
            overrides: {
              query: `INSERT INTO ${table(name)} (id, name, updated_at) VALUES (101, 'x', now()) RETURNING id, name, updated_at`,
              cursor: { column: 'updated_at', tiebreaker: 'id' },
            },
          },
          {
            label: 'a function that writes, read with a cursor',
            refusedBy: 'source',
            overrides: {
              query: `SELECT ${fn}() AS id, 'x' AS name, timestamptz '2020-01-01 00:00:00Z' AS updated_at`,
              cursor: { column: 'updated_at', tiebreaker: 'id' },
            },
          },
        ];
      },
      // A misspelt first word is refused before it runs (a query starts with SELECT): misspell a later one.
      syntaxErrorQuery: 'SELECT id FRM nowhere',
      wrongPassword: { connection_config: { dsn: withPassword('Wr0ng-S3cret-pw') }, password: 'Wr0ng-S3cret-pw' },
      unknownHost: { dsn: unknownHost.toString(), connect_timeout_seconds: 5 },
      typeCases,
      async teardown() {
        try {
          await client.query(`DROP SCHEMA ${q(schema)} CASCADE`);
        } finally {
          await client.end();
        }
      },
    };
    return source;
  },
};
