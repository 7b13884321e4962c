import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { validateConnectorConfig } from '../../../connectors/connector-config';
import type { ReadPlan } from '../../../connectors/contract';
import { PostgresqlConnector } from '../../../connectors/postgresql/postgresql-connector';
import { closeKeptConnectors, createConnector } from '../../../connectors/registry';
import { mapRows, rowMapping } from '../../../jobs/run-pull';
import { ensureTenant } from '../../../src/auth/api-keys';
import { Ingestion } from '../../../src/core/ingestion';
import { JsonText } from '../../../src/core/json-text';
import { registerSchema } from '../../../src/core/schema-registry';
import type { ConformanceSource } from '../../conformance/conformance-source';
import { postgresqlFactory } from '../../conformance/sources/postgresql-source';
import { dlqEntries, landedEntities } from '../../helpers/landed';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

// A pull reads jsonb objects as their text and splices them into its documents (ReadPlan.jsonText): what lands must be the
// entity the parsed values made, byte for byte, for every type the conformance fixture has and for hostile documents.

let db: TestDatabase;
let source: ConformanceSource;
let tenantId: string;
let dsn: string;

const deep = (levels: number) => `${'{"a": '.repeat(levels)}1${'}'.repeat(levels)}`;
const DOCUMENTS = [
  '{}',
  '{"size": "L", "tags": ["t1", "t2"], "color": "green", "rating": 3.7000000000000000}',
  '{"n": 2.50, "m": 3.0, "z": -0.000, "neg": -1.500, "int": 100, "e": 1e2, "big": 123456789012345, "frac": 1.23456789012345}',
  '{"tiny": 0.0000001, "tinier": 1.5e-7, "small": 0.000001, "sixteen": 1234567890123456, "huge": 12345678901234567890, "far": 1.5e300}',
  '{"exact": 9007199254740993, "long": 0.1000000000000000055511151231257827}',
  '{"s": "a, b: c 1.50 {\\"x\\": 2.0}", "esc": "say \\"hi\\" \\\\ back\\\\", "k\\"ey": [1.10, [2.0, {"d": 3.00}]]}',
  '{"h:abc": 1, "s:1": {"h:x": 2}, "10": 1, "2": 2, "b": 3, "a": 1, "a": 2}',
  '{"e": "😀 ✓ Ünï \u2028 \u007f", "😀": [true, false, null]}',
  '{"c": "tab\\tnl\\ncr\\r\\u0001\\u001f"}',
  '{"__proto__": {"polluted": true}}',
  '{"a": {"constructor": 1}}',
  '{"a": [{"prototype": 1}]}',
  '{"a": "__proto__"}',
  '{"\\u005f_proto__": 1}',
  '[1, {"a": 2.50}]',
  '"text"',
  '2.50',
  'true',
  'null',
  `{"ten": ${deep(10)}}`,
  `{"twenty": ${deep(20)}}`,
  `{"thirty": ${deep(29)}}`,
  `{"over": ${deep(31)}}`,
  `{"long": "${'x'.repeat(20000)}"}`,
];

