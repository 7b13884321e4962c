import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { validateConnectorConfig } from '../../../connectors/connector-config';
import type { ReadPlan } from '../../../connectors/contract';
import { PostgresqlConnector } from '../../../connectors/postgresql/postgresql-connector';
import { withLiterals } from '../../../connectors/postgresql/postgresql-session';
import { closeKeptConnectors } from '../../../connectors/registry';
import { mapRows, rowMapping } from '../../../jobs/run-pull';
import { ensureTenant } from '../../../src/auth/api-keys';
import { Ingestion } from '../../../src/core/ingestion';
import { ReadyRecord } from '../../../src/core/ready-record';
import { registerSchema } from '../../../src/core/schema-registry';
import type { ConformanceSource } from '../../conformance/conformance-source';
import { postgresqlFactory } from '../../conformance/sources/postgresql-source';
import { dlqEntries, landedEntities } from '../../helpers/landed';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

// A pull of a PostgreSQL table reads its pages as COPY text and makes the records from the bytes (ReadPlan.readyRecords,
// postgresql-copy-records.ts): what lands, what is refused and why, must be what the driver's rows and the mapping give,
// for every type the conformance fixture has, for hostile values of every type the byte-level way writes, for each kind
// of mapping, and with a schema.

let db: TestDatabase;
let source: ConformanceSource;
let tenantId: string;
let dsn: string;
let client: pg.Client;

const deep = (levels: number) => `${'{"a": '.repeat(levels)}1${'}'.repeat(levels)}`;
const CONTROL = Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('') + '\x7f';
/** Values per column, row i taking the (i mod length)-th: every one of them lands in some row. */
const VALUES: Record<string, { type: string; values: unknown[] }> = {
  name: {
    type: 'text',
    values: [
      'plain',
      '',
      '   ',
      '\u00a0\u2003',
      '\t\n',
      null,
      'x'.repeat(1000),
      'x'.repeat(1001),
      ' lead',
      '😀 ✓',
      'a\\b"c\td\ne',
      CONTROL,
      '\\N',
    ],
  },
  note: {
    type: 'text',
    values: [
      CONTROL,
      '\\N',
      '\\',
      '"',
      '\\v',
      'Ü😀\u2028',
      '',
      null,
      'say "hi" \\ back\\',
      '\u000b\u0008\u000c',
      'é'.repeat(1100),
      '"\\'.repeat(150_000),
    ],
  },
  doc: {
    type: 'jsonb',
    values: [
      '{}',
      '{"n": 2.50, "m": 3.0, "z": -0.000, "e": 1e2, "big": 123456789012345, "frac": 1.23456789012345}',
      '{"tiny": 0.0000001, "sixteen": 1234567890123456, "huge": 12345678901234567890, "far": 1.5e300}',
      '{"s": "a\\tb \\"q\\" \\\\ back\\\\", "c": "\\u0001\\u001f", "😀": [true, null]}',
      '{"__proto__": {"polluted": true}}',
      '{"a": [{"prototype": 1}]}',
      '{"a": "constructor"}',
      '[1, {"a": 2.50}]',
      '"text"',
      '2.50',
      'null',
      null,
      `{"ten": ${deep(10)}}`,
      `{"twenty": ${deep(20)}}`,
      `{"over": ${deep(31)}}`,
    ],
  },
  f8: {
    type: 'double precision',
    values: [
      'NaN',
      'Infinity',
      '-Infinity',
      '-0',
      '1e-05',
      '1e+20',
      '1.7976931348623157e308',
      '5e-324',
      '0.30000000000000004',
      '123456789.123',
      '1e21',
      null,
    ],
  },
  f4: { type: 'real', values: ['NaN', '3.4028235e38', '1e-45', '0.1', '-0', '-Infinity', '16777217'] },
  i8: {
    type: 'bigint',
    values: [
      '9007199254740993',
      '-9007199254740993',
      '9007199254740991',
      '-9223372036854775808',
      '1234567890123456',
      '-123456789012345',
      '0',
    ],
  },
  num: { type: 'numeric', values: ['NaN', 'Infinity', '-Infinity', '1e-30', '12345678901234567890.123', '-0.00', '3.50'] },
  tz: {
    type: 'timestamptz',
    values: [
      'infinity',
      '-infinity',
      '0044-03-15 00:00:00+00 BC',
      '10000-01-01 00:00:00+00',
      '2026-01-02 03:04:05.1+05:30',
      '2026-01-02 03:04:05+00',
      '2026-01-02 03:04:05.123456+00',
    ],
  },
  ts: {
    type: 'timestamp',
    values: ['infinity', '0044-03-15 00:00:00 BC', '12345-01-01 00:00:00', '2026-01-02 03:04:05', '2026-01-02 03:04:05.000001'],
  },
  bin: { type: 'bytea', values: ['\\x00', '\\x', '\\x5c4e09', null] },
  day: { type: 'date', values: ['infinity', '0044-03-15 BC', '2026-01-02', null, '-infinity'] },
  flag: { type: 'boolean', values: [true, false, null] },
  i2: { type: 'smallint', values: [-32768, 0, null] },
  money: { type: 'money', values: ['12.50', null] },
  bits: { type: 'bit varying(8)', values: ['101', ''] },
  span: { type: 'interval', values: ['1 year 2 mons 3 days 04:05:06.789', '-1 day'] },
  addr: { type: 'inet', values: ['::1', '10.0.0.1/8'] },
};
const ROWS = 60;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** A table of `columns` (from VALUES) and an integer key, ROWS rows; with `named`, a name column of `row <id>` too. */
async function valuesTable(table: string, columns: string[], named = false) {
  const defs = columns.map((c) => `"${c}" ${VALUES[c]!.type}`).join(', ');
  const name = named ? `, name text GENERATED ALWAYS AS ('row ' || id) STORED` : '';
  await client.query(`CREATE TABLE ${ref(table)} (id integer PRIMARY KEY, ${defs}${name})`);
  for (let i = 0; i < ROWS; i++) {
    const values = columns.map((c) => VALUES[c]!.values[i % VALUES[c]!.values.length]);
    await client.query(
      `INSERT INTO ${ref(table)} (id, ${columns.map((c) => `"${c}"`).join(', ')}) VALUES ($1, ${columns.map((_, j) => `$${j + 2}`).join(', ')})`,
      [i + 1, ...values],
    );
  }
}

