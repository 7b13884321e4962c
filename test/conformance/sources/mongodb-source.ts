/**
 * The conformance suite's MongoDB: a fresh database per test file on the MongoDB-wire server of the
 * services script (FerretDB) or a mongo:7 container, a client of its own for writes, and MongoDB's type table.
 * A table is a collection; its primary key a unique index (the connector discovers it), its other indexes
 * plain ones; a row a document holding every column of the table (NULL for the ones not given).
 */
import { randomUUID } from 'node:crypto';
import {
  Binary,
  BSONRegExp,
  Code,
  Decimal128,
  Double,
  Int32,
  MaxKey,
  MinKey,
  MongoClient,
  ObjectId,
  Timestamp,
  UUID,
  type Document,
} from 'mongodb';
import { isoToDate } from '../../../connectors/mongodb/mongodb-types';
import { serviceUrl } from '../../helpers/service-url';
import type {
  ConformanceFactory,
  ConformanceSource,
  OpenTransaction,
  RowValues,
  TableSpec,
  TypeCase,
  WriteAttempt,
} from '../conformance-source';

/** The collection filter documents without a table of their own run against (it holds one document). */
const DEFAULT_COLLECTION = 'conformance_default';

function toBsonValue(type: TableSpec['columns'][number]['type'] | undefined, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'timestamp':
      return isoToDate(String(value));
    case 'bigint':
      return BigInt(value as string | number);
    case 'integer':
      return new Int32(Number(value));
    default:
      return value;
  }
}

