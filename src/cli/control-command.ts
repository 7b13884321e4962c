import { parseArgs } from 'node:util';
import { ApiClient, CliError, EXIT, findConnector } from './api-client';
import { printTable } from './output';

export const CANCEL_HELP = `qanatix cancel <name|run-id> [--json]

  Cancels the connector's queued or running run (or the run with this id): a queued run ends at once, a running
  pull after committing its current batch. What it committed stays; the next run resumes from the committed cursor.`;

export const CONFIRM_HELP = `qanatix confirm <name|run-id> [--json]

  Lets a sweep the guard held (status needs_confirmation: it would delete more than deletes.max_fraction of the
  connector's entities) go on and delete. Check the source first: an empty view, a wrong schema or a bad where
  make every row look deleted.`;

export const PAUSE_HELP = `qanatix pause <name|id> [--reason TEXT] [--json]
qanatix resume <name|id> [--json]

  Pause: no scheduled runs, manual pulls refused with the reason, the committed position kept (the same switch as
  "enabled: false"). Resume: the schedule runs again from the committed position.`;

export const STATE_HELP = `qanatix state <name|id> [--set '{"value": …, "key": […]}'] [--json]

  Shows the committed position (cursor and last pull). With --set, moves it: the next incremental run reads strictly
  after it. The value is checked against the cursor column's type and the key against the connector's key; the change
  is recorded in the run history (trigger operator, mode set_state).`;

export const EVENTS_HELP = `qanatix events <name|id> [run-id] [--json]

  What happened during a run (the latest when no run id is given): started, each committed batch, retries, rows
  held back by the lag window, and how it ended.`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ACTIVE = new Set(['queued', 'running', 'retrying']);
const HELD = new Set(['needs_confirmation']);

interface RunRow {
  id: string;
  status: string;
}

/** Every control command takes one or two positionals, --json and --help; `reason` and `set` are pause's and state's. */
function parse(args: string[], takes: Array<'reason' | 'set'> = []) {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { reason: { type: 'string' }, set: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  for (const option of ['reason', 'set'] as const) {
    if (values[option] !== undefined && !takes.includes(option))
      throw new CliError(`--${option} does not apply to this command`, EXIT.usage);
  }
  return { values, positionals };
}

function usage(help: string, asked: boolean | string | undefined): number {
  console.log(help);
  return asked ? EXIT.ok : EXIT.usage;
}

/**
 * The connector and run a `cancel` or `confirm` argument names: a connector (its latest run in one of `statuses`),
 * or a run id of any connector.
 */
async function namedRun(api: ApiClient, ref: string, statuses: Set<string>, what: string): Promise<{ connectorId: string; runId: string }> {
  const all = await api.ok<Array<{ id: string; name: string }>>('GET', '/connectors');
  const connector = all.find((c) => c.id === ref) ?? all.find((c) => c.name === ref);
  if (connector) {
    const runs = await api.ok<RunRow[]>('GET', `/connectors/${connector.id}/runs?limit=20`);
    const run = runs.find((r) => statuses.has(r.status));
    if (!run) throw new CliError(`${connector.name} has no ${what}`);
    return { connectorId: connector.id, runId: run.id };
  }
  if (UUID.test(ref)) {
    for (const c of all) {
      const runs = await api.ok<RunRow[]>('GET', `/connectors/${c.id}/runs?limit=500`);
      if (runs.some((r) => r.id === ref)) return { connectorId: c.id, runId: ref };
    }
  }
  throw new CliError(`no connector and no recent run named or with id "${ref}" (see "qanatix connectors list", "qanatix runs NAME")`);
}

export async function cancelCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help || !positionals[0]) return usage(CANCEL_HELP, values.help);
  const api = ApiClient.fromEnv();
  const { connectorId, runId } = await namedRun(api, positionals[0], ACTIVE, 'queued or running run to cancel');
  const res = await api.ok<{ run_id: string; status: string }>('POST', `/connectors/${connectorId}/runs/${runId}/cancel`);
  console.log(
    values.json
      ? JSON.stringify(res)
      : res.status === 'cancelled'
        ? `cancelled run ${runId}`
        : `asked run ${runId} to stop: it ends after committing its current batch (watch it with "qanatix events ${positionals[0]} ${runId}")`,
  );
  return EXIT.ok;
}

