import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Runs a command to completion; its output is in the error when it fails. */
export async function exec(command: string, args: string[], opts: { as?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const [file, argv] = asUser(command, args, opts.as);
  try {
    const { stdout } = await run(file, argv, { env: opts.env ?? process.env, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/** Starts a long-running server process (as `user` when the tests run as root: database servers refuse root). */
export function spawnServer(command: string, args: string[], opts: SpawnOptions & { as?: string } = {}): ChildProcess {
  const [file, argv] = asUser(command, args, opts.as);
  return spawn(file, argv, { stdio: 'ignore', ...opts });
}

function asUser(command: string, args: string[], user: string | undefined): [string, string[]] {
  if (!user || userInfo().uid !== 0) return [command, args];
  return ['runuser', ['-u', user, '--', command, ...args]];
}

/** A temporary directory the server's own user may write to; `remove()` deletes it. */
export function serverDir(prefix: string, owner?: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(process.env.TMPDIR ?? '/tmp', `qanatix-${prefix}-`));
  if (owner && userInfo().uid === 0) {
    const { uid, gid } = userIds(owner);
    chownSync(path, uid, gid);
  }
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

function userIds(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.split(':')[0] === name);
  if (!line) throw new Error(`no user "${name}" on this machine (install the server: bash scripts/services.sh up)`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** Sends `signal` and resolves when the process has exited (at once when it already has). */
export async function stopProcess(child: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Polls `probe` until it resolves, for at most `ms`; the last failure is in the error. */
export async function untilAnswers(what: string, probe: () => Promise<unknown>, ms = 60_000, exited?: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    if (exited?.()) throw new Error(`${what} exited during start-up`);
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not answer within ${ms} ms: ${(last as Error)?.message ?? last}`);
}
