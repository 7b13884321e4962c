import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { runCli, spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let server: ChildRole;
let env: Record<string, string>;
let dir: string;

/** Runs the CLI for real, without a terminal (so progress is printed as lines). */
const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query('create table products (id int primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(`insert into products select g, 'P' || g, now() - interval '1 hour' from generate_series(1, 3000) g`);
  const port = await freePort();
  env = {
    QANATIX_DEV: '1',
    DATABASE_URL: platform.url,
    REDIS_URL: redis.url,
    QANATIX_URL: `http://127.0.0.1:${port}`,
    SRC_DSN: source.url,
  };
  server = spawnRole('serve', { ...env, PORT: String(port), LOG_LEVEL: 'warn' });
  await waitFor('the API', async () => (await fetch(`${env.QANATIX_URL}/healthz`).catch(() => null))?.ok, 30_000, 200);
  const created = await cli(['keys', 'create', '--tenant', 'cli', '--scopes', 'connectors,admin']);
  expect(created.code).toBe(0);
  env.QANATIX_API_KEY = created.out.trim();
  dir = await mkdtemp(join(tmpdir(), 'qanatix-cli-'));
});
afterAll(async () => {
  await server.kill('SIGTERM');
  await redis.stop();
  await Promise.all([platform.drop(), source.drop()]);
});