beforeAll(async () => {
  db = await freshDatabase();
  tenantId = await ensureTenant(db.pool, 'acme');
  source = await postgresqlFactory.setup();
  dsn = (source.definition({}) as { connection_config: { dsn: string } }).connection_config.dsn;
  // The fixture's types, one row with every case and one with none, then the hostile documents one a row (a domain too).
  await source.createTable({
    name: 'typed',
    columns: [
      { name: 'id', type: 'integer' },
      { name: 'name', type: 'text' },
      ...source.typeCases.map((t) => ({ name: t.column, type: { native: t.nativeType }, nullable: true })),
    ],
    primaryKey: ['id'],
  });
  await source.insert('typed', [
    { id: 1, name: 'all', ...Object.fromEntries(source.typeCases.map((t) => [t.column, t.input])) },
    { id: 2, name: 'none' },
  ]);
  const client = new pg.Client({ connectionString: dsn });
  await client.connect();
  try {
    const docs = source
      .tableRef('docs')
      .split('.')
      .map((p) => `"${p}"`)
      .join('.');
    const schema = docs.split('.')[0];
    await client.query(`CREATE DOMAIN ${schema}.document AS jsonb CHECK (length(VALUE::text) > 0)`);
    for (const [table, key] of [
      [docs, 'PRIMARY KEY'],
      [`${docs.slice(0, -1)}_unkeyed"`, ''],
    ] as const) {
      await client.query(
        `CREATE TABLE ${table} (id integer ${key}, name text, doc jsonb, docs jsonb[], dom ${schema}.document, note text)`,
      );
      for (const [i, doc] of DOCUMENTS.entries()) {
        await client.query(`INSERT INTO ${table} VALUES ($1, $2, $3::jsonb, ARRAY['{"x": 2.50}'::jsonb], $3::jsonb, 'n')`, [
          i + 1,
          `d${i + 1}`,
          doc,
        ]);
      }
      await client.query(`INSERT INTO ${table} (id, name) VALUES (0, '')`); // refused by the mapping: its row goes to the DLQ
    }
  } finally {
    await client.end();
  }
});
afterAll(async () => {
  await closeKeptConnectors();
  await source?.teardown();
  await db?.drop();
});

/** One pull of `table` into `entityType`, as run-pull does it, in batches of 7; the JSON texts it read are counted. */
async function pull(table: string, entityType: string, jsonText: boolean) {
  const definition = validateConnectorConfig({ connector_type: 'postgresql', connection_config: { dsn }, table: source.tableRef(table) });
  const connector = new PostgresqlConnector(definition);
  try {
    const plan: ReadPlan = { mode: 'full', cursor: null, now: await connector.clock(), lastPull: null, batchSize: 7, jsonText };
    const mapping = rowMapping(definition, (await connector.describe(plan)).primaryKey);
    const ingestion = await Ingestion.open(db.pool, { tenantId, vertical: 'v', entityType }, { type: 'connector', name: 'c' });
    let offset = 0;
    let texts = 0;
    for await (const batch of connector.read(plan, new AbortController().signal)) {
      texts += batch.rows.flatMap((row) => Object.values(row)).filter((v) => v instanceof JsonText).length;
      const { records, positions, refused } = mapRows(batch.rows, mapping, offset);
      offset += batch.rows.length;
      await ingestion.write(await ingestion.prepare(records, { positions, refused }));
    }
    await ingestion.finish();
    return { texts, counts: { ...ingestion.counts }, ingestionId: ingestion.id! };
  } finally {
    await connector.close();
  }
}

const landed = (entityType: string) => landedEntities(db.pool, tenantId, entityType);
const errors = (ingestionId: string) => dlqEntries(db.pool, tenantId, ingestionId);

describe('jsonb objects read as text and spliced into the documents', () => {
  for (const table of ['typed', 'docs', 'docs_unkeyed']) {
    test(`${table}: the same entities and the same DLQ entries as the parsed values, and a re-pull either way finds them unchanged`, async () => {
      const parsed = await pull(table, `${table}-parsed`, false);
      const spliced = await pull(table, `${table}-spliced`, true);
      expect(parsed.texts).toBe(0);
      expect(spliced.texts).toBeGreaterThan(table === 'typed' ? 0 : 10);
      expect(spliced.counts).toEqual(parsed.counts);
      const before = await landed(`${table}-parsed`);
      expect(before.length).toBeGreaterThan(1);
      expect(await landed(`${table}-spliced`)).toEqual(before);
      expect(await errors(spliced.ingestionId)).toEqual(await errors(parsed.ingestionId));
      if (table !== 'typed') expect(parsed.counts.rejected).toBeGreaterThanOrEqual(6); // forbidden keys, depth, the unnamed row

      // Entities written one way are the other way's unchanged entities: nothing is rewritten.
      const again = await pull(table, `${table}-parsed`, true);
      const back = await pull(table, `${table}-spliced`, false);
      for (const run of [again, back]) expect(run.counts).toMatchObject({ inserted: 0, updated: 0, rejected: parsed.counts.rejected });
    });
  }

  test('with a registered schema the values are parsed and checked, and refused alike', async () => {
    const schema = { type: 'object', properties: { doc: { not: { type: 'object', required: ['size'] } } } };
    for (const type of ['schema-parsed', 'schema-spliced']) await registerSchema(db.pool, tenantId, 'v', type, schema);
    const parsed = await pull('docs', 'schema-parsed', false);
    const spliced = await pull('docs', 'schema-spliced', true);
    expect(spliced.counts).toEqual(parsed.counts);
    expect(await landed('schema-spliced')).toEqual(await landed('schema-parsed'));
    const refusals = await errors(spliced.ingestionId);
    expect(refusals).toEqual(await errors(parsed.ingestionId));
    expect(refusals.filter((e) => e.error_type === 'schema_validation')).toHaveLength(1);
  });
});

