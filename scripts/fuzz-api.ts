/**
 * A bounded fuzz of the OpenAPI document: a real `qanatix api` process on a database and a redis-server of
 * its own, seeded with one valid object of every kind (key, schema, connector, run, ingestion with DLQ
 * entries, entity) so that path routes are reached, then schemathesis against every operation. Fails on any
 * server error or response that contradicts the declared schemas. Run through scripts/fuzz-api.sh.
 *
 * Environment: QANATIX_TEST_PG_URL (a superuser DSN), FUZZ_VENV (schemathesis' venv), FUZZ_SECONDS (time
 * budget of the schemathesis run, default 180), FUZZ_SEED (reproduce a run), FUZZ_REPORT_DIR.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PG_URL = process.env.QANATIX_TEST_PG_URL ?? 'postgres://qanatix:qanatix@127.0.0.1:5432/qanatix';
const VENV = process.env.FUZZ_VENV ?? join(ROOT, '.services/fuzz-venv');
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 180);
const REPORT_DIR = process.env.FUZZ_REPORT_DIR ?? join(ROOT, '.services/fuzz-report');
export const WEBHOOK_SECRET = 'fuzz-webhook-secret';
/** Server errors, and responses whose status, content type or body the OpenAPI document does not declare. */
const CHECKS = 'not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance';

const cleanups: Array<() => Promise<unknown>> = [];
const say = (m: string) => console.log(`fuzz: ${m}`);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function child(cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout!.on('data', (d) => (out += d));
  c.stderr!.on('data', (d) => (out += d));
  c.once('exit', () => writeFileSync(logFile, out));
  cleanups.push(async () => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
    writeFileSync(logFile, out);
  });
  return c;
}

async function waitUntil(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function freshDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  cleanups.push(async () => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`drop database if exists ${name} with (force)`);
    await c.end();
  });
  const url = new URL(PG_URL);
  url.pathname = '/' + name;
  return url.toString();
}

interface Seeded {
  key: string;
  keyId: string;
  spareKeyId: string;
  connectorId: string;
  patchedConnectorId: string;
  spareConnectorId: string;
  runId: string;
  ingestionId: string;
  entityId: string;
}

