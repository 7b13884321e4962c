/**
 * A MongoDB source stays read-only: the connector only sends `find` (and listCollections, listIndexes,
 * hello), and refuses filters holding operators that run code or write, at any depth and whatever their
 * spelling in JSON, at validation and again before check, describe and read. The MongoDB-wire server of the
 * services (FerretDB) has no users, so what stands is the connector's refusal: after every attempt the canary
 * collection, and the list of collections, are unchanged.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createConnector } from '../../connectors/registry';
import { serviceUrl } from '../helpers/service-url';
import { expectRefusedEverywhere, readAll } from './source-read-only-cases';

const DATABASE = `qsec_${randomBytes(4).toString('hex')}`;
const JS = 'function () { db.getSiblingDB("admin").getCollection("x").insertOne({}); return true; }';
let client: MongoClient;
let db: Db;
let query: Record<string, unknown>;
let collection: Record<string, unknown>;

const state = async () => ({
  canary: await db
    .collection('canary')
    .find({}, { projection: { _id: 0 } })
    .sort({ id: 1 })
    .toArray(),
  collections: (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name).sort(),
});

beforeAll(async () => {
  client = new MongoClient(serviceUrl('mongo'));
  await client.connect();
  db = client.db(DATABASE);
  await db.collection('canary').insertMany([
    { id: 1, v: 1, name: 'bird', tags: ['a'] },
    { id: 2, v: 1, name: 'bird', tags: ['b'] },
  ]);
  await db.collection('canary').createIndex({ id: 1 }, { unique: true });
  const connection = { uri: serviceUrl('mongo'), database: DATABASE, collection: 'canary' };
  query = { connector_type: 'mongodb', connection_config: connection, query: { name: 'bird' } };
  collection = { connector_type: 'mongodb', connection_config: connection, collection: 'canary' };
});
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

/** Operators that run code or write, each hidden a different way. */
function hostileFilters(): Array<[string, Record<string, unknown> | string]> {
  return [
    ['$where', { $where: JS }],
    ['$where as code', { $where: { $code: JS } }],
    ['$where in $or in $and', { $and: [{ name: 'bird' }, { $or: [{ id: 1 }, { $where: JS }] }] }],
    ['$where in $nor', { $nor: [{ $where: JS }] }],
    ['$where in $elemMatch', { tags: { $elemMatch: { $where: JS } } }],
    ['$where in $not', { name: { $not: { $where: JS } } }],
    ['$function in $expr', { $expr: { $function: { body: JS, args: [], lang: 'js' } } }],
    [
      '$function deep in $expr',
      { $expr: { $and: [{ $eq: ['$v', 1] }, { $or: [{ $function: { body: JS, args: ['$v'], lang: 'js' } }] }] } },
    ],
    [
      '$accumulator in $expr',
      { $expr: { $eq: [{ $accumulator: { init: JS, accumulate: JS, accumulateArgs: [], merge: JS, lang: 'js' } }, 1] } },
    ],
    ['$out in nested arrays', { tags: { $all: [[[{ $out: 'canary_copy' }]]] } }],
    ['$merge in $in', { $expr: { $in: [{ $merge: { into: 'canary_copy' } }, [1]] } }],
    ['Extended JSON code as a value', { name: { $eq: { $code: JS } } }],
    ['Extended JSON code with scope', { name: { $in: [{ $code: JS, $scope: { x: 1 } }] } }],
    ['$where spelled with a JSON escape', '{"\\u0024where": "true"}'],
    ['$function spelled with a JSON escape', '{"$expr": {"\\u0024function": {"body": "x", "args": [], "lang": "js"}}}'],
    ['$where a thousand levels down', nested(1000, { $where: JS })],
  ];
}

function nested(depth: number, inner: Record<string, unknown>): Record<string, unknown> {
  let filter = inner;
  for (let i = 0; i < depth; i++) filter = { $and: [filter] };
  return filter;
}

describe('MongoDB filters that run code or write', () => {
  test('are refused in query mode and in where, with and without a cursor field, on validation and on check, describe and read', async () => {
    const before = await state();
    for (const [label, filter] of hostileFilters()) {
      await expectRefusedEverywhere(query, { query: filter }, /the connector only reads/, `query: ${label}`);
      await expectRefusedEverywhere(
        query,
        { query: filter, cursor: { column: 'id' } },
        /the connector only reads/,
        `query with a cursor: ${label}`,
      );
      await expectRefusedEverywhere(collection, { where: filter }, /the connector only reads/, `where: ${label}`);
      await expectRefusedEverywhere(
        collection,
        { where: filter, cursor: { column: 'id' } },
        /the connector only reads/,
        `where with a cursor: ${label}`,
      );
    }
    expect(await state()).toEqual(before);
  });

  test('field names that read as operators are refused wherever a field is named', async () => {
    for (const overrides of [
      { cursor: { column: '$where' } },
      { cursor: { column: 'id', tiebreaker: ['$expr'] } },
      { primary_key: ['$where'] },
      { columns: ['name', '$function'] },
    ]) {
      await expectRefusedEverywhere(collection, overrides, /starts with "\$", which makes it an operator/, JSON.stringify(overrides));
    }
  });

  test('a filter that only reads is not affected', async () => {
    for (const def of [
      query,
      { ...collection, where: { $and: [{ name: 'bird' }, { $or: [{ id: 1 }, { id: 2 }] }] }, cursor: { column: 'id' } },
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
