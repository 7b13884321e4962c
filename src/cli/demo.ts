import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import mysql from 'mysql2/promise';
import neo4j from 'neo4j-driver';
import pg from 'pg';
import { createApiKey, ensureTenant } from '../auth/api-keys';
import { createOperator, revokeOperator } from '../auth/operator-credentials';
import { loadConfig } from '../config';
import { createPool } from '../db/pool';
import { projectPath } from '../project-path';
import { startRoles } from '../server';
import { EXIT } from './api-client';
import { CONTROL, writeControl } from './terminal';

const SERVICES = projectPath('scripts/services.sh');
const PG_ADMIN = 'postgres://qanatix:qanatix@127.0.0.1:5432/postgres';
const MYSQL_URL = 'mysql://qanatix:qanatix@127.0.0.1:3306/';
const NEO4J = { uri: 'bolt://127.0.0.1:7687', user: 'neo4j', password: 'qanatix-test', database: 'neo4j' };
const SCHEDULE = '*/10 * * * * *';

const say = (text: string) => {
  writeControl(process.stdout, CONTROL.bold, '▸');
  writeControl(process.stdout, CONTROL.plain, ` ${text}\n`);
};

async function answers(check: () => Promise<unknown>): Promise<boolean> {
  try {
    await check();
    return true;
  } catch {
    return false;
  }
}

/**
 * The main job: a sample PostgreSQL products table (a few thousand rows) and a MariaDB stock table, two
 * connectors created through the API with a 10-second schedule, real scheduled pulls, then changed source
 * rows picked up by the next scheduled run. Leaves the server running (Ctrl-C stops it) unless --exit.
 */
export const DEMO_HELP = `qanatix demo [--exit] [--port 8000] [--rows 5000]

  Starts PostgreSQL, MariaDB, Redis and Neo4j when they do not answer, seeds a sample products table in
  PostgreSQL, a stock table in MariaDB and a supplier graph in Neo4j, creates a key and three connectors through the API on a 10-second schedule, lets the
  scheduled pulls run, changes source rows and shows the next scheduled runs picking them up. The server keeps
  running afterwards (Ctrl-C stops it) unless --exit.

  It owns these names on the local servers (127.0.0.1, whatever DATABASE_URL says) and starts them afresh each
  time: the PostgreSQL databases qanatix_demo and qanatix_demo_source and the MariaDB database qanatix_demo_source
  are dropped and created again (open connections to them are ended), and every :DemoSupplier node in Neo4j's
  neo4j database is deleted. Keep nothing of your own under those names.`;