/** One valid object of every kind, made through the API itself (the first key through the CLI, as a user would). */
async function seed(base: string, databaseUrl: string, sourceUrl: string, env: NodeJS.ProcessEnv): Promise<Seeded> {
  const created = await new Promise<string>((resolve, reject) => {
    const c = spawn(process.execPath, [join(ROOT, 'bin/qanatix.mjs'), 'keys', 'create', '--tenant', 'fuzz', '--scopes', 'admin'], {
      env: { ...env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout!.on('data', (d) => (out += d));
    c.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`qanatix keys create exited ${code}`))));
  });
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${created}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`seeding ${method} ${path} answered ${res.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  };
  // The fuzz uses a key whose id it knows, so the hooks can keep it from revoking that key.
  const fuzzKey = await call('POST', '/auth/keys', { name: 'fuzz', scopes: ['admin'] });
  const spareKey = await call('POST', '/auth/keys', { name: 'to be revoked', scopes: ['read'] });
  await call('POST', '/schemas', {
    vertical: 'retail',
    entity_type: 'product',
    schema: { type: 'object', properties: { price: { type: 'number' } } },
  });
  const batch = await call('POST', '/ingest/retail/product/batch', {
    records: [
      { name: 'Widget', source_id: 'W-1', vertical_data: { price: 9.5 } },
      { name: 'Bad', source_id: 'W-2', vertical_data: { price: 'nine' } },
    ],
  });
  const connector = (name: string) =>
    call('POST', '/connectors', {
      name,
      connector_type: 'postgresql',
      connection_config: { dsn: sourceUrl },
      vertical: 'retail',
      entity_type: 'product',
      table: 'products',
      // Distinct literal prefixes: connectors of one target whose source_ids could collide are refused.
      source_id: `${name.replace(/\W+/g, '-')}-{id}`,
      schedule: '*/15 * * * *',
    });
  const [main, patched, spare] = [await connector('fuzz source'), await connector('fuzz patched'), await connector('fuzz spare')];
  const run = await call('POST', `/connectors/${main.id}/pull`, { mode: 'incremental' });
  return {
    key: fuzzKey.key,
    keyId: fuzzKey.id,
    spareKeyId: spareKey.id,
    connectorId: main.id,
    patchedConnectorId: patched.id,
    spareConnectorId: spare.id,
    runId: run.run_id,
    ingestionId: batch.ingestion_id,
    entityId: batch.entity_ids[0],
  };
}

/**
 * Valid ids are offered most of the time and generated ones the rest, so the handlers run and the id
 * validation is fuzzed too. Destructive operations get objects of their own: deleting the connector every
 * other route uses would leave them answering 404.
 */
function schemathesisConfig(s: Seeded, hooks: string): string {
  const dictionaries = {
    connector: s.connectorId,
    patched: s.patchedConnectorId,
    spare: s.spareConnectorId,
    run: s.runId,
    ingestion: s.ingestionId,
    entity: s.entityId,
    key: s.spareKeyId,
    queue: 'pulls',
  };
  const ops: Array<[string, string, Record<string, keyof typeof dictionaries>]> = [
    ['GET', '/connectors/{id}', { id: 'connector' }],
    ['PATCH', '/connectors/{id}', { id: 'patched' }],
    ['DELETE', '/connectors/{id}', { id: 'spare' }],
    ['POST', '/connectors/{id}/test', { id: 'connector' }],
    ['POST', '/connectors/{id}/pull', { id: 'connector' }],
    ['GET', '/connectors/{id}/runs', { id: 'connector' }],
    ['GET', '/connectors/{id}/runs/{run_id}', { id: 'connector', run_id: 'run' }],
    ['GET', '/connectors/{id}/state', { id: 'connector' }],
    ['DELETE', '/connectors/{id}/state', { id: 'patched' }],
    ['GET', '/ingestions/{id}', { id: 'ingestion' }],
    ['GET', '/ingestions/{id}/errors', { id: 'ingestion' }],
    ['GET', '/entities/{id}', { id: 'entity' }],
    ['DELETE', '/auth/keys/{id}', { id: 'key' }],
    ['POST', '/auth/keys/{id}/rotate', { id: 'key' }],
    ['GET', '/queues/{name}/jobs', { name: 'queue' }],
    ['POST', '/queues/{name}/jobs/{id}/retry', { name: 'queue' }],
  ];
  return [
    `hooks = "${hooks}"`,
    `headers = { Authorization = "Bearer ${s.key}" }`,
    'request-timeout = 30',
    // A filter that matches nothing means a route was renamed and its ids are no longer seeded.
    'warnings = { fail-on = ["unmatched_filter"] }',
    ...Object.entries(dictionaries).map(([name, value]) => `[dictionaries.${name}]\nvalues = ["${value}"]`),
    ...ops.map(
      ([method, path, params]) =>
        `[[operations]]\ninclude-name = "${method} /api/v1${path}"\nparameters = { ${Object.entries(params)
          .map(([k, d]) => `"path.${k}" = { dictionary = "${d}", probability = 0.9 }`)
          .join(', ')} }`,
    ),
  ].join('\n');
}

interface Summary {
  operations: number;
  requests: number;
  failures: string[];
}

/** Counts from schemathesis' NDJSON event stream: operations tested, requests sent, distinct failures. */
function summarize(ndjson: string): Summary {
  const operations = new Set<string>();
  const failures = new Set<string>();
  let requests = 0;
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as Record<string, Record<string, unknown>>;
    const scenario = event.ScenarioFinished;
    if (!scenario) continue;
    const label = (scenario.recorder as { label?: string } | undefined)?.label;
    if (label && label !== 'Stateful tests') operations.add(label);
    type Failure = { operation?: string; title?: string; message?: string };
    type Check = { name: string; status: string; failure_info?: { failure?: Failure } };
    const recorder = scenario.recorder as { interactions?: Record<string, unknown>; checks?: Record<string, Check[]> };
    requests += Object.keys(recorder?.interactions ?? {}).length;
    for (const checks of Object.values(recorder?.checks ?? {})) {
      for (const c of checks.filter((c) => c.status === 'failure')) {
        const f = c.failure_info?.failure ?? {};
        // A stateful scenario's label names no operation; the failure does.
        failures.add(`${f.operation ?? label}: ${c.name}: ${f.title ?? ''} (${(f.message ?? '').split('\n')[0]})`);
      }
    }
  }
  return { operations: operations.size, requests, failures: [...failures].sort() };
}

async function main(): Promise<number> {
  const started = Date.now();
  mkdirSync(REPORT_DIR, { recursive: true });
  const [databaseUrl, sourceUrl, redisPort, apiPort] = [
    await freshDatabase('qfuzz'),
    await freshDatabase('qfuzzsrc'),
    await freePort(),
    await freePort(),
  ];
  child(
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    process.env,
    join(REPORT_DIR, 'redis.log'),
  );
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    HOST: '127.0.0.1',
    PORT: String(apiPort),
    API_KEY_SALT: randomBytes(16).toString('hex'),
    QANATIX_ENCRYPTION_KEYS: `fuzz:${randomBytes(32).toString('base64')}`,
    WEBHOOK_SECRET,
    QANATIX_DEV: '1',
    LOG_LEVEL: 'error',
    // The fuzz sends thousands of requests with one key: limited at the default, most would be 429s.
    RATE_LIMIT_PER_MINUTE: '1000000',
    TENANT_RATE_LIMIT_PER_MINUTE: '1000000',
  };
  const base = `http://127.0.0.1:${apiPort}`;
  const api = child(process.execPath, [join(ROOT, 'bin/qanatix.mjs'), 'api'], env, join(REPORT_DIR, 'api.log'));
  await waitUntil('the API', async () => (await fetch(`${base}/readyz`)).ok);
  const seeded = await seed(base, databaseUrl, sourceUrl, env);
  say(
    `seeded a key, a schema, two connectors, a run ${seeded.runId}, an ingestion with DLQ entries ${seeded.ingestionId}, an entity ${seeded.entityId}`,
  );

  const configFile = join(REPORT_DIR, 'schemathesis.toml');
  writeFileSync(configFile, schemathesisConfig(seeded, join(ROOT, 'scripts/fuzz-api-hooks.py')));
  const ndjson = join(REPORT_DIR, 'events.ndjson');
  const args = ['--config-file', configFile, 'run', `${base}/api/v1/openapi.json`, '--max-time', String(SECONDS), '--workers', '1'];
  args.push('--report', 'ndjson', '--report-ndjson-path', ndjson);
  args.push('--checks', CHECKS, '--generation-database', 'none', '--no-color', '--continue-on-failure');
  if (process.env.FUZZ_SEED) args.push('--seed', process.env.FUZZ_SEED);
  // More schemathesis options, e.g. --include-path-regex to look at one route.
  if (process.env.FUZZ_ST_ARGS) args.push(...process.env.FUZZ_ST_ARGS.split(' ').filter(Boolean));
  say(`schemathesis for ${SECONDS} s against ${base} (output in ${REPORT_DIR})`);
  const st = spawn(join(VENV, 'bin/st'), args, {
    env: {
      ...process.env,
      WEBHOOK_SECRET,
      FUZZ_KEY_ID: seeded.keyId,
      FUZZ_CONNECTOR: seeded.connectorId,
      FUZZ_PATCHED_CONNECTOR: seeded.patchedConnectorId,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: REPORT_DIR,
  });
  let out = '';
  st.stdout!.on('data', (d) => (out += d));
  st.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number>((r) => st.once('exit', (c) => r(c ?? 1)));
  writeFileSync(join(REPORT_DIR, 'schemathesis.log'), out);
  if (api.exitCode !== null) throw new Error(`the API process died during the fuzz (see ${REPORT_DIR}/api.log)`);

  const summary = summarize(readFileSync(ndjson, 'utf8'));
  const seconds = Math.round((Date.now() - started) / 1000);
  say(
    `${summary.operations} operations, ${summary.requests} requests, ${summary.failures.length} findings, ${seconds} s in all (schemathesis exit ${code})`,
  );
  for (const f of summary.failures) say(`  ${f}`);
  if (code !== 0 && summary.failures.length === 0) say(`schemathesis failed without a finding; its output:\n${out.slice(-4000)}`);
  return code === 0 && summary.failures.length === 0 ? 0 : 1;
}

let status = 1;
try {
  status = await main();
} catch (err) {
  console.error(`fuzz: ${(err as Error).message}`);
} finally {
  for (const c of cleanups.reverse()) await c().catch((e) => console.error(`fuzz: cleanup: ${(e as Error).message}`));
}
process.exit(status);
