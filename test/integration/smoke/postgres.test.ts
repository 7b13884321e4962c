import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, test } from 'vitest';
import { serviceUrl } from '../../helpers/service-url';

const client = new pg.Client({ connectionString: serviceUrl('postgres') });
const table = `smoke_${randomUUID().replaceAll('-', '')}`;
afterAll(async () => {
  await client.query(`drop table if exists ${table}`);
  await client.end();
});

test('PostgreSQL: a row written is read back unchanged', async () => {
  await client.connect();
  await client.query(`create table ${table} (id bigint primary key, name text, doc jsonb, at timestamptz)`);
  await client.query(`insert into ${table} values ($1, $2, $3, $4)`, [
    '9007199254740993',
    'Ünïcode ✓',
    { a: [1, 2] },
    '2026-01-02T03:04:05.123456Z',
  ]);
  const { rows } = await client.query(`select id::text, name, doc, to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.US') as at from ${table}`);
  expect(rows).toEqual([{ id: '9007199254740993', name: 'Ünïcode ✓', doc: { a: [1, 2] }, at: '2026-01-02T03:04:05.123456' }]);
});
