import mysql from 'mysql2/promise';
import pg from 'pg';

/**
 * The source data: a products table of 13 columns (bigint key, text, numeric, double, int, boolean,
 * jsonb/JSON, timestamptz/DATETIME(6)), generated server-side from the row number alone, so every run
 * and both databases hold the same rows. `updated_at` advances 1 ms every 3 rows: cursor values are
 * shared by 3 rows, which the keyset (updated_at, id) must page through without loss.
 */

export const PRODUCT_COLUMNS = [
  'id',
  'sku',
  'name',
  'category',
  'price',
  'cost',
  'stock',
  'weight_kg',
  'active',
  'attributes',
  'description',
  'created_at',
  'updated_at',
] as const;

const BASE = '2025-01-01 00:00:00';

export async function createPgProducts(url: string, table: string, rows: number): Promise<void> {
  const c = new pg.Client({ connectionString: url, application_name: 'qanatix-bench' });
  await c.connect();
  try {
    await c.query(`drop table if exists ${table}`);
    await c.query(`create table ${table} (
      id bigint primary key, sku text not null, name text not null, category text not null,
      price numeric(12,2) not null, cost numeric(14,4), stock int not null, weight_kg double precision,
      active boolean not null, attributes jsonb not null, description text,
      created_at timestamptz not null, updated_at timestamptz not null)`);
    await c.query(`insert into ${table}
      select g, 'SKU-' || lpad(g::text, 8, '0'), 'Product ' || g || ' ' || substr(md5(g::text), 1, 8),
        (array['tools','garden','kitchen','toys','office','sports','audio','books'])[1 + g % 8],
        round(((g * 7919) % 100000) / 100.0 + 0.99, 2), round(((g * 104729) % 1000000) / 1000.0, 4), (g * 31) % 500,
        ((g * 13) % 10000) / 1000.0, g % 10 <> 0,
        jsonb_build_object('color', (array['red','green','blue','black','white'])[1 + g % 5], 'size', (array['S','M','L','XL'])[1 + g % 4],
          'tags', jsonb_build_array('t' || (g % 17), 't' || (g % 29)), 'rating', ((g * 37) % 50) / 10.0),
        'Description of product ' || g || ': ' || md5(g::text) || md5((g + 1)::text),
        timestamptz '${BASE}+00' + (g % 86400) * interval '1 second',
        timestamptz '${BASE}+00' + (g / 3) * interval '1 millisecond'
      from generate_series(1::bigint, ${rows}::bigint) g`);
    await c.query(`create index ${table}_cursor on ${table} (updated_at, id)`);
    await c.query(`vacuum analyze ${table}`);
  } finally {
    await c.end();
  }
}

/** The same rows in MariaDB (Sequence engine's seq_1_to_N, JSON is LONGTEXT with a check). */
export async function createMysqlProducts(url: string, table: string, rows: number): Promise<void> {
  const c = await mysql.createConnection({ uri: url, multipleStatements: false });
  try {
    await c.query(`SET time_zone = '+00:00'`);
    await c.query(`DROP TABLE IF EXISTS ${table}`);
    await c.query(`CREATE TABLE ${table} (
      id BIGINT PRIMARY KEY, sku VARCHAR(32) NOT NULL, name VARCHAR(200) NOT NULL, category VARCHAR(32) NOT NULL,
      price DECIMAL(12,2) NOT NULL, cost DECIMAL(14,4), stock INT NOT NULL, weight_kg DOUBLE,
      active BOOLEAN NOT NULL, attributes JSON NOT NULL, description TEXT,
      created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB`);
    await c.query(`INSERT INTO ${table}
      SELECT seq, CONCAT('SKU-', LPAD(seq, 8, '0')), CONCAT('Product ', seq, ' ', SUBSTR(MD5(seq), 1, 8)),
        ELT(1 + seq % 8, 'tools','garden','kitchen','toys','office','sports','audio','books'),
        ROUND(((seq * 7919) % 100000) / 100.0 + 0.99, 2), ROUND(((seq * 104729) % 1000000) / 1000.0, 4), (seq * 31) % 500,
        ((seq * 13) % 10000) / 1000.0, seq % 10 <> 0,
        JSON_OBJECT('color', ELT(1 + seq % 5, 'red','green','blue','black','white'), 'size', ELT(1 + seq % 4, 'S','M','L','XL'),
          'tags', JSON_ARRAY(CONCAT('t', seq % 17), CONCAT('t', seq % 29)), 'rating', ((seq * 37) % 50) / 10.0),
        CONCAT('Description of product ', seq, ': ', MD5(seq), MD5(seq + 1)),
        TIMESTAMP '${BASE}' + INTERVAL (seq % 86400) SECOND,
        TIMESTAMP '${BASE}' + INTERVAL (seq DIV 3) * 1000 MICROSECOND
      FROM seq_1_to_${rows}`);
    await c.query(`CREATE INDEX ${table}_cursor ON ${table} (updated_at, id)`);
    await c.query(`ANALYZE TABLE ${table}`);
  } finally {
    await c.end();
  }
}

/**
 * Changes 1% of the rows (every 100th, offset by `round` so each round touches other rows): a new
 * price and an updated_at just after the newest one, as an application's UPDATE would.
 */
export async function changeOnePercent(url: string, table: string, round: number): Promise<number> {
  const c = new pg.Client({ connectionString: url, application_name: 'qanatix-bench' });
  await c.connect();
  try {
    const r = await c.query(
      `update ${table} set price = price + 1, updated_at = clock_timestamp() - interval '1 second' + (id % 1000) * interval '1 microsecond'
        where id % 100 = $1`,
      [round % 100],
    );
    await c.query(`analyze ${table}`);
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}