export async function confirmCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help || !positionals[0]) return usage(CONFIRM_HELP, values.help);
  const api = ApiClient.fromEnv();
  const { connectorId, runId } = await namedRun(api, positionals[0], HELD, 'sweep waiting for confirmation');
  const res = await api.ok<{ run_id: string; status: string }>('POST', `/connectors/${connectorId}/runs/${runId}/confirm`);
  console.log(
    values.json
      ? JSON.stringify(res)
      : `confirmed run ${runId}: the sweep runs again and deletes (watch it with "qanatix runs ${positionals[0]}")`,
  );
  return EXIT.ok;
}

export async function pauseCommand(args: string[], action: 'pause' | 'resume'): Promise<number> {
  const { values, positionals } = parse(args, action === 'pause' ? ['reason'] : []);
  if (values.help || !positionals[0]) return usage(PAUSE_HELP, values.help);
  const api = ApiClient.fromEnv();
  const connector = await findConnector(api, positionals[0]);
  const body = action === 'pause' && typeof values.reason === 'string' ? { reason: values.reason } : {};
  const res = await api.ok<{ name: string; paused: boolean; schedule: string | null }>(
    'POST',
    `/connectors/${connector.id}/${action}`,
    body,
  );
  if (values.json) console.log(JSON.stringify(res, null, 2));
  else if (action === 'pause') console.log(`paused ${res.name}: no scheduled runs, manual pulls refused; its position is kept`);
  else console.log(`resumed ${res.name}${res.schedule ? ` (schedule ${res.schedule})` : ''}`);
  return EXIT.ok;
}

export async function stateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, ['set']);
  if (values.help || !positionals[0]) return usage(STATE_HELP, values.help);
  const api = ApiClient.fromEnv();
  const connector = await findConnector(api, positionals[0]);
  let state: Record<string, unknown>;
  if (typeof values.set === 'string') {
    let cursor: unknown;
    try {
      cursor = JSON.parse(values.set);
    } catch {
      throw new CliError(`--set takes JSON such as '{"value": "2026-01-31T00:00:00Z", "key": [42]}'`, EXIT.usage);
    }
    state = await api.ok('PUT', `/connectors/${connector.id}/state`, { cursor });
  } else {
    state = await api.ok('GET', `/connectors/${connector.id}/state`);
  }
  if (values.json) console.log(JSON.stringify(state, null, 2));
  else {
    console.log(`cursor     ${JSON.stringify(state.cursor)}`);
    console.log(`last_pull  ${state.last_pull ?? '-'}`);
    if (state.run_id) console.log(`recorded as run ${state.run_id}`);
  }
  return EXIT.ok;
}

export async function eventsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args);
  if (values.help || !positionals[0]) return usage(EVENTS_HELP, values.help);
  const api = ApiClient.fromEnv();
  const connector = await findConnector(api, positionals[0]);
  let runId = positionals[1];
  if (!runId) {
    const [latest] = await api.ok<RunRow[]>('GET', `/connectors/${connector.id}/runs?limit=1`);
    if (!latest) throw new CliError(`${connector.name} has no runs yet`);
    runId = latest.id;
  }
  const events = await api.ok<Array<{ id: number; at: string; kind: string; detail: Record<string, unknown> }>>(
    'GET',
    `/connectors/${connector.id}/runs/${runId}/events?limit=1000`,
  );
  printTable(
    events.map((e) => ({ ...e, detail: Object.keys(e.detail).length ? e.detail : null })),
    ['at', 'kind', 'detail'],
    values.json ?? false,
  );
  return EXIT.ok;
}
