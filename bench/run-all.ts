/**
 * `npm run bench`: the pull benchmarks in one go, one after the other on a quiet machine —
 * bench/pull (ours vs the SQL ceiling from PostgreSQL and MariaDB, plus the scaling row) and
 * bench/peers (ours, dlt, Sling and the ceiling, PostgreSQL → PostgreSQL; installs the peers into the
 * ignored bench/.venv when missing) — then writes bench/results/latest.json, where every scenario
 * carries ours_vs_ceiling, ours_vs_dlt and ours_vs_sling (throughput ratios, ours divided by theirs;
 * null where that tool was not part of the scenario), and prints the Markdown tables.
 *
 *   npx tsx bench/run-all.ts [--rows 1000000] [--runs 3] [--scaling 100000,1000000,3000000] [--skip pull|peers]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineInfo, writeJsonResult } from './lib/results';
import type { ScenarioSummary } from './pull/report';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values: opts } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    scaling: { type: 'string', default: '100000,1000000,3000000' },
    skip: { type: 'string', default: '' },
    out: { type: 'string', default: join(ROOT, 'bench/results/latest.json') },
  },
});
const skip = new Set(opts.skip.split(',').filter(Boolean));

/** Runs one bench as a child (its own process, so its memory and handles end with it); its table goes to our stdout. */
async function runBench(script: string, args: string[]): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
  return out;
}

interface BenchFile {
  summary: ScenarioSummary[];
  notes: string[];
  scaling?: unknown;
  diagnosis?: unknown;
  install?: unknown;
}

async function main(): Promise<void> {
  const startedAt = new Date().toISOString();
  const pullOut = join(ROOT, 'bench/results/pull-latest.json');
  const peersOut = join(ROOT, 'bench/results/peers-latest.json');
  const tables: string[] = [];
  if (!skip.has('pull'))
    tables.push(
      await runBench('bench/pull/run.ts', ['--rows', opts.rows, '--runs', opts.runs, '--scaling', opts.scaling, '--out', pullOut]),
    );
  if (!skip.has('peers')) tables.push(await runBench('bench/peers/run.ts', ['--rows', opts.rows, '--runs', opts.runs, '--out', peersOut]));

  const read = (path: string): BenchFile | null => {
    try {
      return JSON.parse(readFileSync(path, 'utf8')) as BenchFile;
    } catch {
      return null;
    }
  };
  const pull = read(pullOut);
  const peers = read(peersOut);
  const withRatios = (s: ScenarioSummary, bench: string) => ({
    bench,
    ...s,
    ours_vs_ceiling: s.ours_vs_ceiling ?? null,
    ours_vs_dlt: s.ours_vs_dlt ?? null,
    ours_vs_sling: s.ours_vs_sling ?? null,
  });
  const scenarios = [
    ...(pull?.summary ?? []).map((s) => withRatios(s, 'pull')),
    ...(peers?.summary ?? []).map((s) => withRatios(s, 'peers')),
  ];
  writeJsonResult(opts.out, {
    bench: 'all',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    params: { rows: Number(opts.rows), runs: Number(opts.runs), scaling: opts.scaling },
    notes: [
      'ratios: ours divided by theirs in throughput (= their median wall time over ours for the same rows); > 1 means we are faster; null where the tool did not run that scenario (the peers run PostgreSQL → PostgreSQL only)',
      ...(pull?.notes ?? []),
      ...(peers?.notes ?? []),
    ],
    scenarios,
    scaling: pull?.scaling ?? null,
    diagnosis: pull?.diagnosis ?? null,
    peersInstall: peers?.install ?? null,
  });
  console.error(`wrote ${opts.out}`);
  console.log(tables.join('\n'));
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exitCode = 1;
});
