import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../lib/child-process';
import { watchTree, type TreeUsage } from '../lib/proc-tree';

/**
 * The peers (issue 8): dlt and Sling, installed from PyPI into the ignored virtual environment
 * bench/.venv, each loading the PostgreSQL products table into a table of its own in the platform
 * database on the same server. Their configurations are the files beside this one.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const VENV = join(ROOT, 'bench/.venv');
const PY = join(VENV, 'bin/python');
const REQUIREMENTS = join(ROOT, 'bench/peers/requirements.txt');
const DLT_SCRIPT = join(ROOT, 'bench/peers/dlt_pipeline.py');
const SLING_REPLICATION = join(ROOT, 'bench/peers/sling-replication.yaml');

export interface InstallOutcome {
  dlt: { ok: boolean; version?: string; error?: string };
  sling: { ok: boolean; version?: string; binary?: string; error?: string };
}

/**
 * The `sling` wrapper package downloads its Go binary from GitHub on first import, which this machine
 * cannot reach; the same CLI is also published on PyPI as `sling-linux-amd64`, a wheel with the binary
 * inside, which is what we run.
 */
function slingBinary(): string | null {
  const site = join(VENV, 'lib');
  if (!existsSync(site)) return null;
  for (const py of readdirSync(site)) {
    const bin = join(site, py, 'site-packages/sling_linux_amd64/bin/sling-linux-amd64');
    if (existsSync(bin)) return bin;
  }
  return null;
}

/** Creates the venv and installs the pinned peers when missing; reports what works, with exact errors. */
export async function ensurePeers(log: (m: string) => void): Promise<InstallOutcome> {
  if (!existsSync(PY)) {
    log('creating bench/.venv');
    await runCommand('python3', ['-m', 'venv', VENV]);
  }
  const out: InstallOutcome = { dlt: { ok: false }, sling: { ok: false } };
  try {
    await runCommand(PY, ['-c', 'import dlt, sqlalchemy, pyarrow, psycopg2']);
  } catch {
    log('installing the peers into bench/.venv (pip, pinned in bench/peers/requirements.txt)');
    await runCommand(join(VENV, 'bin/pip'), ['install', '-q', '-r', REQUIREMENTS]).catch((err: Error) => log(`pip: ${err.message}`));
  }
  try {
    out.dlt = { ok: true, version: (await runCommand(PY, ['-c', 'import dlt; print(dlt.__version__)'])).stdout.trim() };
  } catch (err) {
    out.dlt = { ok: false, error: (err as Error).message };
  }
  // Record what the wrapper itself does (it tries to download its binary), then use the PyPI binary.
  let wrapperError: string | undefined;
  try {
    await runCommand(join(VENV, 'bin/sling'), ['--version'], {
      env: { ...process.env, SLING_HOME_DIR: join(tmpdir(), 'qbench-sling-home') },
    });
  } catch (err) {
    wrapperError = (
      (err as Error).message
        .split('\n')
        .filter((l) => l.includes('Error'))
        .at(-1) ?? (err as Error).message
    ).trim();
  }
  const bin = slingBinary();
  if (bin) {
    const v = await runCommand(bin, ['--version']).catch((err: Error) => ({ stdout: '', stderr: err.message }));
    out.sling = {
      ok: /Version/.test(v.stdout),
      version: /Version:\s*(\S+)/.exec(v.stdout)?.[1],
      binary: bin,
      error: wrapperError ? `pip package "sling" (wrapper): ${wrapperError}` : undefined,
    };
  } else {
    out.sling = { ok: false, error: wrapperError ?? 'no sling binary found' };
  }
  return out;
}

export interface PeerRun {
  wallMs: number;
  tree: TreeUsage;
  /** Rows the tool said it moved, when its output says so. */
  reportedRows: number | null;
  output: string;
}

async function timed(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<PeerRun> {
  const t0 = performance.now();
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = watchTree(child.pid!);
  let output = '';
  const keep = (c: Buffer) => {
    output += c.toString('utf8');
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const [code] = (await once(child, 'close')) as [number | null];
  const wallMs = performance.now() - t0;
  const tree = stop();
  if (code !== 0) throw new Error(`${command.split('/').at(-1)} exited with ${code}:\n${output.slice(-4000)}`);
  return { wallMs, tree, reportedRows: null, output };
}

const sqlalchemyUrl = (pgUrl: string) => pgUrl.replace(/^postgres(ql)?:\/\//, 'postgresql://');

export class DltPeer {
  readonly dataset = 'dlt_bench';
  private pipelinesDir: string | null = null;

  constructor(
    private readonly sourceUrl: string,
    private readonly targetUrl: string,
  ) {}

  /** A fresh start: no local state, no dataset (dlt restores state from the destination otherwise). */
  async reset(query: (sql: string) => Promise<unknown>): Promise<void> {
    if (this.pipelinesDir) rmSync(this.pipelinesDir, { recursive: true, force: true });
    this.pipelinesDir = mkdtempSync(join(tmpdir(), 'qbench-dlt-'));
    await query(`drop schema if exists ${this.dataset} cascade`);
    await query(`drop schema if exists ${this.dataset}_staging cascade`);
  }

  async load(): Promise<PeerRun> {
    const r = await timed(PY, [DLT_SCRIPT], {
      ...process.env,
      // SQLAlchemy 2.1 maps postgresql:// to psycopg 3; dlt[postgres] installs psycopg2.
      DLT_SRC_URL: sqlalchemyUrl(this.sourceUrl).replace(/^postgresql:/, 'postgresql+psycopg2:'),
      DLT_DST_URL: sqlalchemyUrl(this.targetUrl),
      DLT_DATASET: this.dataset,
      DLT_PIPELINES_DIR: this.pipelinesDir!,
      RUNTIME__DLTHUB_TELEMETRY: 'false',
      RUNTIME__LOG_LEVEL: 'WARNING',
    });
    const line = r.output
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('{"rows"'));
    r.reportedRows = line ? (JSON.parse(line) as { rows: number }).rows : null;
    return r;
  }

  table(): string {
    return `${this.dataset}.products`;
  }

  cleanup(): void {
    if (this.pipelinesDir) rmSync(this.pipelinesDir, { recursive: true, force: true });
  }
}

export class SlingPeer {
  readonly schema = 'sling_bench';
  private home = mkdtempSync(join(tmpdir(), 'qbench-sling-'));

  constructor(
    private readonly binary: string,
    private readonly sourceUrl: string,
    private readonly targetUrl: string,
  ) {}

  /** Sling's incremental state is max(updated_at) of the target table: dropping it is a fresh start. */
  async reset(query: (sql: string) => Promise<unknown>): Promise<void> {
    await query(`drop schema if exists ${this.schema} cascade`);
    await query(`create schema ${this.schema}`);
  }

  async load(): Promise<PeerRun> {
    const withSsl = (u: string) => `${sqlalchemyUrl(u)}${u.includes('?') ? '&' : '?'}sslmode=disable`;
    const r = await timed(this.binary, ['run', '-r', SLING_REPLICATION], {
      ...process.env,
      SLING_SRC: withSsl(this.sourceUrl),
      SLING_DST: withSsl(this.targetUrl),
      SLING_HOME_DIR: this.home,
      SLING_DISABLE_TELEMETRY: 'true',
      DO_NOT_TRACK: '1',
    });
    const m = [...r.output.matchAll(/inserted (\d[\d,]*) rows/g)].at(-1);
    r.reportedRows = m ? Number(m[1]!.replace(/,/g, '')) : null;
    return r;
  }

  table(): string {
    return `${this.schema}.products`;
  }

  cleanup(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
