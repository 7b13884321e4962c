import { parseArgs } from 'node:util';
import { ApiClient, CliError, EXIT, findConnector } from './api-client';
import { formatDuration, printTable } from './output';

export const PULL_HELP = `qanatix pull <name|id> [--full | --from VALUE --to VALUE] [--wait] [--json]

  Queues a pull of a connector (--full: a resync from the beginning; --from/--to: a backfill of the rows with
  from <= cursor < to, read again without moving the committed position; numbers are numbers, anything else text). With --wait it shows the run live
  (rows read, rows/s, elapsed) and ends with its summary; the exit code is 1 when the run fails.
  When a run is already queued or running, --wait follows that run instead.`;

export const RUNS_HELP = `qanatix runs <name|id> [--limit N] [--json]

  The connector's recent runs: status, rows, timings, errors.`;

interface Run {
  id: string;
  status: string;
  mode: string;
  trigger: string;
  attempts: number;
  rows_read: number;
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: number;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  cursor_after: unknown;
  note?: string | null;
}

const FINAL = new Set(['succeeded', 'failed', 'skipped', 'cancelled']);

export async function pullCommand(args: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      full: { type: 'boolean' },
      from: { type: 'string' },
      to: { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !positionals[0]) {
    console.log(PULL_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const backfill = values.from !== undefined || values.to !== undefined;
  if (backfill && (values.from === undefined || values.to === undefined || values.full)) {
    throw new CliError('a backfill takes both --from and --to (and no --full)', EXIT.usage);
  }
  const cursorValue = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) && Number.isSafeInteger(Math.trunc(Number(v))) ? Number(v) : v);
  const api = ApiClient.fromEnv();
  const connector = await findConnector(api, positionals[0]);
  const body = backfill
    ? { mode: 'backfill', from: cursorValue(values.from!), to: cursorValue(values.to!) }
    : { mode: values.full ? 'full' : 'incremental' };
  const res = await api.request<{ run_id?: string; job_id: string; detail?: string }>('POST', `/connectors/${connector.id}/pull`, body);
  let runId: string;
  if (res.status === 202) {
    runId = res.body.run_id!;
    if (!values.wait) {
      console.log(values.json ? JSON.stringify(res.body) : `queued run ${runId} (job ${res.body.job_id}) of ${connector.name}`);
      return EXIT.ok;
    }
  } else if (res.status === 409 && values.wait && res.body.run_id) {
    runId = res.body.run_id;
    console.error(`a run of ${connector.name} is already in progress (${runId}); following it`);
  } else {
    throw new CliError(`${res.body.detail ?? JSON.stringify(res.body)}${res.body.run_id ? ` (run ${res.body.run_id})` : ''}`);
  }
  const run = await follow(api, connector.id, runId, out, values.json ?? false);
  if (values.json) console.log(JSON.stringify(run, null, 2));
  else {
    console.log(
      `${run.status}: ${run.rows_read} rows read, ${run.inserted} inserted, ${run.updated} updated, ${run.unchanged} unchanged, ${run.rejected} rejected in ${formatDuration(run.duration_ms ?? 0)}`,
    );
    if (run.error) console.log(`error: ${run.error}`);
    if (run.note) console.log(run.note);
  }
  return run.status === 'failed' ? EXIT.failed : EXIT.ok;
}

/** Polls the run until it ends, drawing a progress line on a terminal (a line every few seconds otherwise). */
async function follow(api: ApiClient, connectorId: string, runId: string, out: NodeJS.WriteStream, quiet: boolean): Promise<Run> {
  const tty = out.isTTY === true && !quiet;
  const started = Date.now();
  let lastLine = 0;
  for (let tick = 0; ; tick++) {
    const run = await api.ok<Run>('GET', `/connectors/${connectorId}/runs/${runId}`);
    const elapsed = run.started_at ? Date.now() - Date.parse(run.started_at) : Date.now() - started;
    const rate = run.rows_read / Math.max(elapsed / 1000, 0.001);
    if (!quiet) {
      const line = `${progressBar(tick, FINAL.has(run.status))} ${run.status.padEnd(9)} ${String(run.rows_read).padStart(9)} rows  ${Math.round(rate).toLocaleString('en').padStart(9)} rows/s  ${formatDuration(elapsed)}`;
      if (tty) out.write(`\r\x1b[2K${line}`);
      else if (FINAL.has(run.status) || Date.now() - lastLine >= 2000) {
        out.write(line + '\n');
        lastLine = Date.now();
      }
    }
    if (FINAL.has(run.status)) {
      if (tty) out.write('\n');
      return run;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A bar with no known total: a block sweeps while the run goes on, full when it ends. */
export function progressBar(tick: number, done: boolean): string {
  const width = 20;
  if (done) return `[${'#'.repeat(width)}]`;
  const last = width - 3; // the block's rightmost start: it bounces between 0 and here
  const pos = tick % (2 * last);
  const at = pos <= last ? pos : 2 * last - pos;
  return `[${' '.repeat(at)}###${' '.repeat(last - at)}]`;
}

export async function runsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { limit: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || !positionals[0]) {
    console.log(RUNS_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const api = ApiClient.fromEnv();
  const connector = await findConnector(api, positionals[0]);
  const runs = await api.ok<Run[]>('GET', `/connectors/${connector.id}/runs?limit=${Number(values.limit ?? 20)}`);
  printTable(
    runs.map((r) => ({ ...r, duration: r.duration_ms === null ? null : formatDuration(r.duration_ms) })),
    [
      'id',
      'status',
      'mode',
      'trigger',
      'attempts',
      'rows_read',
      'inserted',
      'updated',
      'unchanged',
      'rejected',
      'started_at',
      'duration',
      'error',
      'note',
    ],
    values.json ?? false,
  );
  return EXIT.ok;
}
