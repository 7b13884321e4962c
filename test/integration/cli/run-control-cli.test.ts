import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { runCli, spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

const ROWS = 20_000;
let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let server: ChildRole;
let env: Record<string, string>;

const cli = (args: string[], tty = false) => runCli(args, env, tty);
const json = async (args: string[]) => {
  const r = await cli([...args, '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out);
};

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query('create table products (id int primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(
    `insert into products select g, 'P' || g, now() - interval '1 hour' + g * interval '1 millisecond' from generate_series(1, ${ROWS}) g`,
  );
  await source.pool.query('create table recent (id int primary key, name text not null, updated_at timestamptz not null default now())');
  await source.pool.query(`insert into recent (id, name) select g, 'R' || g from generate_series(1, 7) g`);
  await source.pool.query(
    `create table mirrored as select g as id, 'M' || g as name, now() - interval '1 hour' as updated_at from generate_series(1, 10) g`,
  );
  await source.pool.query('alter table mirrored add primary key (id)');
  const port = await freePort();
  env = { QANATIX_DEV: '1', DATABASE_URL: platform.url, REDIS_URL: redis.url, QANATIX_URL: `http://127.0.0.1:${port}` };
  server = spawnRole('serve', { ...env, PORT: String(port), LOG_LEVEL: 'warn' });
  await waitFor('the API', async () => (await fetch(`${env.QANATIX_URL}/healthz`).catch(() => null))?.ok, 30_000, 200);
  const created = await cli(['keys', 'create', '--tenant', 'ops', '--scopes', 'connectors,admin']);
  expect(created.code).toBe(0);
  env.QANATIX_API_KEY = created.out.trim();
  for (const [name, table, batch] of [
    // Small batches keep a pull of 20,000 rows running for seconds even on a fast machine: the progress bar's block
    // must sweep to the right edge and back (over 4.25 s) while the run lasts.
    ['slow', 'products', 8],
    ['recent', 'recent', 100],
    ['mirror', 'mirrored', 100],
  ] as const) {
    const res = await fetch(`${env.QANATIX_URL}/api/v1/connectors`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.QANATIX_API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name,
        connector_type: 'postgresql',
        connection_config: { dsn: source.url },
        vertical: name,
        entity_type: 'product',
        table,
        cursor: { column: 'updated_at', ...(name === 'slow' ? { lag_seconds: 0 } : {}) },
        batch_size: batch,
        ...(name === 'mirror' ? { deletes: { mode: 'hard' } } : {}),
      }),
    });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await server?.kill('SIGTERM');
  await redis?.stop();
  await Promise.all([platform?.drop(), source?.drop()]);
});

