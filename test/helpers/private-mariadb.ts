import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { exec, serverDir, spawnServer, stopProcess, untilAnswers } from './private-process';
import { freePort } from './private-redis';

export interface PrivateMariadb {
  /** User `qanatix` (password `qanatix`, all privileges) on database `qanatix_source`. */
  url: string;
  port: number;
  /** A clean shutdown (SIGTERM) and a new start on the same data: every connection is closed. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its data directory. */
  destroy(): Promise<void>;
}

/**
 * A MariaDB server of a test's own (mariadb-install-db and mariadbd on its own port, socket and data
 * directory, as scripts/lib/mariadb.sh does), so a test may restart it without touching the shared one.
 */
export async function privateMariadb(): Promise<PrivateMariadb> {
  const port = await freePort();
  const dir = serverDir('mariadb', 'mysql');
  const data = join(dir.path, 'data');
  const socket = join(dir.path, 'mariadbd.sock');
  await exec('mariadb-install-db', ['--user=mysql', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db']);
  const url = `mysql://qanatix:qanatix@127.0.0.1:${port}/qanatix_source`;
  let child: ChildProcess | null = null;

  const start = async () => {
    const c = spawnServer('mariadbd', [
      '--no-defaults',
      '--user=mysql',
      `--datadir=${data}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${join(dir.path, 'mariadbd.pid')}`,
      `--log-error=${join(dir.path, 'mariadbd.log')}`,
      '--innodb-buffer-pool-size=64M',
      '--innodb-flush-log-at-trx-commit=2',
      '--max-connections=100',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_unicode_ci',
      '--default-time-zone=+00:00',
      '--skip-name-resolve',
    ]);
    child = c;
    await untilAnswers(
      `MariaDB socket ${socket}`,
      () => exec('mariadb', [`--socket=${socket}`, '-u', 'root', '-e', 'select 1']),
      60_000,
      () => c.exitCode !== null,
    );
  };
  await start();
  const grant = [
    "CREATE USER IF NOT EXISTS 'qanatix'@'%' IDENTIFIED BY 'qanatix'",
    "GRANT ALL PRIVILEGES ON *.* TO 'qanatix'@'%' WITH GRANT OPTION",
    'CREATE DATABASE IF NOT EXISTS qanatix_source',
  ];
  await exec('mariadb', [`--socket=${socket}`, '-u', 'root', '-e', grant.join('; ')]);
  await untilAnswers('MariaDB over TCP', async () => {
    const conn = await mysql.createConnection({ uri: url, connectTimeout: 2000 });
    await conn.end();
  });

  const stop = async () => {
    const c = child;
    child = null;
    await stopProcess(c, 'SIGTERM');
  };
  return {
    url,
    port,
    async restart() {
      await stop();
      await start();
    },
    stop,
    start,
    async destroy() {
      await stop();
      dir.remove();
    },
  };
}
