import { Binary, BSONRegExp, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp, UUID } from 'mongodb';
import { describe, expect, test } from 'vitest';
import { keysetBranches } from '../../../connectors/mongodb/mongodb-filters';
import { bindLastPull, decodeFilter, discoveredKey, sampleColumns } from '../../../connectors/mongodb/mongodb-source';
import { bsonKind, fromBson, fromDocument, isoToDate, toBson } from '../../../connectors/mongodb/mongodb-types';

describe('BSON values → JSON', () => {
  test('integers are numbers only while exact; doubles stay numbers, non-finite ones strings', () => {
    expect(fromBson(42)).toBe(42);
    expect(fromBson(9007199254740991n)).toBe(9007199254740991);
    expect(fromBson(9007199254740993n)).toBe('9007199254740993');
    expect(fromBson(-9223372036854775808n)).toBe('-9223372036854775808');
    expect(fromBson(Long.fromString('9007199254740993'))).toBe('9007199254740993');
    expect(fromBson(new Int32(7))).toBe(7);
    expect(fromBson(new Double(2))).toBe(2);
    expect(fromBson(0.1)).toBe(0.1);
    expect(fromBson(-0)).toBe(0);
    expect(fromBson(NaN)).toBe('NaN');
    expect(fromBson(-Infinity)).toBe('-Infinity');
  });

  test('ObjectId, Date, Decimal128, Binary and UUID have their documented forms', () => {
    expect(fromBson(new ObjectId('65a1b2c3d4e5f60718293a4b'))).toBe('65a1b2c3d4e5f60718293a4b');
    expect(fromBson(new Date('2026-01-02T03:04:05.120Z'))).toBe('2026-01-02T03:04:05.120Z');
    expect(fromBson(Decimal128.fromString('0.1000'))).toBe('0.1000');
    expect(fromBson(Decimal128.fromString('1234567890123456789012.345678901234'))).toBe('1234567890123456789012.345678901234');
    expect(fromBson(new Binary(Buffer.from([0, 1, 2, 255])))).toBe('AAEC/w==');
    expect(fromBson(new UUID('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'))).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(fromBson(new Timestamp({ t: 1700000000, i: 7 }))).toEqual({ t: 1700000000, i: 7 });
    expect(fromBson(new BSONRegExp('^a', 'i'))).toBe('/^a/i');
    expect(fromBson(new MinKey())).toBe('MinKey');
    expect(fromBson(new MaxKey())).toBe('MaxKey');
    expect(fromBson(undefined)).toBeNull();
  });

  test('documents and arrays are kept, their values mapped; __proto__ stays a plain field', () => {
    const doc = JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>;
    expect(
      fromDocument({ _id: new ObjectId('65a1b2c3d4e5f60718293a4b'), tags: ['a', 9007199254740993n], at: { d: new Date(0) }, ...doc }),
    ).toEqual(
      JSON.parse(
        '{"_id": "65a1b2c3d4e5f60718293a4b", "tags": ["a", "9007199254740993"], "at": {"d": "1970-01-01T00:00:00.000Z"}, "__proto__": {"x": 1}}',
      ),
    );
    expect(Object.getPrototypeOf(fromDocument(doc))).toBe(Object.prototype);
  });
});

describe('cursor values → BSON', () => {
  test('a committed value is bound as the BSON type its field holds', () => {
    expect(toBson('65a1b2c3d4e5f60718293a4b', 'objectId')).toEqual(new ObjectId('65a1b2c3d4e5f60718293a4b'));
    expect(toBson('2026-01-02T03:04:05.123999Z', 'date')).toEqual(new Date('2026-01-02T03:04:05.123Z'));
    expect(toBson('9007199254740993', 'long')).toBe(9007199254740993n);
    expect(toBson(20, 'long')).toBe(20);
    expect(toBson('9007199254740993', 'string')).toBe('9007199254740993');
    expect(toBson('0.10', 'decimal')).toEqual(Decimal128.fromString('0.10'));
    expect(toBson(null, 'date')).toBeNull();
    expect(() => toBson('nope', 'objectId')).toThrow(RangeError);
  });

  test('dates round down to the millisecond, also before 1970', () => {
    expect(isoToDate('1969-12-31T23:59:59.999999Z').toISOString()).toBe('1969-12-31T23:59:59.999Z');
    expect(isoToDate('2026-01-02T03:04:05+02:00').toISOString()).toBe('2026-01-02T01:04:05.000Z');
  });

  test('bsonKind names what a field holds', () => {
    expect(
      [new ObjectId(), new Date(), 1n, 1, 1.5, 'x', true, Decimal128.fromString('1'), new UUID(), new Binary(Buffer.from('x'))].map(
        bsonKind,
      ),
    ).toEqual(['objectId', 'date', 'long', 'int', 'double', 'string', 'bool', 'decimal', 'uuid', 'binData']);
  });
});

describe('filters and keys', () => {
  test('Extended JSON is decoded; "$last_pull" becomes the bound date', () => {
    const filter = decodeFilter(
      {
        _id: { $oid: '65a1b2c3d4e5f60718293a4b' },
        at: { $gte: { $date: '2026-01-01T00:00:00Z' } },
        n: { $numberLong: '9007199254740993' },
      },
      'query',
    );
    expect(filter._id).toEqual(new ObjectId('65a1b2c3d4e5f60718293a4b'));
    expect(filter.at).toEqual({ $gte: new Date('2026-01-01T00:00:00Z') });
    const at = new Date('2026-01-01T00:00:00Z');
    expect(bindLastPull({ $or: [{ updatedAt: { $gt: '$last_pull' } }, { flag: true }] }, at)).toEqual({
      $or: [{ updatedAt: { $gt: at } }, { flag: true }],
    });
    expect(() => decodeFilter('{"x": {"$oid": "xyz"}}', 'query')).toThrow(/not a valid Extended JSON/);
  });

  test('the key is the one full unique index, else _id', () => {
    const id = { key: { _id: 1 }, name: '_id_' };
    expect(discoveredKey([id])).toEqual(['_id']);
    expect(discoveredKey([id, { key: { region: 1, id: 1 }, name: 'k', unique: true }])).toEqual(['region', 'id']);
    expect(discoveredKey([id, { key: { sku: 1 }, name: 's', unique: true, sparse: true }])).toEqual(['_id']);
    expect(discoveredKey([id, { key: { a: 1 }, name: 'a', unique: true }, { key: { b: 1 }, name: 'b', unique: true }])).toEqual(['_id']);
    expect(discoveredKey([id, { key: { t: 'text' }, name: 't', unique: true }])).toEqual(['_id']);
  });

  test('keyset branches: equality on the leading fields, $gt on the next, deepest first', () => {
    const order = [
      { name: 'updatedAt', kind: 'date' as const },
      { name: '_id', kind: 'objectId' as const },
    ];
    expect(keysetBranches(order, null)).toEqual([{}]);
    expect(keysetBranches(order, ['v', 'k'])).toEqual([{ updatedAt: 'v', _id: { $gt: 'k' } }, { updatedAt: { $gt: 'v' } }]);
  });

  test('sampled columns keep first-seen order and notice missing fields', () => {
    expect(
      sampleColumns([
        { _id: 1, a: null },
        { _id: 2, a: 'x', b: new Date() },
      ]),
    ).toEqual([
      { name: '_id', type: 'int', nullable: false },
      { name: 'a', type: 'string', nullable: true },
      { name: 'b', type: 'date', nullable: true },
    ]);
  });
});
