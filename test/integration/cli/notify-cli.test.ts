import { createHmac } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';
import { runCli, spawnRole, waitFor, type ChildRole } from '../../helpers/worker-process';

/**
 * Failure notifications end to end with the real processes: `qanatix serve` (the operator allows loopback, where the
 * receiver listens), connectors applied from a file, pulls through the CLI, and a receiver that verifies each call
 * with the secret the CLI printed.
 */

let platform: TestDatabase;
let source: TestDatabase;
let redis: PrivateRedis;
let server: ChildRole;
let receiver: Server;
let env: Record<string, string>;
let dir: string;
const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];

const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { ...env, ...extra });

beforeAll(async () => {
  [platform, source, redis] = await Promise.all([freshDatabase(), freshDatabase('qsrc', false), privateRedis()]);
  await source.pool.query('create table products (id int primary key, name text not null, updated_at timestamptz not null)');
  await source.pool.query(`insert into products select g, 'P' || g, now() - interval '1 hour' from generate_series(1, 50) g`);
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  env = {
    QANATIX_DEV: '1',
    DATABASE_URL: platform.url,
    REDIS_URL: redis.url,
    QANATIX_URL: `http://127.0.0.1:${port}`,
    SRC_DSN: source.url,
    HOOK: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/qanatix`,
  };
  server = spawnRole('serve', { ...env, PORT: String(port), LOG_LEVEL: 'warn', QANATIX_SOURCE_ALLOW: '127.0.0.0/8,::1' });
  await waitFor('the API', async () => (await fetch(`${env.QANATIX_URL}/healthz`).catch(() => null))?.ok, 30_000, 200);
  const created = await cli(['keys', 'create', '--tenant', 'notify-cli', '--scopes', 'connectors,admin']);
  expect(created.code).toBe(0);
  env.QANATIX_API_KEY = created.out.trim();
  dir = await mkdtemp(join(tmpdir(), 'qanatix-notify-'));
});
afterAll(async () => {
  await server.kill('SIGTERM');
  receiver.closeAllConnections();
  await new Promise((resolve) => receiver.close(resolve));
  await redis.stop();
  await Promise.all([platform.drop(), source.drop()]);
});

const signedWith = (secret: string, c: { headers: IncomingHttpHeaders; body: string }) =>
  c.headers['x-qanatix-signature'] ===
  `sha256=${createHmac('sha256', secret)
    .update(`${String(c.headers['x-qanatix-timestamp'])}.${c.body}`)
    .digest('hex')}`;

describe('notifications through the CLI and a real serve process', () => {
  test('apply prints the signing secret once; a failing pull and its recovery each deliver one call signed with it; rotate replaces it', async () => {
    const file = join(dir, 'connectors.yaml');
    const connector = (table: string) => `connectors:
  - name: watched
    connector_type: postgresql
    vertical: notify
    entity_type: product
    connection_config:
      dsn: \${SRC_DSN}
    table: ${table}
    cursor: { column: updated_at, lag_seconds: 0 }
    notify:
      url: \${HOOK}
      on: [failed, recovered]
`;
    await writeFile(file, connector('no_such_table'));
    const applied = await cli(['connectors', 'apply', '-f', file]);
    expect(applied.code, applied.err).toBe(0);
    const secret = /notifications are signed with (qnsec_[0-9a-f]{64}) \(shown this once: keep it\)/.exec(applied.out)?.[1];
    expect(secret, applied.out).toBeDefined();
    const again = await cli(['connectors', 'apply', '-f', file]);
    expect(again.out).toContain('= watched (unchanged)');
    expect(again.out).not.toContain('qnsec_');
    const shown = await cli(['connectors', 'get', 'watched']);
    expect(JSON.parse(shown.out).notify).toEqual({ url: env.HOOK, on: ['failed', 'recovered'] });
    expect(shown.out).not.toContain(secret!);

    expect((await cli(['pull', 'watched', '--wait'])).code).toBe(1);
    await waitFor('the failed notification', () => received.length >= 1);
    await writeFile(file, connector('products'));
    expect((await cli(['connectors', 'apply', '-f', file])).out).toContain('~ watched (table)');
    expect((await cli(['pull', 'watched', '--wait'])).code).toBe(0);
    await waitFor('the recovered notification', () => received.length >= 2);
    expect(received.map((c) => JSON.parse(c.body).event)).toEqual(['failed', 'recovered']);
    expect(received.every((c) => signedWith(secret!, c))).toBe(true);
    expect(JSON.parse(received[0]!.body).run).toMatchObject({ status: 'failed', error_kind: 'not_found' });
    expect(JSON.parse(received[1]!.body).run).toMatchObject({ status: 'succeeded', rows_read: 50 });

    const rotated = await cli(['connectors', 'rotate-notify-secret', 'watched', '--json']);
    expect(rotated.code).toBe(0);
    const fresh = JSON.parse(rotated.out).notify_secret as string;
    expect(fresh).toMatch(/^qnsec_[0-9a-f]{64}$/);
    expect(fresh).not.toBe(secret);
    // The server's own output never shows a secret.
    expect(server.output()).not.toContain(secret!);
    expect(server.output()).not.toContain(fresh);
  });
});
