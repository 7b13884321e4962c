/**
 * `qanatix queues --watch` on a terminal: run in a pseudo-terminal (util-linux `script`), it clears the screen and
 * draws the queues again every two seconds, and a later frame shows what changed in between.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createApiKey, ensureTenant } from '../../../src/auth/api-keys';
import { TEST_SALT } from '../../helpers/api';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

const BIN = fileURLToPath(new URL('../../../bin/qanatix.mjs', import.meta.url));
const CLEAR = '\x1b[2J\x1b[H';
let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let api: ChildRole;
let url: string;
let key: string;

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query('create table products (id int primary key, name text not null, updated_at timestamptz not null)');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  api = spawnRole('api', {
    DATABASE_URL: platform.url,
    REDIS_URL: redis.url,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    API_KEY_SALT: TEST_SALT,
  });
  await waitFor('the API', async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, 30_000, 200);
  key = (await createApiKey(platform.pool, TEST_SALT, await ensureTenant(platform.pool, 'watch'), 'watch', ['admin'])).key;
});
afterAll(async () => {
  await api?.kill('SIGTERM');
  await redis?.stop();
  await Promise.all([platform?.drop(), source?.drop()]);
});

test('queues --watch in a terminal clears and redraws every 2 seconds; a scheduler added meanwhile appears in a later frame', async () => {
  const command = `${process.execPath} ${BIN} queues --watch`;
  // Its own process group, so the terminal and the CLI in it are stopped together.
  const term = spawn('script', ['-qfc', command, '/dev/null'], {
    env: { ...process.env, QANATIX_URL: url, QANATIX_API_KEY: key, TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let screen = '';
  term.stdout.on('data', (c) => (screen += c));
  term.stderr.on('data', (c) => (screen += c));
  const closed = new Promise((r) => term.on('close', r));
  const frames = () => screen.split(CLEAR).slice(1);
  try {
    await waitFor('the first frame', () => frames().some((f) => f.includes('schedulers')), 15_000);
    expect(frames()[0]).toMatch(/queue pulls/);
    expect(frames()[0]).toMatch(/\(none\)/); // no scheduler yet

    const created = await fetch(`${url}/api/v1/connectors`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'watched',
        connector_type: 'postgresql',
        vertical: 'watch',
        entity_type: 'product',
        connection_config: { dsn: source.url },
        table: 'products',
        cursor: { column: 'updated_at' },
        schedule: '*/15 * * * *',
      }),
    });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    const seenAt = frames().length;
    await waitFor(
      'a frame with the new scheduler',
      () =>
        frames()
          .slice(seenAt)
          .some((f) => f.includes(id)),
      10_000,
    );
    // Frames come two seconds apart, each drawn from the top of a cleared screen with its own time.
    await waitFor('a further frame', () => frames().length >= seenAt + 2, 10_000);
    const stamps = frames().map((f) => Date.parse(f.slice(0, 24)));
    expect(stamps.every((t) => Number.isFinite(t))).toBe(true);
    const gaps = stamps.slice(1).map((t, i) => t - stamps[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_900);
  } finally {
    process.kill(-term.pid!, 'SIGKILL');
    await closed;
  }
});
