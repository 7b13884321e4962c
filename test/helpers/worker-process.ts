import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/qanatix.mjs', import.meta.url));

export interface ChildRole {
  child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal for real and waits for the process to exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `qanatix <role>` as a real child process with the given environment. */
export function spawnRole(role: 'worker' | 'api' | 'serve', env: Record<string, string>): ChildRole {
  const child = spawn(process.execPath, [BIN, role], {
    env: { ...process.env, QANATIX_DEV: '1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Runs the CLI (`bin/qanatix.mjs`) for real with `env` over this process's environment; with `tty`, inside a
 * pseudo-terminal (util-linux `script`), as a user at a terminal would. Its output is complete at 'close'.
 */
export function runCli(
  args: string[],
  env: Record<string, string>,
  tty = false,
): Promise<{ code: number | null; out: string; err: string }> {
  const quoted = [process.execPath, BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const [cmd, argv] = tty ? ['script', ['-qefc', quoted, '/dev/null']] : [process.execPath, [BIN, ...args]];
  return new Promise((resolve) => {
    const child = spawn(cmd as string, argv as string[], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (err += c));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, ms = 30_000, every = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