/** The BSON cases every MongoDB-wire server stores. */
function portableTypeCases(): TypeCase[] {
  return [
    { column: 'object_id', nativeType: 'objectId', input: new ObjectId('65a1b2c3d4e5f60718293a4b'), expected: '65a1b2c3d4e5f60718293a4b' },
    { column: 'date', nativeType: 'date', input: new Date('2026-01-02T03:04:05.123Z'), expected: '2026-01-02T03:04:05.123Z' },
    { column: 'date_before_epoch', nativeType: 'date', input: new Date('1969-12-31T23:59:59.999Z'), expected: '1969-12-31T23:59:59.999Z' },
    { column: 'int32', nativeType: 'int', input: new Int32(2147483647), expected: 2147483647 },
    { column: 'long_small', nativeType: 'long', input: -42n, expected: -42 },
    { column: 'long_max_safe', nativeType: 'long', input: 9007199254740991n, expected: 9007199254740991 },
    { column: 'long_big', nativeType: 'long', input: 9007199254740993n, expected: '9007199254740993' },
    { column: 'long_min', nativeType: 'long', input: -9223372036854775808n, expected: '-9223372036854775808' },
    { column: 'double', nativeType: 'double', input: 0.1, expected: 0.1 },
    { column: 'double_whole', nativeType: 'double', input: new Double(2), expected: 2 },
    { column: 'flag', nativeType: 'bool', input: true, expected: true },
    { column: 'unicode', nativeType: 'string', input: 'Ünïcode ✓ 😀 "quoted" \\ back', expected: 'Ünïcode ✓ 😀 "quoted" \\ back' },
    { column: 'bytes', nativeType: 'binData', input: new Binary(Buffer.from([0, 1, 2, 255])), expected: 'AAEC/w==' },
    {
      column: 'uuid',
      nativeType: 'binData (UUID, subtype 4)',
      input: new UUID('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      expected: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    },
    {
      column: 'nested',
      nativeType: 'object',
      input: { a: { b: [1, 'x', null] }, at: new Date('2026-01-02T03:04:05.000Z'), id: new ObjectId('65a1b2c3d4e5f60718293a4b') },
      expected: { a: { b: [1, 'x', null] }, at: '2026-01-02T03:04:05.000Z', id: '65a1b2c3d4e5f60718293a4b' },
    },
    {
      column: 'mixed',
      nativeType: 'array',
      input: [1, 'two', { three: [3] }, 9007199254740993n],
      expected: [1, 'two', { three: [3] }, '9007199254740993'],
    },
    { column: 'pattern', nativeType: 'regex', input: new BSONRegExp('^a.c$', 'i'), expected: '/^a.c$/i' },
    { column: 'stamp', nativeType: 'timestamp', input: new Timestamp({ t: 1700000000, i: 7 }), expected: { t: 1700000000, i: 7 } },
  ];
}

/**
 * Cases FerretDB 1.24 (SQLite backend) cannot store, each with what the server answers (inserting Decimal128, NaN,
 * MinKey/MaxKey or code drops the connection and FerretDB logs the reason). They run against real MongoDB.
 */
const FERRETDB_CANNOT_STORE: Readonly<Record<string, string>> = {
  decimal: 'FerretDB 1.24 cannot store Decimal128: it drops the connection (`v has zero value (<nil>)`)',
  array: 'FerretDB 1.24 cannot store arrays of arrays: `nested arrays are not supported`',
  double: 'FerretDB 1.24 cannot store NaN or ±Infinity: `NaN is not supported`, `infinity values are not allowed`',
  minKey: 'FerretDB 1.24 cannot store MinKey: it drops the connection (`unsupported tag MinKey`)',
  maxKey: 'FerretDB 1.24 cannot store MaxKey: it drops the connection (`unsupported tag MaxKey`)',
  javascript: 'FerretDB 1.24 cannot store JavaScript code: it drops the connection (`unsupported tag`)',
};

function mongodbOnlyTypeCases(): TypeCase[] {
  return [
    {
      column: 'decimal',
      nativeType: 'decimal',
      input: Decimal128.fromString('1234567890123456789012.345678901234'),
      expected: '1234567890123456789012.345678901234',
    },
    { column: 'decimal_scaled', nativeType: 'decimal', input: Decimal128.fromString('0.1000'), expected: '0.1000' },
    {
      column: 'matrix',
      nativeType: 'array',
      input: [
        [1, 2],
        [3, 4],
      ],
      expected: [
        [1, 2],
        [3, 4],
      ],
    },
    { column: 'double_nan', nativeType: 'double', input: NaN, expected: 'NaN' },
    { column: 'double_inf', nativeType: 'double', input: -Infinity, expected: '-Infinity' },
    { column: 'min_key', nativeType: 'minKey', input: new MinKey(), expected: 'MinKey' },
    { column: 'max_key', nativeType: 'maxKey', input: new MaxKey(), expected: 'MaxKey' },
    { column: 'code', nativeType: 'javascript', input: new Code('function () { return 1; }'), expected: 'function () { return 1; }' },
  ];
}

export const mongodbFactory: ConformanceFactory = {
  name: 'MongoDB',
  capabilities: {
    // Every document has an `_id`: there is no keyless collection.
    keylessTables: false,
    // Transactions need a replica set: FerretDB 1.24 answers `FailedToParse: insert: unknown field "autocommit"`,
    // a standalone mongod `Transaction numbers are only allowed on a replica set member or mongos`.
    transactions: false,
    // BSON dates hold milliseconds.
    timestampStep: 'millisecond',
    // FerretDB 1.24 pushes down only equality filters: every `$gt` read scans the whole collection (about 0.7 s for
    // 10,000 documents on SQLite), so 1,430 separate reads of 10,000 would take 15-20 minutes; 143 of 1,000 take seconds.
    pagingRows: 1_000,
    serverTypeCases: mongodbOnlyTypeCases(),
  },
  async setup(): Promise<ConformanceSource> {
    const uri = serviceUrl('mongo');
    const database = `conformance_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const client = new MongoClient(uri, { useBigInt64: true });
    await client.connect();
    const db = client.db(database);
    const buildInfo = await db.admin().command({ buildInfo: 1 });
    const ferretdb = typeof buildInfo.ferretdbVersion === 'string';
    await db.collection(DEFAULT_COLLECTION).insertOne({ id: 0, name: 'default' });

    const specs = new Map<string, TableSpec>();
    const queryCollections = new WeakMap<object, string>();
    const asDocument = (table: string, row: RowValues): Document => {
      const spec = specs.get(table);
      const doc: Document = {};
      for (const column of spec?.columns ?? []) doc[column.name] = null;
      for (const [name, value] of Object.entries(row)) doc[name] = toBsonValue(spec?.columns.find((c) => c.name === name)?.type, value);
      return doc;
    };
    const values = (table: string, row: RowValues): Document =>
      Object.fromEntries(
        Object.entries(row).map(([name, value]) => [
          name,
          toBsonValue(specs.get(table)?.columns.find((c) => c.name === name)?.type, value),
        ]),
      );
    const query = (table: string, filter: Document) => {
      queryCollections.set(filter, table);
      return filter;
    };
    const url = new URL(uri);
    const wrongPassword = new URL(uri);
    wrongPassword.username = 'qanatix';
    wrongPassword.password = 'Wr0ng-S3cret-pw';
    wrongPassword.search = '?authSource=admin';
    const unknownHost = new URL(uri);
    unknownHost.hostname = 'qanatix-no-such-host.invalid';

    const source: ConformanceSource = {
      connectorType: 'mongodb',
      tableRef: (name) => name,
      async createTable(spec) {
        specs.set(spec.name, spec);
        await db.createCollection(spec.name);
        if (spec.primaryKey)
          await db.collection(spec.name).createIndex(Object.fromEntries(spec.primaryKey.map((c) => [c, 1])), { unique: true });
        for (const index of spec.indexes ?? []) await db.collection(spec.name).createIndex(Object.fromEntries(index.map((c) => [c, 1])));
      },
      async insert(table, rows) {
        for (let start = 0; start < rows.length; start += 1000) {
          await db.collection(table).insertMany(
            rows.slice(start, start + 1000).map((r) => asDocument(table, r)),
            { ordered: true },
          );
        }
      },
      async update(table, where, changes) {
        await db.collection(table).updateMany(values(table, where), { $set: values(table, changes) });
      },
      async remove(table, column, list) {
        await db.collection(table).deleteMany({ [column]: { $in: list.map((v) => values(table, { [column]: v })[column]) } });
      },
      count: (table) => db.collection(table).countDocuments(),
      begin(): Promise<OpenTransaction> {
        return Promise.reject(new Error('MongoDB conformance runs without transactions (capabilities.transactions = false)'));
      },
      definition(overrides) {
        const collection =
          typeof overrides.query === 'object' && overrides.query !== null
            ? (queryCollections.get(overrides.query) ?? DEFAULT_COLLECTION)
            : undefined;
        return {
          connector_type: 'mongodb',
          connection_config: { uri: url.toString(), database, ...(collection ? { collection } : {}) },
          ...overrides,
        };
      },
      timestampOut: (iso) => isoToDate(iso).toISOString(),
      whereEquals: (column, value) => ({ [column]: value }),
      lastPullQuery: (table) => query(table, { updated_at: { $gt: '$last_pull' }, name: { $ne: '$last_pull' } }),
      projectionQuery: (table) => query(table, { name: { $ne: null } }),
      // The connector sends only find, listCollections, listIndexes and hello, so no filter can write by itself;
      // what would run code on the server, or write from a pipeline, is refused anywhere in a filter.
      writeAttempts: (table) => {
        const js = 'function () { db.getSiblingDB("admin").getCollection("x").insertOne({}); return true; }';
        const attempt = (label: string, overrides: Record<string, unknown>): WriteAttempt => ({
          label,
          refusedBy: 'validation',
          overrides,
        });
        return Promise.resolve([
          attempt('$where', { query: query(table, { $where: js }) }),
          attempt('$where in $or in $and', {
            query: query(table, { $and: [{ name: { $ne: null } }, { $or: [{ id: 1 }, { $where: js }] }] }),
          }),
          attempt('$function in $expr', { query: query(table, { $expr: { $function: { body: js, args: [], lang: 'js' } } }) }),
          attempt('$accumulator in $expr', {
            query: query(table, {
              $expr: { $eq: [{ $accumulator: { init: js, accumulate: js, accumulateArgs: [], merge: js, lang: 'js' } }, 1] },
            }),
          }),
          attempt('$out deep in arrays', { query: query(table, { $nor: [{ tags: { $all: [[{ $out: table }]] } }] }) }),
          attempt('$merge', { query: query(table, { $expr: { $in: [{ $merge: { into: table } }, [1]] } }) }),
          attempt('$where in $elemMatch', { query: query(table, { tags: { $elemMatch: { $where: js } } }) }),
          attempt('Extended JSON code', { query: query(table, { name: { $eq: { $code: js } } }) }),
          attempt('$where in a where', { collection: table, where: { $where: js } }),
          attempt('$where spelled with a JSON escape', { collection: table, where: '{"\\u0024where": "true"}' }),
          attempt('a cursor field that is an operator', { collection: table, cursor: { column: '$where' } }),
        ]);
      },
      syntaxErrorQuery: { name: { $foo: 1 } },
      wrongPassword: { connection_config: { uri: wrongPassword.toString(), database }, password: 'Wr0ng-S3cret-pw' },
      unknownHost: { uri: unknownHost.toString(), database, connect_timeout_seconds: 5 },
      typeCases: portableTypeCases(),
      cannotStore: (t) => (ferretdb ? (FERRETDB_CANNOT_STORE[t.nativeType] ?? null) : null),
      implicitColumns: ['_id'],
      async teardown() {
        try {
          await db.dropDatabase();
        } finally {
          await client.close();
        }
      },
    };
    return source;
  },
};
