/**
 * The conformance suite's Neo4j: a label per table (nodes are rows, properties columns), the primary key a
 * uniqueness constraint (the connector discovers it), other indexes range indexes on their first property (the
 * cursor), a driver session of its own for writes, and Neo4j's type table. Everything it creates is removed by teardown.
 */
import neo4j, { type Session } from 'neo4j-driver';
import { serviceUrl } from '../../helpers/service-url';
import { neo4jParts } from '../../helpers/services';
import type {
  ColumnSpec,
  ConformanceFactory,
  ConformanceSource,
  OpenTransaction,
  RowValues,
  TableSpec,
  TypeCase,
} from '../conformance-source';

const q = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/** Cypher functions that turn the ISO text of a typed column into its Neo4j value. */
const PARSERS: Record<string, string> = {
  timestamp: 'datetime',
  DateTime: 'datetime',
  LocalDateTime: 'localdatetime',
  Date: 'date',
  Time: 'time',
  LocalTime: 'localtime',
  Duration: 'duration',
  Point: 'point',
};

function typeName(column: ColumnSpec): string {
  return typeof column.type === 'string' ? column.type : column.type.native;
}

/** A row value as the driver should send it (integers as Neo4j Integers, not floats). */
function driverValue(column: ColumnSpec | undefined, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const type = column ? typeName(column) : '';
  if (type === 'integer' || type === 'bigint' || type === 'Integer') return neo4j.int(value as string | number);
  if (type === 'List<Integer>') return (value as Array<string | number>).map((v) => neo4j.int(v));
  return value;
}

/** `n.col = datetime(r.col)` and so on: how each column is set from an UNWIND row `r`. */
function assignments(spec: TableSpec | undefined, names: string[], from: string): string {
  return names
    .map((name) => {
      const column = spec?.columns.find((c) => c.name === name);
      const parser = column ? PARSERS[typeName(column)] : undefined;
      const value = `${from}[${JSON.stringify(name)}]`;
      return `n.${q(name)} = ${parser ? `${parser}(${value})` : value}`;
    })
    .join(', ');
}

const typeCases: TypeCase[] = [
  { column: 'int_big', nativeType: 'Integer', input: '9007199254740993', expected: '9007199254740993' },
  { column: 'int_small', nativeType: 'Integer', input: -42, expected: -42 },
  { column: 'int_max_safe', nativeType: 'Integer', input: '9007199254740991', expected: 9007199254740991 },
  { column: 'int_min', nativeType: 'Integer', input: '-9223372036854775808', expected: '-9223372036854775808' },
  { column: 'float', nativeType: 'Float', input: 0.1, expected: 0.1 },
  { column: 'float_inf', nativeType: 'Float', input: Infinity, expected: 'Infinity' },
  { column: 'float_nan', nativeType: 'Float', input: NaN, expected: 'NaN' },
  { column: 'flag', nativeType: 'Boolean', input: true, expected: true },
  {
    column: 'unicode',
    nativeType: 'String',
    input: 'Ünïcode ✓ 😀 "quoted" \\ back `tick`',
    expected: 'Ünïcode ✓ 😀 "quoted" \\ back `tick`',
  },
  { column: 'instant', nativeType: 'DateTime', input: '2026-01-02T03:04:05.123456789+02:00', expected: '2026-01-02T01:04:05.123456789Z' },
  {
    column: 'instant_zone',
    nativeType: 'DateTime',
    input: '2026-07-01T12:00:00[Europe/Berlin]',
    expected: '2026-07-01T10:00:00.000000000Z',
  },
  {
    column: 'local_instant',
    nativeType: 'LocalDateTime',
    input: '2026-01-02T03:04:05.000000001',
    expected: '2026-01-02T03:04:05.000000001',
  },
  { column: 'day', nativeType: 'Date', input: '2026-01-02', expected: '2026-01-02' },
  { column: 'clock_time', nativeType: 'Time', input: '03:04:05.123456789+02:00', expected: '03:04:05.123456789+02:00' },
  { column: 'local_time', nativeType: 'LocalTime', input: '03:04:05.5', expected: '03:04:05.500000000' },
  { column: 'span', nativeType: 'Duration', input: 'P1Y2M3DT4H5M6.789S', expected: 'P1Y2M3DT4H5M6.789000000S' },
  { column: 'span_negative', nativeType: 'Duration', input: 'PT-1.5S', expected: 'PT-1.500000000S' },
  { column: 'span_zero', nativeType: 'Duration', input: 'PT0S', expected: 'PT0S' },
  { column: 'cartesian', nativeType: 'Point', input: { x: 1.5, y: 2.5 }, expected: { srid: 7203, x: 1.5, y: 2.5 } },
  {
    column: 'geographic_3d',
    nativeType: 'Point',
    input: { longitude: 12.5, latitude: 55.75, height: 10 },
    expected: { srid: 4979, x: 12.5, y: 55.75, z: 10 },
  },
  { column: 'bytes', nativeType: 'ByteArray', input: new Int8Array([0, 1, 2, -1]), expected: 'AAEC/w==' },
  { column: 'strings', nativeType: 'List<String>', input: ['a b', '', 'c"d'], expected: ['a b', '', 'c"d'] },
  { column: 'integers', nativeType: 'List<Integer>', input: ['9007199254740993', 1], expected: ['9007199254740993', 1] },
  { column: 'floats', nativeType: 'List<Float>', input: [0.5, -1.25], expected: [0.5, -1.25] },
];