/** What a terminal would obey: C0 and C1 controls except line feed and tab, bidirectional overrides and isolates. */
const OBEYED = /(?![\n\t])[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;

const yaml = (connectors: string) => `connectors:\n${connectors}`;
const def = (name: string, extra = '', batch = 500) => `  - name: ${name}
    connector_type: postgresql
    vertical: cli
    entity_type: product-${name}
    connection_config:
      dsn: \${SRC_DSN}
    table: products
    cursor: { column: updated_at, lag_seconds: 0 }
    batch_size: ${batch}
${extra}`;

describe('qanatix CLI', () => {
  test('connectors apply: creates, is idempotent, updates in place, and --prune removes only what the file dropped', async () => {
    const file = join(dir, 'connectors.yaml');
    await writeFile(file, yaml(def('alpha', '    schedule: "0 * * * *"\n') + def('beta') + def('gamma')));
    const first = await cli(['connectors', 'apply', '-f', file]);
    expect(first.code).toBe(0);
    expect(first.out).toContain('applied: 3 created, 0 updated, 0 unchanged, 0 deleted');
    const ids = JSON.parse((await cli(['connectors', 'list', '--json'])).out)
      .map((c: { id: string }) => c.id)
      .sort();

    const again = await cli(['connectors', 'apply', '-f', file]);
    expect(again.out).toContain('applied: 0 created, 0 updated, 3 unchanged, 0 deleted');

    await writeFile(file, yaml(def('alpha', '    schedule: "30 * * * *"\n') + def('gamma')));
    const dry = await cli(['connectors', 'apply', '-f', file, '--prune', '--dry-run']);
    expect(dry.out).toContain('~ alpha (schedule)');
    expect(dry.out).toContain('- beta');
    expect(dry.out).toContain('would apply: 0 created, 1 updated, 1 unchanged, 1 deleted');
    expect(JSON.parse((await cli(['connectors', 'list', '--json'])).out)).toHaveLength(3);

    const pruned = await cli(['connectors', 'apply', '-f', file, '--prune']);
    expect(pruned.out).toContain('applied: 0 created, 1 updated, 1 unchanged, 1 deleted');
    const after = JSON.parse((await cli(['connectors', 'list', '--json'])).out) as Array<{ id: string; name: string; schedule: string }>;
    expect(after.map((c) => c.name)).toEqual(['alpha', 'gamma']);
    expect(after.find((c) => c.name === 'alpha')!.schedule).toBe('30 * * * *');
    expect(after.every((c) => ids.includes(c.id))).toBe(true); // updated in place, same ids

    const empty = await cli(['connectors', 'apply', '-f', file], { SRC_DSN: '' });
    expect(empty.code).toBe(1); // an empty value is a value, and the API refuses it
    expect(empty.err).toMatch(/alpha.*connection_config\.dsn/s);
    await writeFile(join(dir, 'bad.yaml'), yaml(def('delta').replace('${SRC_DSN}', '${NOT_SET_ANYWHERE}')));
    const unset = await cli(['connectors', 'apply', '-f', join(dir, 'bad.yaml')]);
    expect(unset.code).toBe(2);
    expect(unset.err).toContain('NOT_SET_ANYWHERE');
  });

  test('pull --wait shows progress and the summary; a failed run exits 1', async () => {
    const file = join(dir, 'pull.yaml');
    await writeFile(file, yaml(def('puller', '', 20) + def('broken').replace('table: products', 'table: no_such_table')));
    expect((await cli(['connectors', 'apply', '-f', file])).code).toBe(0);
    const ok = await cli(['pull', 'puller', '--full', '--wait']);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/\[#+\] succeeded\s+3000 rows\s+[\d,]+ rows\/s/);
    expect(ok.out).toContain('succeeded: 3000 rows read, 3000 inserted');
    const bad = await cli(['pull', 'broken', '--wait']);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('failed:');
    expect(bad.out).toMatch(/error: .*no_such_table/);
    const runs = JSON.parse((await cli(['runs', 'puller', '--json'])).out);
    expect(runs[0]).toMatchObject({ status: 'succeeded', rows_read: 3000 });
    const queues = JSON.parse((await cli(['queues', '--json'])).out);
    expect(queues[0]).toMatchObject({ name: 'pulls', counts: expect.objectContaining({ failed: 1 }) });
    expect(queues[0].failed_jobs[0].failed_reason).toMatch(/no_such_table/);
    const retried = await cli(['retry', queues[0].failed_jobs[0].id]);
    expect(retried.code).toBe(0);
    expect((await cli(['connectors', 'test', 'broken'])).code).toBe(1);
    expect((await cli(['connectors', 'test', 'puller'])).out).toMatch(/^ok: puller/);
  });

  test('text from the source reaches the terminal with its control characters shown, not obeyed; --json keeps it exact', async () => {
    // Rows a hostile source holds: clipboard and title writes, a screen clear, a line overwritten, reversed text, C1.
    const names = [
      '\x1b]52;c;cHduZWQ=\x07clip',
      '\x1b]0;root@prod\x07title',
      '\x1b[2J\x1b[Hcleared',
      'paid\rUNPAID',
      'file\u202Egnp.exe',
      '\u009b31mred',
      'nul\x08back',
    ];
    await source.pool.query('create table hostile (id int primary key, name text not null, updated_at timestamptz not null)');
    await source.pool.query(
      `insert into hostile select i, n, now() - interval '1 hour' from unnest($1::text[]) with ordinality as t(n, i)`,
      [names],
    );
    const file = join(dir, 'hostile.yaml');
    await writeFile(file, yaml(def('hostile').replace('table: products', 'table: hostile')));
    const shown = await cli(['connectors', 'preview', '--file', file]);
    expect(shown.code).toBe(0);
    expect(shown.out + shown.err).not.toMatch(OBEYED);
    for (const visible of [
      '\\u001b]52;c;cHduZWQ=\\u0007clip',
      '\\u001b[2J\\u001b[Hcleared',
      'paid\\u000dUNPAID',
      'file\\u202egnp.exe',
      '\\u009b31mred',
    ]) {
      expect(shown.out).toContain(visible);
    }
    const exact = await cli(['connectors', 'preview', '--file', file, '--json']);
    expect(exact.out).not.toMatch(OBEYED);
    const rows = JSON.parse(exact.out).rows as Array<{ record: { name: string } }>;
    expect(rows.map((r) => r.record.name)).toEqual(names);
  });

  test('every command has --help; usage errors exit 2; an unreachable API exits 3', async () => {
    for (const c of ['serve', 'api', 'worker', 'migrate', 'demo', 'keys', 'operator', 'connectors', 'pull', 'runs', 'queues', 'retry']) {
      const r = await cli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.out, c).toContain(`qanatix ${c}`);
    }
    expect((await cli(['nope'])).code).toBe(2);
    expect((await cli(['pull'])).code).toBe(2);
    expect((await cli(['connectors', 'list'], { QANATIX_URL: 'http://127.0.0.1:1' })).code).toBe(3);
    expect((await cli(['connectors', 'list'], { QANATIX_API_KEY: 'sk_live_' + '0'.repeat(64) })).code).toBe(3);
    for (const bad of [
      ['operator'],
      ['operator', 'create'],
      ['operator', 'create', '--name', 'has space'],
      ['operator', 'create', '--name', 'a:b'],
      ['operator', 'revoke'],
      ['operator', 'nope'],
      ['queues', 'nope'],
      ['queues', 'clean', '--grace', '-1'],
    ]) {
      expect((await cli(bad)).code, bad.join(' ')).toBe(2);
    }
  });

  test('operator create prints a token once that opens the queue controls; tenant keys cannot; revoke ends it', async () => {
    const created = await cli(['operator', 'create', '--name', 'oncall']);
    expect(created.code).toBe(0);
    const token = created.out.trim();
    expect(token).toMatch(/^op_live_[0-9a-f]{64}$/);
    expect(created.err).toContain('cannot be shown again');
    expect((await cli(['operator', 'create', '--name', 'oncall'])).code).toBe(1);
    const stored = await platform.pool.query('select token_hash from operator_credentials');
    expect(JSON.stringify(stored.rows)).not.toContain(token.slice(8));
    const listed = await cli(['operator', 'list', '--json']);
    expect(JSON.parse(listed.out)).toEqual([expect.objectContaining({ name: 'oncall', token_prefix: token.slice(0, 12) })]);
    expect(listed.out).not.toContain(token);

    // The tenant's admin key is refused (exit 3, the API's reason); the operator pauses, resumes and cleans.
    const refused = await cli(['queues', 'pause']);
    expect(refused.code).toBe(3);
    expect(refused.err).toMatch(/operator credential/);
    const asOperator = { QANATIX_API_KEY: token };
    expect((await cli(['queues', 'pause'], asOperator)).out).toContain('queue pulls is paused');
    expect(JSON.parse((await cli(['queues', '--json'], asOperator)).out)[0].paused).toBe(true);
    expect((await cli(['queues', 'resume'], asOperator)).out).toContain('queue pulls is running');
    expect((await cli(['queues', 'clean', '--state', 'completed', '--grace', '0'], asOperator)).out).toMatch(
      /^removed \d+ completed job\(s\)/,
    );
    // An operator credential reaches no tenant's data.
    expect((await cli(['connectors', 'list'], asOperator)).code).toBe(3);

    expect((await cli(['operator', 'revoke', 'oncall'])).out).toContain('revoked oncall');
    expect((await cli(['queues', 'pause'], asOperator)).code).toBe(3);
    expect((await cli(['operator', 'revoke', 'oncall'])).code).toBe(1);
    expect(JSON.parse((await cli(['operator', 'list', '--json'])).out)).toEqual([]);
  });

  test('migrate needs DATABASE_URL only: without API_KEY_SALT and outside development mode it applies every migration', async () => {
    const empty = await freshDatabase('qmig', false);
    try {
      const r = await cli(['migrate'], { DATABASE_URL: empty.url, API_KEY_SALT: '', QANATIX_DEV: '', NODE_ENV: 'production' });
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^applied: 0001_core/);
      expect((await cli(['migrate'], { DATABASE_URL: empty.url, API_KEY_SALT: '', QANATIX_DEV: '' })).out).toMatch(
        /database is up to date/,
      );
    } finally {
      await empty.drop();
    }
  });
});
