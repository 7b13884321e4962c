import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { MongoClient } from 'mongodb';
import { serverDir, spawnServer, stopProcess, untilAnswers } from './private-process';
import { freePort } from './private-redis';

/** The binary scripts/lib/ferretdb.sh builds (`FERRETDB_BIN`, else `$GOPATH/bin/ferretdb`). */
function ferretdbBinary(): string {
  const candidates = [
    process.env.FERRETDB_BIN,
    process.env.GOPATH && join(process.env.GOPATH.split(':')[0]!, 'bin/ferretdb'),
    join(homedir(), 'go/bin/ferretdb'),
  ];
  const found = candidates.find((c): c is string => !!c && existsSync(c));
  if (!found) throw new Error('no ferretdb binary found (FERRETDB_BIN, $GOPATH/bin): run bash scripts/services.sh up ferretdb');
  return found;
}

export interface PrivateFerretdb {
  url: string;
  port: number;
  /** `stop()` and a new start on the same SQLite directory: the data stays. */
  restart(): Promise<void>;
  /**
   * SIGKILL: every connection is cut at once. On SIGTERM FerretDB stops listening but lets open connections
   * finish their work, so a client in the middle of a read would not notice.
   */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** A FerretDB (MongoDB wire protocol) of a test's own: its own port and SQLite directory. */
export async function privateFerretdb(): Promise<PrivateFerretdb> {
  const port = await freePort();
  const dir = serverDir('ferretdb');
  const url = `mongodb://127.0.0.1:${port}/`;
  const bin = ferretdbBinary();
  let child: ChildProcess | null = null;
  const start = async () => {
    const c = spawnServer(bin, [
      '--handler=sqlite',
      `--sqlite-url=file:${dir.path}/`,
      `--state-dir=${dir.path}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=warn',
    ]);
    child = c;
    await untilAnswers(
      `FerretDB on port ${port}`,
      async () => {
        const client = new MongoClient(url, { serverSelectionTimeoutMS: 1000, connectTimeoutMS: 1000 });
        try {
          await client.db('admin').command({ ping: 1 });
        } finally {
          await client.close();
        }
      },
      60_000,
      () => c.exitCode !== null,
    );
  };
  const stop = async () => {
    const c = child;
    child = null;
    await stopProcess(c, 'SIGKILL');
  };
  await start();
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