/** A table of the fixture's `cases`, two pages of 7 (the first is read as rows): every other row has every case. */
async function fixtureTable(table: string, cases: ConformanceSource['typeCases']) {
  const columns = cases.map((t) => ({ name: t.column, type: { native: t.nativeType }, nullable: true }));
  await source.createTable({
    name: table,
    columns: [{ name: 'id', type: 'integer' }, { name: 'name', type: 'text' }, ...columns],
    primaryKey: ['id'],
  });
  const all = Object.fromEntries(cases.map((t) => [t.column, t.input]));
  await source.insert(
    table,
    range(1, 14).map((id) => (id % 2 ? { id, name: 'all', ...all } : { id, name: 'none' })),
  );
}

const ref = (table: string) =>
  source
    .tableRef(table)
    .split('.')
    .map((p) => `"${p}"`)
    .join('.');

beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
  source = await postgresqlFactory.setup();
  dsn = (source.definition({}) as { connection_config: { dsn: string } }).connection_config.dsn;
  client = new pg.Client({ connectionString: dsn });
  await client.connect();
  // The fixture's types (arrays and json among them: such pages are decoded whole), and its scalar types the byte-level
  // way writes without them.
  await fixtureTable('typed', source.typeCases);
  await fixtureTable(
    'fixture_scalars',
    source.typeCases.filter((t) => !t.nativeType.includes('[]') && t.nativeType !== 'json'),
  );
  await valuesTable('hostile', Object.keys(VALUES));
  // Every value of every type but the documents, each row a record: each value goes through the byte-level way.
  await valuesTable(
    'written',
    Object.keys(VALUES).filter((c) => c !== 'name' && c !== 'doc'),
    true,
  );
  // Keys of two columns, `%` and `:` in them, an empty one, and pairs whose source_id is too long; the name an integer.
  await client.query(`CREATE TABLE ${ref('pairs')} (a text, b bigint, name integer, v text, PRIMARY KEY (a, b))`);
  const parts = ['x', 'a:b', '100%', '%3A', '', "it's \\ $1 ''", 'é'.repeat(700), 'é'.repeat(1100)];
  for (let i = 0; i < 42; i++) {
    await client.query(`INSERT INTO ${ref('pairs')} VALUES ($1, $2, $3, $4)`, [
      parts[i % parts.length],
      i,
      i % 5 === 0 ? null : i,
      `v${i}`,
    ]);
  }
});

afterAll(async () => {
  await client?.end();
  await closeKeptConnectors();
  await source?.teardown();
  await db?.drop();
});

