/**
 * Each kind of source server restarted in the middle of a pull and while idle, under `serve`: the process stays
 * up, /readyz stays ready (a tenant's source is not the platform), the pull retries and resumes from its
 * committed cursor, and the run ends `succeeded` with exactly the source rows, none read twice.
 *
 * Source connections live in the worker role only, and `serve` runs the worker and the API in one process,
 * so one process under `serve` proves both roles survive; the platform restarts run under both topologies.
 */
import mysql from 'mysql2/promise';
import { MongoClient } from 'mongodb';
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { privateFerretdb } from '../helpers/private-ferretdb';
import { privateMariadb } from '../helpers/private-mariadb';
import { privateNeo4j } from '../helpers/private-neo4j';
import { privatePostgres } from '../helpers/private-postgres';
import { privateRedis, type PrivateRedis } from '../helpers/private-redis';
import { neo4jParts } from '../helpers/services';
import { freshDatabase, type TestDatabase } from '../helpers/test-db';
import { waitFor } from '../helpers/worker-process';
import { expectExactlyRows, sourceRows, startInstallation, type Installation } from './installation';

/** A timestamp per 100 rows, so many rows share one cursor value and the key breaks the ties. */
const updatedAt = (id: number) => new Date(Date.UTC(2026, 0, 1) + Math.floor(id / 100) * 1000);