describe('run control from the CLI', () => {
  test('pull --wait in a terminal redraws its bar past the right edge and back for the whole run, then prints the summary', async () => {
    const r = await cli(['pull', 'slow', '--wait'], true);
    expect(r.out + r.err).not.toMatch(/Invalid count value|RangeError/);
    expect(r.code, r.out).toBe(0);
    const frames = r.out.split('\r\x1b[2K').slice(1);
    const starts = frames.map((f) => /^\[( *)###/.exec(f)?.[1]?.length).filter((s): s is number => s !== undefined);
    // The run lasts longer than one sweep (17 ticks of 250 ms): the block reaches the right edge and comes back.
    expect(starts.length).toBeGreaterThan(20);
    expect(Math.max(...starts)).toBe(17);
    expect(starts.slice(starts.indexOf(17)).some((s) => s < 17)).toBe(true);
    expect(r.out).toMatch(/\[#{20}\] succeeded\s+20000 rows/);
    expect(r.out).toContain(`succeeded: ${ROWS} rows read, ${ROWS} inserted`);
  }, 120_000);

  test('a run that read nothing says why: the rows held back by the lag window, and when they will be read', async () => {
    const r = await cli(['pull', 'recent', '--wait']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('succeeded: 0 rows read');
    expect(r.out).toMatch(/nothing was read: 7 rows changed within the lag window .* the first run starting after \d{4}-\d\d-\d\dT/);
    const [run] = await json(['runs', 'recent']);
    expect(run).toMatchObject({ rows_read: 0, rows_held_back: 7, note: expect.stringMatching(/^nothing was read/) });
    const events = await json(['events', 'recent']);
    expect(events.map((e: { kind: string }) => e.kind)).toEqual(['started', 'held_back', 'succeeded']);
  });

  test('pause, a refused pull, resume; cancel by name; state shown and set', async () => {
    expect(await json(['pause', 'slow', '--reason', 'nightly maintenance'])).toMatchObject({
      paused: true,
      pause_reason: 'nightly maintenance',
    });
    const refused = await cli(['pull', 'slow']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/paused since .*\(nightly maintenance\); resume it/);
    expect((await cli(['resume', 'slow'])).out).toContain('resumed slow');

    expect(Object.keys(await json(['state', 'slow'])).sort()).toEqual(['cursor', 'last_pull', 'updated_at']);
    const { rows } = await source.pool.query(
      `select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as value from products where id = 10000`,
    );
    const set = await json(['state', 'slow', '--set', JSON.stringify({ value: rows[0].value, key: [10000] })]);
    expect(set).toMatchObject({ cursor: { value: rows[0].value, key: [10000] }, run_id: expect.any(String) });
    const bad = await cli(['state', 'slow', '--set', '{"value": "soon", "key": [1]}']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/body\.cursor: the cursor given "soon" does not fit/);

    // 10,000 rows after the position, 8 a batch: seconds, long enough to cancel.
    const queued = await json(['pull', 'slow']);
    const cancelled = await json(['cancel', 'slow']);
    expect(cancelled).toMatchObject({ run_id: queued.run_id, status: expect.stringMatching(/^cancel(led|_requested)$/) });
    const run = await waitFor('cancelled', async () => {
      const [r] = await json(['runs', 'slow']);
      return r.status === 'cancelled' ? r : null;
    });
    expect(run.rows_read).toBeLessThan(10_000);
    expect((await cli(['cancel', 'slow'])).err).toContain('has no queued or running run to cancel');
    expect((await cli(['cancel', queued.run_id])).err).toMatch(/already cancelled/);
    // A backfill of ids 100..199 while the position stays where it is.
    const ts = async (id: number) =>
      (
        await source.pool.query(
          `select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as v from products where id = $1`,
          [id],
        )
      ).rows[0].v as string;
    const position = (await json(['state', 'slow'])).cursor;
    const backfilled = await json(['pull', 'slow', '--from', await ts(100), '--to', await ts(200), '--wait']);
    expect(backfilled).toMatchObject({ status: 'succeeded', mode: 'backfill', rows_read: 100 });
    expect((await json(['state', 'slow'])).cursor).toEqual(position);
    expect((await cli(['pull', 'slow', '--from', '1'])).code).toBe(2);
    for (const c of ['cancel', 'pause', 'resume', 'state', 'events']) {
      const help = await cli([c, '--help']);
      expect(help.code, c).toBe(0);
      expect(help.out, c).toContain(`qanatix ${c}`);
    }
    expect((await cli(['resume', 'slow', '--reason', 'x'])).code).toBe(2);
  });

  test('connectors apply validates the whole file first: one bad connector applies nothing, and every bad one is reported', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'qanatix-apply-'));
    // Each its own entity type: two connectors writing one target with colliding source_ids are refused.
    const def = (name: string, extra = '', vertical = 'applied') =>
      `  - name: ${name}\n    connector_type: postgresql\n    vertical: ${vertical}\n    entity_type: ${name}-product\n` +
      `    connection_config: { dsn: "${source.url}" }\n    table: products\n    cursor: { column: updated_at }\n${extra}`;
    const file = join(dir, 'connectors.yaml');
    await writeFile(file, `connectors:\n${def('first')}${def('second', '    shedule: "0 * * * *"\n')}${def('third', '', 'Manufacturing')}`);
    for (const args of [[], ['--dry-run']]) {
      const r = await cli(['connectors', 'apply', '-f', file, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err).toContain('2 connectors of the file are not valid; nothing was applied');
      expect(r.err).toMatch(/connector "second": body\.shedule: unknown field - did you mean "schedule"\?/);
      expect(r.err).toMatch(/connector "third": body\.vertical: vertical "Manufacturing" is not a valid name: .* - write "manufacturing"/);
      expect(r.err).not.toContain('"first"');
    }
    const names = (await json(['connectors', 'list'])).map((c: { name: string }) => c.name);
    expect(names).not.toContain('first');

    await writeFile(file, `connectors:\n${def('first')}${def('second', '    schedule: "0 * * * *"\n')}`);
    // Tried before it is saved: the first rows of the file's connector, each with what a pull would do.
    const preview = await json(['connectors', 'preview', '-f', file, 'second', '--limit', '3']);
    expect(preview.rows.map((r: { action: string; record: { source_id: string } }) => [r.action, r.record.source_id])).toEqual([
      ['insert', '1'],
      ['insert', '2'],
      ['insert', '3'],
    ]);
    const table = await cli(['connectors', 'preview', '-f', file, '--limit', '2']);
    expect(table.out).toMatch(/^POSITION\s+ACTION\s+NAME\s+SOURCE_ID\s+WHY\n0\s+insert\s+P1\s+1/);
    expect(table.out).toContain('a pull would: insert 2 (of the first 2 rows)');
    const ok = await cli(['connectors', 'apply', '-f', file]);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toContain('applied: 2 created, 0 updated, 0 unchanged, 0 deleted');
  });

  test('pull --verify exits 5 naming the drift, --sweep deletes it, a sweep the guard holds exits 4 until confirmed', async () => {
    expect((await cli(['pull', 'mirror', '--wait'])).code).toBe(0);
    expect((await cli(['pull', 'mirror', '--verify', '--wait'])).code).toBe(0);
    await source.pool.query('delete from mirrored where id = 3');
    const verify = await cli(['pull', 'mirror', '--verify', '--wait']);
    expect(verify.code, verify.out + verify.err).toBe(5);
    expect(verify.out).toMatch(/succeeded: 9 rows checked, 0 missing, 1 extra, 0 stale/);
    expect(verify.out).toMatch(/^ {2}extra: 3$/m);

    const sweep = await cli(['pull', 'mirror', '--sweep', '--wait']);
    expect(sweep.code, sweep.out + sweep.err).toBe(0);
    expect(sweep.out).toMatch(/succeeded: 9 rows read, .*, 1 deleted, 0 undeleted/);
    expect((await cli(['pull', 'mirror', '--verify', '--wait'])).code).toBe(0);

    // Six of the nine left go: more than max_fraction (0.5), so the sweep deletes nothing until confirmed.
    await source.pool.query('delete from mirrored where id > 4');
    const held = await cli(['pull', 'mirror', '--sweep', '--wait']);
    expect(held.code, held.out + held.err).toBe(4);
    expect(held.out).toMatch(/^held: the sweep would delete 6 of the connector's 9 entities/m);
    const [run] = await json(['runs', 'mirror']);
    expect(run).toMatchObject({ status: 'needs_confirmation', mode: 'sweep' });
    const confirmed = await cli(['confirm', 'mirror']);
    expect(confirmed.code, confirmed.err).toBe(0);
    expect(confirmed.out).toContain(`confirmed run ${run.id}`);
    expect((await cli(['confirm', 'mirror'])).err).toMatch(/mirror has no sweep waiting for confirmation/);
    await waitFor('the confirmed sweep', async () => (await json(['runs', 'mirror']))[0].status === 'succeeded', 30_000, 200);
    expect((await json(['runs', 'mirror']))[0]).toMatchObject({ id: run.id, deleted: 6 });
    expect((await cli(['pull', 'mirror', '--verify', '--wait'])).code).toBe(0);
  }, 120_000);
});
