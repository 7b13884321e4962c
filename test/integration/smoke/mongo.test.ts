import { randomUUID } from 'node:crypto';
import { Decimal128, MongoClient, ObjectId } from 'mongodb';
import { afterAll, expect, test } from 'vitest';
import { serviceUrl } from '../../helpers/service-url';

const client = new MongoClient(serviceUrl('mongo'));
const db = client.db(`smoke_${randomUUID().replaceAll('-', '')}`);
afterAll(async () => {
  await db.dropDatabase();
  await client.close();
});

test('MongoDB wire protocol: a document written is read back unchanged', async () => {
  const _id = new ObjectId();
  const doc = { _id, name: 'Ünïcode ✓', price: Decimal128.fromString('12.3400'), at: new Date('2026-01-02T03:04:05.123Z'), tags: ['a', 'b'] };
  await db.collection('things').insertOne(doc);
  const back = await db.collection('things').findOne({ _id });
  expect(back?._id.toHexString()).toBe(_id.toHexString());
  expect(back?.name).toBe('Ünïcode ✓');
  expect(back?.price.toString()).toBe('12.3400');
  expect((back?.at as Date).toISOString()).toBe('2026-01-02T03:04:05.123Z');
  expect(back?.tags).toEqual(['a', 'b']);
});