describe('the text form is chosen per read', () => {
  /** Where in `value` a JsonText is: paths like `doc` or `docs.0`. */
  const textsIn = (value: unknown, path = ''): string[] =>
    value instanceof JsonText
      ? [path]
      : value !== null && typeof value === 'object'
        ? Object.entries(value).flatMap(([k, v]) => textsIn(v, path ? `${path}.${k}` : k))
        : [];

  test('reads of one kept connector at once (a pull and a preview) each get the form they asked for, page after page', async () => {
    const client = new pg.Client({ connectionString: dsn });
    await client.connect();
    const table = source.tableRef('shared_reads');
    const quoted = table
      .split('.')
      .map((p) => `"${p}"`)
      .join('.');
    const schema = quoted.split('.')[0];
    try {
      await client.query(
        `CREATE TABLE ${quoted} (id integer PRIMARY KEY, name text, doc jsonb, dom ${schema}.document, doms ${schema}.document[], docs jsonb[])`,
      );
      await client.query(
        `INSERT INTO ${quoted} SELECT g, 'n' || g, '{"a": 2.50}', '{"b": 1.0}', ARRAY['{"c": 3.0}'::${schema}.document], ARRAY['{"d": 4.0}'::jsonb]
           FROM generate_series(1, 40) g`,
      );
    } finally {
      await client.end();
    }
    const definition = { connector_type: 'postgresql', connection_config: { dsn }, table };
    const [pulling, previewing, another] = await Promise.all([1, 2, 3].map(() => createConnector(definition)));
    try {
      const plan = async (jsonText: boolean): Promise<ReadPlan> => ({
        mode: 'full',
        cursor: null,
        now: await pulling!.clock(),
        lastPull: null,
        batchSize: 5,
        jsonText,
      });
      for (const [c, asText] of [
        [pulling!, true],
        [previewing!, false],
        [another!, false],
      ] as const)
        await c.describe(await plan(asText));
      const signal = new AbortController().signal;
      const preview = previewing!.read(await plan(false), signal)[Symbol.asyncIterator]();
      const pull = pulling!.read(await plan(true), signal)[Symbol.asyncIterator]();
      const pages = { pull: [] as string[][], preview: [] as string[][] };
      const take = async (it: AsyncIterator<{ rows: Record<string, unknown>[] }>, into: string[][]) => {
        const next = await it.next();
        if (!next.done) into.push(next.value.rows.flatMap((row) => textsIn(row)));
        return !next.done;
      };
      // Interleaved page by page, with a third read starting and ending in the middle of them.
      await take(preview, pages.preview);
      await take(pull, pages.pull);
      await take(preview, pages.preview);
      const third = another!.read(await plan(false), signal)[Symbol.asyncIterator]();
      await third.next();
      await take(pull, pages.pull);
      await third.return?.(undefined);
      while ((await take(pull, pages.pull)) || (await take(preview, pages.preview)));
      expect(pages.pull).toHaveLength(8);
      expect(pages.preview).toHaveLength(8);
      expect(pages.preview.flat()).toEqual([]);
      // The pull gets every jsonb object (and one of a domain over jsonb) as text on every page, arrays parsed; the preview none.
      for (const texts of pages.pull) expect(new Set(texts)).toEqual(new Set(['doc', 'dom']));
      expect(pages.pull.flat()).toHaveLength(80);
    } finally {
      await Promise.all([pulling, previewing, another].map((c) => c!.close()));
    }
  });
});