interface SourceServer {
  /** The connector body's source part: type, connection, table. */
  connector: Record<string, unknown>;
  rows: number;
  /** Rows committed before the server is stopped. */
  stopAt: number;
  /**
   * The driver retries a read by itself (MongoDB's retryable reads; Neo4j's executeRead for up to the connect
   * timeout): a short outage may pass within one attempt.
   */
  driverRetries?: boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

async function postgresSource(rows: number): Promise<SourceServer> {
  const server = await privatePostgres();
  const url = await server.createDatabase('source');
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('create table items (id bigint primary key, name text not null, qty int not null, updated_at timestamptz not null)');
  await c.query(
    `insert into items select g, 'item ' || g, (g * 7) % 1000, '2026-01-01'::timestamptz + (g / 100) * interval '1 second' from generate_series(1, ${rows}) g`,
  );
  await c.query('create index on items (updated_at, id)');
  await c.end();
  // Stopped with `pg_ctl stop -m fast`, restarted while idle with `pg_ctl restart -m fast`: every session ends with 57P01.
  return {
    connector: { connector_type: 'postgresql', connection_config: { dsn: url }, table: 'items' },
    rows,
    stopAt: rows / 5,
    ...server,
  };
}

async function mariadbSource(rows: number): Promise<SourceServer> {
  const server = await privateMariadb();
  const conn = await mysql.createConnection({ uri: server.url });
  await conn.query(
    'create table items (id bigint primary key, name varchar(100) not null, qty int not null, updated_at datetime(6) not null, key (updated_at, id))',
  );
  await conn.query(
    `insert into items select seq, concat('item ', seq), (seq * 7) % 1000, timestamp('2026-01-01') + interval (seq div 100) second from seq_1_to_${rows}`,
  );
  await conn.end();
  const u = new URL(server.url);
  return {
    connector: {
      connector_type: 'mysql',
      connection_config: { host: u.hostname, port: Number(u.port), user: 'qanatix', password: 'qanatix', database: 'qanatix_source' },
      table: 'items',
    },
    rows,
    stopAt: rows / 5,
    ...server,
  };
}

async function ferretdbSource(rows: number): Promise<SourceServer> {
  const server = await privateFerretdb();
  const client = new MongoClient(server.url);
  const docs = sourceRows(rows).map((r) => ({ _id: r.id, name: r.name, qty: r.qty, updated_at: updatedAt(r.id) }));
  await client.db('source').collection<(typeof docs)[number]>('items').insertMany(docs);
  await client.close();
  const connector = { connector_type: 'mongodb', connection_config: { uri: server.url, database: 'source' }, table: 'items' };
  return { connector, rows, stopAt: rows / 10, driverRetries: true, ...server };
}

async function neo4jSource(rows: number): Promise<SourceServer> {
  // The launcher keeps no data across starts: the helper seeds the same graph after each start, before clients get in.
  const seed = async (directUrl: string) => {
    const { uri, user, password } = neo4jParts(directUrl);
    const driver = neo4j.driver(uri, neo4j.auth.basic(user, password));
    try {
      await driver.executeQuery('CREATE CONSTRAINT item_id FOR (n:Item) REQUIRE n.id IS UNIQUE');
      await driver.executeQuery('CREATE INDEX item_updated FOR (n:Item) ON (n.updated_at)');
      await driver.executeQuery(
        `UNWIND range(1, $rows) AS i CREATE (:Item {id: i, name: 'item ' + i, qty: (i * 7) % 1000,
           updated_at: datetime('2026-01-01T00:00:00Z') + duration({seconds: i / 100})})`,
        { rows: neo4j.int(rows) },
      );
    } finally {
      await driver.close();
    }
  };
  const server = await privateNeo4j(seed);
  const { uri, user, password } = neo4jParts(server.url);
  return {
    connector: { connector_type: 'neo4j', connection_config: { uri, user, password, database: 'neo4j' }, table: 'Item' },
    rows,
    stopAt: rows / 5,
    driverRetries: true,
    ...server,
  };
}

let platform: TestDatabase;
let redis: PrivateRedis;
let inst: Installation;

beforeAll(async () => {
  [platform, redis] = await Promise.all([freshDatabase(), privateRedis()]);
  inst = await startInstallation({ databaseUrl: platform.url, redisUrl: redis.url, topology: 'serve' });
});
afterAll(async () => {
  await inst?.stop();
  await redis?.stop();
  await platform?.drop();
});

const SOURCES: Array<[string, () => Promise<SourceServer>, number]> = [
  ['a source PostgreSQL', () => postgresSource(100_000), 1000],
  ['MariaDB', () => mariadbSource(100_000), 1000],
  ['FerretDB (MongoDB protocol)', () => ferretdbSource(20_000), 100],
  ['Neo4j', () => neo4jSource(20_000), 500],
];

describe.each(SOURCES)('%s', (name, start, batchSize) => {
  let source: SourceServer;
  let n = 0;
  const vertical = () =>
    `${name
      .split(' ')[0]!
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')}-${n}`;
  const connector = () =>
    inst.createConnector({
      name: `${name}-${++n}`,
      vertical: vertical(),
      cursor: { column: 'updated_at', lag_seconds: 0 },
      batch_size: batchSize,
      ...source.connector,
    });

  beforeAll(async () => {
    source = await start();
  }, 240_000);
  afterAll(async () => {
    await source?.destroy();
  });

  test('stopped in the middle of a pull and started again: the run retries, resumes from its committed cursor and ends with exactly the source rows', async () => {
    const id = await connector();
    const runId = await inst.pull(id);
    await waitFor('some batches committed', async () => (await inst.run(id, runId)).rows_read >= source.stopAt, 120_000, 25);
    await source.stop();
    expect((await inst.run(id, runId)).rows_read).toBeLessThan(source.rows); // stopped in the middle of the pull
    expect((await inst.readyz()).status).toBe(200); // the platform itself is fine
    await source.start();
    const run = await inst.waitRun(id, runId, 'succeeded', 180_000);
    expect(run.attempts).toBeGreaterThanOrEqual(source.driverRetries ? 1 : 2);
    expect(run.rows_read).toBe(source.rows);
    await expectExactlyRows(inst.pool, vertical(), source.rows);
    inst.expectAlive();
  });

  test('restarted while idle: the next pull connects again and succeeds', async () => {
    await source.restart();
    const id = await connector();
    await inst.waitRun(id, await inst.pull(id), 'succeeded', 180_000);
    await expectExactlyRows(inst.pool, vertical(), source.rows);
    inst.expectAlive();
  });
});
