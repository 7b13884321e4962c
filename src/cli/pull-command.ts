import { parseArgs } from 'node:util';
import { ApiClient, CliError, EXIT, findConnector } from './api-client';
import { CONTROL, writeControl } from './terminal';
import { formatDuration, printTable } from './output';

export const PULL_HELP = `qanatix pull <name|id> [--full|--sweep|--verify | --from VALUE --to VALUE] [--wait] [--json]

  Queues a pull of a connector (--full: a resync from the beginning; --sweep: delete or mark the entities whose
  row the source no longer has; --verify: compare the source with the entities, write nothing; --from/--to: a
  backfill of the rows with from <= cursor < to, read again without moving the committed position; numbers are
  numbers, anything else text). With --wait it shows the run live (rows read, rows/s, elapsed) and ends with its
  summary and counts; the exit code is 1 when the run fails, 4 when a sweep waits for confirmation
  (qanatix confirm NAME), 5 when a verify found drift. When a run is already queued or
  running, --wait follows that run instead.`;

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
  deleted?: number;
  undeleted?: number;
  pending_deletes?: number | null;
  verify?: { checked: number; missing: number; extra: number; stale: number; samples: Record<string, string[]> } | null;
  error: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  cursor_after: unknown;
  note?: string | null;
}

const FINAL = new Set(['succeeded', 'failed', 'skipped', 'cancelled', 'needs_confirmation']);

export async function pullCommand(args: string[], out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      full: { type: 'boolean' },
      sweep: { type: 'boolean' },
      verify: { type: 'boolean' },
      from: { type: 'string' },
      to: { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const modes = (['full', 'sweep', 'verify'] as const).filter((m) => values[m]);
  if (modes.length > 1) throw new CliError(`cannot specify both --${modes[0]} and --${modes[1]} - choose one`);
  if (values.help || !positionals[0]) {
    console.log(PULL_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const backfill = values.from !== undefined || values.to !== undefined;
  if (backfill && (values.from === undefined || values.to === undefined || modes.length)) {
    throw new CliError(`a backfill takes both --from and --to (and no --${modes[0] ?? 'full'})`, EXIT.usage);
  }
  const cursorValue = (v: string) => (/^-?\d+(\.\d+)?$/.test(v) && Number.isSafeInteger(Math.trunc(Number(v))) ? Number(v) : v);
  const api = ApiClient.fromEnv();
  const connector = await findConnector(api, positionals[0]);
  const body = backfill
    ? { mode: 'backfill', from: cursorValue(values.from!), to: cursorValue(values.to!) }
    : { mode: modes[0] ?? 'incremental' };
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
    const detail = typeof res.body.detail === 'string' ? res.body.detail : JSON.stringify(res.body.detail ?? res.body);
    throw new CliError(`${detail}${res.body.run_id ? ` (run ${res.body.run_id})` : ''}`);
  }
  const run = await follow(api, connector.id, runId, out, values.json ?? false);
  if (values.json) console.log(JSON.stringify(run, null, 2));
  else console.log(summary(run));
  if (run.status === 'failed') return EXIT.failed;
  if (run.status === 'needs_confirmation') return EXIT.needsConfirmation;
  const drift = run.verify ? run.verify.missing + run.verify.extra + run.verify.stale : 0;
  return drift > 0 ? EXIT.drift : EXIT.ok;
}

/** The run's outcome in words: its counts, what a verify found, what a held sweep waits for. */
export function summary(run: Run): string {
  const took = formatDuration(run.duration_ms ?? 0);
  const lines: string[] = [];
  if (run.verify) {
    const v = run.verify;
    lines.push(`${run.status}: ${v.checked} rows checked, ${v.missing} missing, ${v.extra} extra, ${v.stale} stale in ${took}`);
    for (const kind of ['missing', 'extra', 'stale'] as const) {
      const keys = v.samples[kind] ?? [];
      if (keys.length) lines.push(`  ${kind}: ${keys.join(', ')}${v[kind] > keys.length ? ', …' : ''}`);
    }
  } else {
    const deletes = run.deleted || run.undeleted ? `, ${run.deleted ?? 0} deleted, ${run.undeleted ?? 0} undeleted` : '';
    lines.push(
      `${run.status}: ${run.rows_read} rows read, ${run.inserted} inserted, ${run.updated} updated, ${run.unchanged} unchanged, ${run.rejected} rejected${deletes} in ${took}`,
    );
  }
  if (run.error) lines.push(`${run.status === 'needs_confirmation' ? 'held' : 'error'}: ${run.error}`);
  if (run.note) lines.push(run.note);
  return lines.join('\n');
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
      if (tty) writeControl(out, CONTROL.redrawLine, line);
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
      'deleted',
      'started_at',
      'duration',
      'error',
      'note',
    ],
    values.json ?? false,
  );
  return EXIT.ok;
}
