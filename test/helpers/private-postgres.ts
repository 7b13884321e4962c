import { existsSync, writeFileSync, appendFileSync, chmodSync, chownSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { exec, serverDir, untilAnswers } from './private-process';
import { freePort } from './private-redis';

const PG_BIN =
  ['/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'].find((d) => existsSync(join(d, 'pg_ctl'))) ?? '/usr/lib/postgresql/15/bin';

export interface PrivatePostgres {
  /** The superuser `qanatix` (password `qanatix`) on database `postgres`. */
  url: string;
  port: number;
  /** A URL for another database of this server. */
  urlFor(database: string): string;
  createDatabase(name: string): Promise<string>;
  /** `pg_ctl restart -m fast`: every session is terminated (57P01), as a failover or maintenance does. */
  restart(): Promise<void>;
  /** `pg_ctl stop -m fast`: the server is down until `start()`. */
  stop(): Promise<void>;
  /** Starts the server unless it runs, and waits until it answers. */
  start(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of a test's own (initdb into a temporary directory, its own port), so a test may
 * restart or stop it without touching the shared server. The binaries refuse to run as root, so they run as
 * the package's `postgres` user (as scripts/lib/postgres.sh does).
 */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = serverDir('pg', 'postgres');
  const data = join(dir.path, 'data');
  const log = join(dir.path, 'server.log');
  const pw = join(dir.path, 'pw');
  writeFileSync(pw, 'qanatix\n');
  chmodSync(pw, 0o644);
  await exec(
    join(PG_BIN, 'initdb'),
    ['-D', data, '-U', 'qanatix', `--pwfile=${pw}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8'],
    { as: 'postgres' },
  );
  appendFileSync(
    join(data, 'postgresql.conf'),
    [
      `port = ${port}`,
      "listen_addresses = '127.0.0.1'",
      "unix_socket_directories = ''",
      'fsync = off',
      'synchronous_commit = off',
      'full_page_writes = off',
      'max_connections = 100',
      'shared_buffers = 32MB',
      "timezone = 'UTC'",
      '',
    ].join('\n'),
  );
  writeFileSync(log, '');
  const { uid, gid } = statSync(dir.path);
  chownSync(log, uid, gid);

  const url = `postgres://qanatix:qanatix@127.0.0.1:${port}/postgres`;
  const urlFor = (database: string) => `postgres://qanatix:qanatix@127.0.0.1:${port}/${database}`;
  const ready = () =>
    untilAnswers(`PostgreSQL on port ${port}`, async () => {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      c.on('error', () => {}); // a probe of a server that is still starting
      try {
        await c.connect();
        await c.query('select 1');
      } finally {
        await c.end().catch(() => {});
      }
    });
  const pgCtl = (...args: string[]) => exec(join(PG_BIN, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '60', ...args], { as: 'postgres' });
  let up = false;
  const start = async () => {
    if (!up) await pgCtl('start');
    up = true;
    await ready();
  };
  await start();
  return {
    url,
    port,
    urlFor,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`create database ${name}`);
      } finally {
        await c.end();
      }
      return urlFor(name);
    },
    async restart() {
      await pgCtl('restart', '-m', 'fast');
      await ready();
    },
    async stop() {
      await pgCtl('stop', '-m', 'fast');
      up = false;
    },
    start,
    async destroy() {
      await pgCtl('stop', '-m', 'immediate').catch(() => {});
      dir.remove();
    },
  };
}
