import type { ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { serverDir, spawnServer, stopProcess } from './private-process';
import { freePort } from './private-redis';

const LAUNCHER = fileURLToPath(new URL('../services/neo4j/target/neo4j-launcher.jar', import.meta.url));
const PASSWORD = 'qanatix-test';

export interface PrivateNeo4j {
  /** What clients use: `bolt://neo4j:…@127.0.0.1:<port>`. */
  url: string;
  /** The server itself, bypassing the door: for seeding while clients are kept out. */
  directUrl: string;
  /** Closes the door (every connection dropped) and stops the server for real (SIGTERM). */
  stop(): Promise<void>;
  /** Starts a new server, runs `seed` again, then lets clients in. */
  start(): Promise<void>;
  /** `stop()` and `start()`. */
  restart(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A Neo4j 5 server of a test's own, run by the launcher in test/services/neo4j (as scripts/lib/neo4j.sh does)
 * on its own Bolt port and data directory.
 *
 * The launcher (neo4j-harness) keeps no data across starts, where a real server keeps its store. So clients
 * reach it through a door of the helper's own (a TCP relay): on a restart the door closes every connection,
 * the server restarts, `seed` puts the data back, and only then does the door open again. To a client it is a
 * server that went away and came back with its data, which is what a restarted Neo4j is.
 */
export async function privateNeo4j(seed: (directUrl: string) => Promise<void>): Promise<PrivateNeo4j> {
  const [boltPort, doorPort] = await Promise.all([freePort(), freePort()]);
  const dir = serverDir('neo4j');
  const directUrl = `bolt://neo4j:${PASSWORD}@127.0.0.1:${boltPort}`;
  const url = `bolt://neo4j:${PASSWORD}@127.0.0.1:${doorPort}`;
  let child: ChildProcess | null = null;
  let door: Server | null = null;
  const sockets = new Set<Socket>();

  const startServer = async () => {
    const c = spawnServer('java', ['-Xms128m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-jar', LAUNCHER], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NEO4J_BOLT_PORT: String(boltPort),
        NEO4J_PASSWORD: PASSWORD,
        NEO4J_DATA_DIR: dir.path,
        NEO4J_PAGECACHE: '32m',
        NEO4J_HTTP_PORT: '',
      },
    });
    child = c;
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Neo4j did not start within 180 s:\n${out.slice(-2000)}`)), 180_000);
      c.stdout!.on('data', (chunk) => {
        out += chunk;
        if (out.includes('NEO4J_READY')) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.stderr!.on('data', (chunk) => (out += chunk));
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Neo4j exited during start-up (${code}):\n${out.slice(-2000)}`));
      });
    });
    c.stdout!.resume();
    c.stderr!.resume();
  };
  const openDoor = async () => {
    door = createServer((client) => {
      const upstream = connect(boltPort, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => door!.listen(doorPort, '127.0.0.1', resolve));
  };
  const closeDoor = async () => {
    const d = door;
    door = null;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (d) await new Promise<void>((resolve) => d.close(() => resolve()));
  };

  await startServer();
  await seed(directUrl);
  await openDoor();
  const stop = async () => {
    await closeDoor();
    const c = child;
    child = null;
    await stopProcess(c, 'SIGTERM');
  };
  const start = async () => {
    await startServer();
    await seed(directUrl);
    await openDoor();
  };
  return {
    url,
    directUrl,
    stop,
    start,
    async restart() {
      await stop();
      await start();
    },
    async destroy() {
      await closeDoor();
      const c = child;
      child = null;
      await stopProcess(c, 'SIGKILL');
      dir.remove();
    },
  };
}