export const neo4jFactory: ConformanceFactory = {
  name: 'Neo4j',
  capabilities: {
    // A property set to null is removed (Cypher: "null is not a valid property value"): NULL reads as absent.
    storesNull: false,
    // Every node has an element id; a label without a uniqueness constraint is keyed by elementId(n).
    keylessTables: false,
  },
  async setup(): Promise<ConformanceSource> {
    const { uri, user, password } = neo4jParts(serviceUrl('neo4j'));
    const database = 'neo4j';
    const driver = neo4j.driver(uri, neo4j.auth.basic(user, password), { disableLosslessIntegers: false });
    const session = (): Session => driver.session({ database });
    const write = async (cypher: string, params: Record<string, unknown> = {}, on?: { run: Session['run'] }) => {
      if (on) return on.run(cypher, params);
      const s = session();
      try {
        return await s.run(cypher, params);
      } finally {
        await s.close();
      }
    };
    const specs = new Map<string, TableSpec>();
    const schema: string[] = [];

    const insertRows = async (table: string, rows: RowValues[], on?: { run: Session['run'] }) => {
      const spec = specs.get(table);
      for (let start = 0; start < rows.length; start += 1000) {
        const chunk = rows.slice(start, start + 1000);
        const names = [...new Set(chunk.flatMap((r) => Object.keys(r)))];
        const params = chunk.map((r) =>
          Object.fromEntries(
            names.map((n) => [
              n,
              driverValue(
                spec?.columns.find((c) => c.name === n),
                r[n],
              ),
            ]),
          ),
        );
        await write(`UNWIND $rows AS r CREATE (n:${q(table)}) SET ${assignments(spec, names, 'r')}`, { rows: params }, on);
      }
    };

    const source: ConformanceSource = {
      connectorType: 'neo4j',
      tableRef: (name) => name,
      async createTable(spec) {
        specs.set(spec.name, spec);
        const label = q(spec.name);
        if (spec.primaryKey) {
          const name = `${spec.name}_key`;
          schema.push(`DROP CONSTRAINT ${q(name)} IF EXISTS`);
          const props = spec.primaryKey.map((c) => `n.${q(c)}`);
          await write(
            `CREATE CONSTRAINT ${q(name)} FOR (n:${label}) REQUIRE ${props.length === 1 ? props[0] : `(${props.join(', ')})`} IS UNIQUE`,
          );
        }
        // A keyset index (cursor, key…) becomes the index the connector pages with in Neo4j: the cursor property alone.
        for (const [i, index] of (spec.indexes ?? []).entries()) {
          const name = `${spec.name}_ix${i}`;
          schema.push(`DROP INDEX ${q(name)} IF EXISTS`);
          await write(`CREATE INDEX ${q(name)} FOR (n:${label}) ON (n.${q(index[0]!)})`);
        }
        // The label must exist for the connector even before the first node: a constraint or index creates it.
        if (!spec.primaryKey && !spec.indexes?.length) {
          const name = `${spec.name}_label`;
          schema.push(`DROP INDEX ${q(name)} IF EXISTS`);
          await write(`CREATE INDEX ${q(name)} FOR (n:${label}) ON (n.${q(spec.columns[0]?.name ?? 'id')})`);
        }
      },
      insert: (table, rows) => insertRows(table, rows),
      async update(table, where, changes) {
        const spec = specs.get(table);
        const column = (n: string) => spec?.columns.find((c) => c.name === n);
        const params: Record<string, unknown> = {
          w: Object.fromEntries(Object.entries(where).map(([n, v]) => [n, driverValue(column(n), v)])),
          c: Object.fromEntries(Object.entries(changes).map(([n, v]) => [n, driverValue(column(n), v)])),
        };
        const cond = Object.keys(where)
          .map((n) => `n.${q(n)} = $w[${JSON.stringify(n)}]`)
          .join(' AND ');
        await write(`MATCH (n:${q(table)}) WHERE ${cond} SET ${assignments(spec, Object.keys(changes), '$c')}`, params);
      },
      async remove(table, column, values) {
        const spec = specs.get(table);
        const c = spec?.columns.find((x) => x.name === column);
        await write(`MATCH (n:${q(table)}) WHERE n.${q(column)} IN $vs DETACH DELETE n`, { vs: values.map((v) => driverValue(c, v)) });
      },
      async count(table) {
        const result = await write(`MATCH (n:${q(table)}) RETURN count(n) AS n`);
        return (result.records[0]?.get('n') as { toNumber(): number }).toNumber();
      },
      async begin(): Promise<OpenTransaction> {
        const s = session();
        const tx = s.beginTransaction();
        const done = async (finish: () => Promise<void>) => {
          try {
            await finish();
          } finally {
            await s.close();
          }
        };
        return {
          insert: (table, rows) => insertRows(table, rows, tx),
          commit: () => done(() => tx.commit()),
          rollback: () => done(() => tx.rollback()),
        };
      },
      definition: (overrides) => ({ connector_type: 'neo4j', connection_config: { uri, user, password, database }, ...overrides }),
      timestampOut: (iso) => iso.replace(/\.(\d{6})Z$/, '.$1000Z'),
      whereEquals: (column, value) => `n.${q(column)} = '${value.replaceAll("'", "\\'")}'`,
      lastPullQuery: (table) =>
        `MATCH (n:${q(table)}) WHERE n.updated_at > $last_pull\nRETURN n.id AS id, n.name AS name, n.updated_at AS updated_at, '$last_pull' AS literal // $last_pull\n;`,
      projectionQuery: (table) =>
        `MATCH (n:${q(table)}) WHERE n.name IS NOT NULL RETURN n.id AS id, n.name AS name, n.updated_at AS updated_at`,
      writeAttempts(table) {
        const label = q(table);
        return Promise.resolve([
          {
            label: 'CREATE … RETURN',
            refusedBy: 'source',
            overrides: { query: `CREATE (n:${label} {id: 100, name: 'x'}) RETURN n.id AS id, n.name AS name` },
          },
          {
            label: 'SET',
            refusedBy: 'source',
            overrides: { query: `MATCH (n:${label}) SET n.name = 'changed' RETURN n.id AS id, n.name AS name` },
          },
          {
            label: 'MERGE',
            refusedBy: 'source',
            overrides: { query: `MERGE (n:${label} {id: 101}) ON CREATE SET n.name = 'x' RETURN n.id AS id, n.name AS name` },
          },
          {
            label: 'a write in a subquery',
            refusedBy: 'source',
            overrides: { query: `CALL () { CREATE (m:${label} {id: 102, name: 'x'}) RETURN m } RETURN m.id AS id, m.name AS name` },
          },
          {
            label: 'a write in committed batches',
            refusedBy: 'validation',
            overrides: {
              query: `UNWIND [1] AS i CALL (i) { CREATE (m:${label} {id: 104, name: 'x'}) } IN TRANSACTIONS RETURN i AS id, 'x' AS name`,
            },
          },
          {
            label: 'CREATE read with a cursor',
            refusedBy: 'source',
            overrides: {
              query: `CREATE (n:${label} {id: 103, name: 'x', updated_at: datetime()}) RETURN n.id AS id, n.name AS name, n.updated_at AS updated_at`,
              cursor: { column: 'updated_at', tiebreaker: 'id' },
            },
          },
        ]);
      },
      syntaxErrorQuery: 'MATC (n) RETURN n',
      wrongPassword: { connection_config: { uri, user, password: 'Wr0ng-S3cret-pw', database }, password: 'Wr0ng-S3cret-pw' },
      unknownHost: { uri: 'bolt://qanatix-no-such-host.invalid:7687', user, password, database, connect_timeout_seconds: 5 },
      typeCases,
      async teardown() {
        try {
          for (const label of specs.keys()) await write(`MATCH (n:${q(label)}) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS`);
          for (const statement of schema) await write(statement);
        } finally {
          await driver.close();
        }
      },
    };
    return source;
  },
};