/** One pull of `table` into `entityType`, as run-pull does it, in batches of 7; the records made from COPY text are counted. */
async function pull(table: string, entityType: string, readyRecords: boolean, extra: Record<string, unknown> = {}) {
  const definition = validateConnectorConfig({
    connector_type: 'postgresql',
    connection_config: { dsn },
    table: source.tableRef(table),
    cursor: { column: 'id' },
    ...extra,
  });
  const connector = new PostgresqlConnector(definition);
  try {
    const now = await connector.clock();
    const plan: ReadPlan = { mode: 'full', cursor: null, now, lastPull: null, batchSize: 7, jsonText: true, readyRecords };
    const mapping = rowMapping(definition, (await connector.describe(plan)).primaryKey);
    const ingestion = await Ingestion.open(db.pool, { tenantId, vertical: 'v', entityType }, { type: 'connector', name: 'c' });
    let offset = 0;
    let ready = 0;
    let rows = 0;
    for await (const batch of connector.read(plan, new AbortController().signal)) {
      ready += batch.rows.filter((r) => r instanceof ReadyRecord).length;
      rows += batch.rows.length;
      expect(batch.rows.at(-1)).not.toBeInstanceOf(ReadyRecord); // the cursor is read from it
      const { records, positions, refused } = mapRows(batch.rows, mapping, offset);
      offset += batch.rows.length;
      await ingestion.write(await ingestion.prepare(records, { positions, refused }));
    }
    await ingestion.finish();
    return { ready, rows, counts: { ...ingestion.counts }, ingestionId: ingestion.id! };
  } finally {
    await connector.close();
  }
}

const landed = (entityType: string) => landedEntities(db.pool, tenantId, entityType);
const errors = (ingestionId: string) => dlqEntries(db.pool, tenantId, ingestionId);

/** Pulls `table` both ways into two entity types and compares all of it; returns the COPY way's pull. */
async function same(table: string, label: string, extra: Record<string, unknown> = {}) {
  const rows = await pull(table, `${label}-rows`, false, extra);
  const copied = await pull(table, `${label}-copied`, true, extra);
  expect(rows.ready).toBe(0);
  expect(copied.rows).toBe(rows.rows);
  expect(copied.counts).toEqual(rows.counts);
  expect(rows.counts.records).toBe(rows.rows);
  const before = await landed(`${label}-rows`);
  expect(await landed(`${label}-copied`)).toEqual(before);
  expect(await errors(copied.ingestionId)).toEqual(await errors(rows.ingestionId));
  // Entities written one way are the other way's unchanged entities (but where rows share a source_id: the last wins,
  // and a pull updates such an entity as often as it appears, either way).
  const again = await pull(table, `${label}-rows`, true, extra);
  expect(again.counts).toEqual((await pull(table, `${label}-copied`, false, extra)).counts);
  if (before.length + rows.counts.rejected === rows.rows)
    expect(again.counts).toMatchObject({ inserted: 0, updated: 0, rejected: rows.counts.rejected });
  return { copied, rejected: rows.counts.rejected };
}

