/**
 * The README as a newcomer follows it: every fenced `sh` block, in order, pasted into one bash shell, against the
 * test services. What would reach shared state gets names of this test's own: the platform database (DATABASE_URL),
 * Redis (REDIS_URL), the port (8000 in the README), the source database (`qanatix_source`) and the connectors file.
 * `bash scripts/services.sh up …` is answered by the test (the services already run, and no test may restart
 * them). A block marked `<!-- readme-test: skip <reason> -->` is reported as a skipped test with its reason.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { projectPath } from '../../../src/project-path';
import { freePort, privateRedis, type PrivateRedis } from '../../helpers/private-redis';
import { shellBlocks } from '../../helpers/readme-blocks';
import { serviceUrl } from '../../helpers/service-url';
import { freshDatabase, type TestDatabase } from '../../helpers/test-db';

const README = projectPath('README.md');
const blocks = shellBlocks(await readFile(README, 'utf8'));
const SERVICES_UP = /^bash scripts\/services\.sh up\b.*$/gm;

let platform: TestDatabase;
let redis: PrivateRedis;
let dir: string;
const sourceDb = `qreadme_src_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  [platform, redis] = await Promise.all([freshDatabase('qreadme', false), privateRedis()]);
  dir = await mkdtemp(join(tmpdir(), 'qanatix-readme-'));
});
afterAll(async () => {
  await redis?.stop();
  await platform?.drop();
  const admin = new pg.Client({ connectionString: serviceUrl('postgres') });
  await admin.connect();
  await admin.query(`drop database if exists ${sourceDb} with (force)`);
  await admin.end();
  await rm(dir, { recursive: true, force: true });
});

describe('README', () => {
  for (const b of blocks.filter((b) => b.skip)) test.skip(`the block at README line ${b.line} is not run: ${b.skip}`, () => {});

  test('every other sh block runs pasted whole, in order, in one bash shell', async () => {
    const port = await freePort();
    const run = blocks.filter((b) => !b.skip);
    expect(run.length).toBeGreaterThanOrEqual(5);
    const script = [
      'set -eE -o pipefail',
      `trap 'echo "::failed at README line $README_LINE: $BASH_COMMAND" >&2' ERR`,
      'bash() { if [ "$1" = scripts/services.sh ]; then echo "::services are the test services"; return 0; fi; command bash "$@"; }',
      ...run.map((b) =>
        [
          `README_LINE=${b.line}; echo "::block at README line ${b.line}"`,
          b.code
            .replaceAll('127.0.0.1:8000', `127.0.0.1:${port}`)
            .replaceAll('qanatix_source', sourceDb)
            .replaceAll('connectors.yaml', join(dir, 'connectors.yaml')),
        ].join('\n'),
      ),
      'echo "::all blocks ran"',
    ].join('\n');
    expect(run.map((b) => b.code.match(SERVICES_UP) ?? []).flat().length).toBeGreaterThan(0);

    const shell = spawn('bash', ['-c', script], {
      cwd: projectPath('.'),
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        DATABASE_URL: platform.url,
        REDIS_URL: redis.url,
        PORT: String(port),
        QANATIX_URL: `http://127.0.0.1:${port}`,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: whatever the blocks leave running is stopped with it
    });
    let out = '';
    shell.stdout.on('data', (c) => (out += c));
    shell.stderr.on('data', (c) => (out += c));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => process.kill(-shell.pid!, 'SIGKILL'), 240_000);
      shell.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    // The README stops what it starts: nothing of the shell's process group is left once its last block ran.
    let leftRunning = true;
    try {
      process.kill(-shell.pid!, 'SIGKILL');
    } catch {
      leftRunning = false; // the group is gone already
    }
    console.log(out);
    expect(code, out).toBe(0);
    expect(out).toContain('::all blocks ran');
    expect(leftRunning, 'a process a README block started still ran after the last block').toBe(false);
    // The outputs the README prints are what the blocks print.
    expect(out).toMatch(/"status":"complete","record_count":1,"inserted":1/);
    expect(out).toMatch(/"connector_type":"postgresql".*"connection_config":"\*\*\*REDACTED\*\*\*"/);
    expect(out).toContain('applied: 1 created, 0 updated, 0 unchanged, 0 deleted');
    const summary = /succeeded: 1000 rows read, 1000 inserted, 0 updated, 0 unchanged, 0 rejected/;
    expect(out).toMatch(summary);
    expect(await readFile(README, 'utf8')).toMatch(summary);
  }, 300_000);
});
