import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, expect, test } from 'vitest';
import { serviceUrl } from '../../helpers/service-url';

const table = `smoke_${randomUUID().replaceAll('-', '')}`;
let conn: mysql.Connection | undefined;
afterAll(async () => {
  await conn?.query(`drop table if exists ${table}`);
  await conn?.end();
});

test('MySQL protocol (MariaDB): a row written is read back unchanged', async () => {
  conn = await mysql.createConnection({ uri: serviceUrl('mysql'), supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  await conn.query(`create table ${table} (id bigint primary key, name varchar(100), price decimal(38,10), at datetime(6))`);
  await conn.execute(`insert into ${table} values (?, ?, ?, ?)`, [
    '9007199254740993',
    'Ünïcode ✓',
    '12345678901234567890.0123456789',
    '2026-01-02 03:04:05.123456',
  ]);
  const [rows] = await conn.query(`select * from ${table}`);
  expect(rows).toEqual([
    { id: '9007199254740993', name: 'Ünïcode ✓', price: '12345678901234567890.0123456789', at: '2026-01-02 03:04:05.123456' },
  ]);
});