export async function demo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { exit: { type: 'boolean' }, port: { type: 'string' }, rows: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(DEMO_HELP);
    return EXIT.ok;
  }
  const started = Date.now();
  const rows = Number(values.rows ?? 5000);
  const port = Number(values.port ?? process.env.PORT ?? 8000);

  const pgUp = await answers(async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN, connectionTimeoutMillis: 2000 });
    await c.connect();
    await c.end();
  });
  const graph = neo4j.driver(NEO4J.uri, neo4j.auth.basic(NEO4J.user, NEO4J.password), {
    connectionTimeout: 2000,
    maxTransactionRetryTime: 0,
  });
  const graphUp = await answers(async () => {
    const session = graph.session();
    try {
      await session.run('RETURN 1');
    } finally {
      await session.close();
    }
  });
  if (!pgUp || !graphUp || !(await answers(async () => (await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 2000 })).end()))) {
    say('starting PostgreSQL, MariaDB, Redis and Neo4j (scripts/services.sh up)…');
    execFileSync('bash', [SERVICES, 'up', 'postgres', 'mariadb', 'redis', 'neo4j'], { stdio: 'inherit' });
  }

  say(
    'creating the sample sources afresh: PostgreSQL databases qanatix_demo and qanatix_demo_source and MariaDB database ' +
      'qanatix_demo_source dropped and created again, :DemoSupplier nodes in Neo4j replaced',
  );
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  for (const db of ['qanatix_demo', 'qanatix_demo_source']) {
    await admin.query(`drop database if exists ${db} with (force)`);
    await admin.query(`create database ${db}`);
  }
  await admin.end();
  const source = new pg.Client({ connectionString: 'postgres://qanatix:qanatix@127.0.0.1:5432/qanatix_demo_source' });
  await source.connect();
  await source.query(`create table products (id bigint primary key, name text not null, sku text not null, price numeric(12,2),
    attributes jsonb, updated_at timestamptz not null default now())`);
  await source.query(
    `insert into products select g, 'Product ' || g, 'SKU-' || lpad(g::text, 6, '0'), round((random() * 500)::numeric, 2),
       jsonb_build_object('color', (array['red','green','blue'])[1 + g % 3], 'weight_g', g % 900), now() - interval '1 hour'
     from generate_series(1, $1) g`,
    [rows],
  );
  const maria = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
  await maria.query(`drop database if exists qanatix_demo_source; create database qanatix_demo_source; use qanatix_demo_source;
    create table qanatix_demo_source.stock (id int primary key, name varchar(100) not null, warehouse varchar(20),
      quantity int, updated_at datetime(6) not null);
    insert into qanatix_demo_source.stock select seq, concat('Stock ', seq), if(seq % 2, 'north', 'south'), seq % 100,
      utc_timestamp(6) - interval 1 hour from seq_1_to_500;`);

  await graph.executeQuery('MATCH (s:DemoSupplier) DETACH DELETE s');
  await graph.executeQuery('CREATE CONSTRAINT demo_supplier_id IF NOT EXISTS FOR (s:DemoSupplier) REQUIRE s.id IS UNIQUE');
  await graph.executeQuery('CREATE INDEX demo_supplier_cursor IF NOT EXISTS FOR (s:DemoSupplier) ON (s.updated_at, s.id)');
  await graph.executeQuery(
    `UNWIND range(1, 300) AS i CREATE (s:DemoSupplier {id: i, name: 'Supplier ' + i, country: ['DE', 'FR', 'IT'][i % 3],
       updated_at: datetime() - duration('PT1H')})
     WITH s WHERE s.id <= 150 MATCH (t:DemoSupplier {id: s.id + 150}) CREATE (s)-[:SUBCONTRACTS]->(t)`,
  );

  process.env.QANATIX_DEV ??= '1';
  // The demo narrates; JSON log lines would interrupt it (a warning such as "WEBHOOK_SECRET is not set" is no news
  // here: the demo sends no webhooks). Errors still show.
  process.env.LOG_LEVEL ??= 'error';
  const config = { ...loadConfig(), databaseUrl: 'postgres://qanatix:qanatix@127.0.0.1:5432/qanatix_demo', port, workerConcurrency: 2 };
  const server = await startRoles(config, { api: true, worker: true });
  const base = `http://${config.host}:${port}`;
  const pool = createPool(config.databaseUrl, 2);
  const tenantId = await ensureTenant(pool, 'demo');
  const key = (await createApiKey(pool, config.apiKeySalt, tenantId, 'demo', ['admin'])).key;
  // The board and /metrics are installation-wide: they take an operator credential, not the tenant's key.
  await revokeOperator(pool, 'demo');
  const operator = (await createOperator(pool, config.apiKeySalt, 'demo')).token;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- demo responses are read field by field
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${JSON.stringify(json)}`);
    return json;
  };

  say(`creating three connectors through the API, each on the schedule "${SCHEDULE}"`);
  const products = await api('POST', '/connectors', {
    name: 'demo products (PostgreSQL)',
    connector_type: 'postgresql',
    vertical: 'demo',
    entity_type: 'product',
    connection_config: { dsn: 'postgres://qanatix:qanatix@127.0.0.1:5432/qanatix_demo_source' },
    table: 'products',
    cursor: { column: 'updated_at', lag_seconds: 1 },
    source_id: 'pg-{id}',
    schedule: SCHEDULE,
  });
  const stock = await api('POST', '/connectors', {
    name: 'demo stock (MariaDB)',
    connector_type: 'mysql',
    vertical: 'demo',
    entity_type: 'stock',
    connection_config: { host: '127.0.0.1', port: 3306, user: 'qanatix', password: 'qanatix', database: 'qanatix_demo_source' },
    table: 'stock',
    cursor: { column: 'updated_at', lag_seconds: 1 },
    source_id: 'my-{id}',
    schedule: SCHEDULE,
  });

  const suppliers = await api('POST', '/connectors', {
    name: 'demo suppliers (Neo4j)',
    connector_type: 'neo4j',
    vertical: 'demo',
    entity_type: 'supplier',
    connection_config: NEO4J,
    label: 'DemoSupplier',
    cursor: { column: 'updated_at', lag_seconds: 1 },
    source_id: 'neo-{id}',
    schedule: SCHEDULE,
  });

  const waitForRun = async (connector: { id: string; name: string }, after: number) => {
    const explained = new Set<string>();
    for (;;) {
      const runs = (await api('GET', `/connectors/${connector.id}/runs?limit=5`)) as Array<Record<string, number | string>>;
      // A run that read nothing says why (rows still inside the lag window): once, while the next run is awaited.
      for (const r of runs) {
        if (r.status !== 'succeeded' || Number(r.rows_read) > 0 || !r.rows_held_back || explained.has(String(r.id))) continue;
        if (Date.parse(String(r.queued_at)) <= after) continue;
        explained.add(String(r.id));
        say(`${connector.name}: ${r.note}`);
      }
      const done = runs.find(
        (r) => r.status === 'succeeded' && r.trigger === 'schedule' && Number(r.rows_read) > 0 && Date.parse(String(r.queued_at)) > after,
      );
      if (done) {
        say(
          `${connector.name}: scheduled run read ${done.rows_read} rows → ${done.inserted} inserted, ${done.updated} updated, ${done.unchanged} unchanged (${done.duration_ms} ms)`,
        );
        return;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  say('waiting for the first scheduled runs…');
  await Promise.all([waitForRun(products, 0), waitForRun(stock, 0), waitForRun(suppliers, 0)]);

  const changedAt = Date.now();
  say('changing source rows: 25 product prices, 5 new products, 10 stock quantities, 5 suppliers');
  await source.query(`update products set price = price + 1, updated_at = now() where id <= 25`);
  await source.query(
    `insert into products select g, 'New product ' || g, 'SKU-N' || g, 9.99, '{}', now() from generate_series($1 + 1, $1 + 5) g`,
    [rows],
  );
  await maria.query(`update qanatix_demo_source.stock set quantity = quantity + 7, updated_at = utc_timestamp(6) where id <= 10`);
  await graph.executeQuery(`MATCH (s:DemoSupplier) WHERE s.id <= 5 SET s.country = 'NL', s.updated_at = datetime()`);
  say('waiting for the next scheduled runs to pick them up…');
  await Promise.all([waitForRun(products, changedAt), waitForRun(stock, changedAt), waitForRun(suppliers, changedAt)]);
  await source.end();
  await maria.end();
  await graph.close();
  await pool.end();

  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`
Done in ${seconds} s. Where to look:
  API           ${base}/api/v1/openapi.json        (Authorization: Bearer ${key})
  entities      curl -H "Authorization: Bearer ${key}" "${base}/api/v1/entities?vertical=demo&limit=5"
  runs          curl -H "Authorization: Bearer ${key}" ${base}/api/v1/connectors/${products.id}/runs
  Bull Board    ${base}/admin/queues                (user demo, password: ${operator})
  metrics       curl -H "Authorization: Bearer ${operator}" ${base}/metrics
  CLI           QANATIX_URL=${base} QANATIX_API_KEY=${key} ./bin/qanatix.mjs queues
`);
  if (values.exit) {
    await server.stop();
    return EXIT.ok;
  }
  console.log('The schedules keep running; Ctrl-C stops the demo.');
  return new Promise<number>(() => {});
}