describe('records made from COPY text are the records the rows make', () => {
  test('the fixture table (arrays and json among its types): every page decoded, the same entities', async () => {
    const { copied } = await same('typed', 'typed');
    expect(copied.ready).toBe(0);
  });

  test("the fixture's scalar types: made from the text, the same entities", async () => {
    const { copied } = await same('fixture_scalars', 'scalars');
    expect(copied.ready).toBe(6); // the second page's rows, its last decoded
  });

  test('every value of every type written from the text: each row a record but the last of each page', async () => {
    const { copied, rejected } = await same('written', 'written');
    expect(rejected).toBe(0);
    // Every page's rows but its last, and but the first page's (read as rows).
    expect(copied.ready).toBe(ROWS - 7 - (Math.ceil(ROWS / 7) - 1));
  });

  test('hostile names and documents among them: decoded, the same entities and the same refusals', async () => {
    const { copied, rejected } = await same('hostile', 'hostile');
    // Blank, NULL and long names, refused jsonb documents: refused both ways; the rest made from the text where it can.
    expect(rejected).toBeGreaterThanOrEqual(20);
    expect(copied.ready).toBeGreaterThan(3);
    expect(copied.ready).toBeLessThan(ROWS - rejected);
  });

  test('each kind of mapping: include, exclude, rename, a source_id column, another name column', async () => {
    const mappings: Array<Record<string, unknown>> = [
      { fields: { include: ['note', 'f8', 'tz', 'name', 'nope'] } },
      { fields: { exclude: ['doc', 'bin'], rename: { f8: 'double', tz: 'when' } } },
      { fields: { rename: { note: 'f8' } } }, // two columns under one key: decoded
      { fields: { rename: { note: '__proto__' } } }, // a refused key: decoded, refused
      { source_id: 'note' }, // empty, NULL and too long source_ids
      { source_id: 'i8', name_column: 'note' },
      { name_column: 'i2' },
      { cursor: { column: 'day' } }, // a nullable cursor: its NULL phase, then dates (BC, infinite) written into the statements
      { cursor: { column: 'note' } }, // text cursor values with quotes and backslashes written into the statements
      // A filter whose literal, comment and quoted name hold what looks like a parameter: read as rows (a `$` in it).
      { where: `coalesce(note, '') <> '$1 it''s \\' AND "id" > 0 /* $2 */ -- $3` },
      { where: `coalesce(note, '') <> 'it''s \\' AND "id" > 0 /* c */ -- d` }, // and one without a `$`: from COPY text
    ];
    // Three of them read no records from the text (the rename to one key, the refused key, the filter with a `$`).
    const decodedWhole = new Set([2, 3, 9]);
    for (const [i, mapping] of mappings.entries()) {
      const { copied } = await same('hostile', `mapping-${i}`, mapping);
      if (decodedWhole.has(i)) expect(copied.ready).toBe(0);
      else expect(copied.ready).toBeGreaterThan(0);
    }
  });

  test('a key of two columns: joined and escaped alike, empty and too long keys refused alike', async () => {
    const { copied, rejected } = await same('pairs', 'pairs', { cursor: { column: 'a' } });
    expect(rejected).toBeGreaterThan(5);
    expect(copied.ready).toBeGreaterThan(15);
  });

  test('a SQL_ASCII database whose text is not UTF-8: the server refuses to send it, a COPY page as a page of rows', async () => {
    // The server checks what a SQL_ASCII database sends a UTF-8 client: COPY text is as valid UTF-8 as the driver's rows.
    const name = `qtest_ascii_${process.pid}`;
    await client.query(`CREATE DATABASE ${name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0`);
    const url = new URL(dsn);
    url.pathname = `/${name}`;
    const ascii = new pg.Client({ connectionString: url.toString() });
    try {
      await ascii.connect();
      await ascii.query('CREATE TABLE latin (id integer PRIMARY KEY, name text)');
      // A first page of ASCII names, then Latin-1 bytes on the second (read from COPY text).
      await ascii.query(
        `INSERT INTO latin SELECT g, CASE WHEN g > 7 THEN 'caf' || E'\\xe9' ELSE 'cafe' END || g FROM generate_series(1, 20) g`,
      );
      const extra = { connection_config: { dsn: url.toString() }, table: 'public.latin' };
      for (const ready of [false, true])
        await expect(pull('latin', `ascii-${ready}`, ready, extra)).rejects.toThrow(/invalid byte sequence for encoding "UTF8": 0xe9/);
    } finally {
      await ascii.end();
      await closeKeptConnectors();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });

  test('with a registered schema the made records are checked as the records they stand for', async () => {
    const schema = { type: 'object', properties: { f8: { type: 'number' }, doc: { not: { type: 'object', required: ['n'] } } } };
    for (const type of ['schema-rows', 'schema-copied']) await registerSchema(db.pool, tenantId, 'v', type, schema);
    const { copied } = await same('hostile', 'schema');
    expect(copied.ready).toBeGreaterThan(3);
    const refusals = await errors(copied.ingestionId);
    expect(refusals.filter((e) => e.error_type === 'schema_validation').length).toBeGreaterThan(3);
  });
});

describe('parameters written into a statement as literals', () => {
  test('each value reads back as the parameter it stands for; $n inside literals, names and comments is left alone', async () => {
    const values: unknown[] = [
      "it's",
      'back\\slash\\',
      "''; DROP TABLE x; --",
      '$1',
      '$$ dollar $$',
      "E'\\x41'",
      '\n\t',
      '😀',
      42,
      -1.5,
      true,
      null,
      Buffer.from([0, 92, 39, 255]),
    ];
    const sql =
      'SELECT ' +
      values.map((v, i) => `$${i + 1}::${Buffer.isBuffer(v) ? 'bytea' : 'text'} AS "c${i + 1}"`).join(', ') +
      `, '$1' AS lit, "$1" AS id, $$ $2 $$ AS dq /* $3 */ -- $4\n`;
    const statement = { sql: sql.replace('"$1" AS id', '1 AS "$1"'), values };
    const text = withLiterals(statement);
    expect(text).not.toMatch(/\$\d+::/);
    const viaParams = await client.query({ text: statement.sql, values });
    const viaLiterals = await client.query(`BEGIN; SET LOCAL standard_conforming_strings = on; ${text}; COMMIT`);
    const literalRows = (viaLiterals as unknown as pg.QueryResult[])[2]!.rows;
    // A literal of unknown type reads as text where a parameter is given as text: both are the value's text.
    const asText = (row: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('hex') : v === null ? null : String(v)]));
    expect(asText(literalRows[0])).toEqual(asText(viaParams.rows[0]));
    expect(literalRows[0]).toMatchObject({ lit: '$1', $1: 1, dq: ' $2 ' });
    // A NUL would cut the text short where the server reads it: refused before anything is sent.
    expect(() => withLiterals({ sql: 'SELECT $1', values: ['a\0b'] })).toThrow(/NUL character/);
  });
});
