import { parseArgs } from 'node:util';
import { ApiClient, CliError, EXIT } from './api-client';
import { CONTROL, writeControl } from './terminal';
import { printTable } from './output';

export const QUEUES_HELP = `qanatix queues [--watch] [--json]
qanatix queues pause|resume [--queue pulls]
qanatix queues clean [--state completed|failed] [--grace <seconds>] [--queue pulls]

  Job counts per state, failed jobs with their reasons, and job schedulers with their next run.
  --watch redraws every 2 seconds until interrupted. With a tenant's admin key: that tenant's jobs only;
  with an operator credential in QANATIX_API_KEY ("qanatix operator create"): every job.
  pause, resume and clean act on the whole installation and need an operator credential. pause stops
  every worker taking new jobs (running pulls finish); clean removes finished jobs older than --grace
  (default 3600) seconds from Redis (run history stays in PostgreSQL).`;

export const RETRY_HELP = `qanatix retry <job-id>

  Retries a failed pull job (see "qanatix queues").`;

interface QueueInfo {
  name: string;
  counts: Record<string, number>;
  schedulers: Array<Record<string, unknown>>;
}

async function snapshot(api: ApiClient, json: boolean): Promise<string> {
  const queues = await api.ok<QueueInfo[]>('GET', '/queues');
  const failed = await Promise.all(
    queues.map((q) => api.ok<Array<Record<string, unknown>>>('GET', `/queues/${q.name}/jobs?state=failed&limit=20`)),
  );
  if (json)
    return JSON.stringify(
      queues.map((q, i) => ({ ...q, failed_jobs: failed[i] })),
      null,
      2,
    );
  const lines: string[] = [];
  const capture = (fn: () => void) => {
    const log = console.log;
    console.log = (...a: unknown[]) => lines.push(a.join(' '));
    try {
      fn();
    } finally {
      console.log = log;
    }
  };
  queues.forEach((q, i) => {
    lines.push(`queue ${q.name}`);
    capture(() => printTable([q.counts], Object.keys(q.counts), false));
    lines.push('', 'failed jobs');
    capture(() => printTable(failed[i]!, ['id', 'attempts_made', 'finished_at', 'failed_reason'], false));
    lines.push('', 'schedulers');
    capture(() => printTable(q.schedulers, ['connector_id', 'pattern', 'tz', 'next_run_at'], false));
  });
  return lines.join('\n');
}

export async function queuesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      watch: { type: 'boolean', short: 'w' },
      json: { type: 'boolean' },
      queue: { type: 'string' },
      state: { type: 'string' },
      grace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(QUEUES_HELP);
    return EXIT.ok;
  }
  const [action] = positionals;
  if (action !== undefined) return control(action, values);
  const api = ApiClient.fromEnv();
  if (!values.watch) {
    console.log(await snapshot(api, values.json ?? false));
    return EXIT.ok;
  }
  for (;;) {
    const text = await snapshot(api, values.json ?? false);
    writeControl(process.stdout, CONTROL.clearScreen, `${new Date().toISOString()}\n\n${text}\n`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

async function control(action: string, values: { queue?: string; state?: string; grace?: string }): Promise<number> {
  if (!['pause', 'resume', 'clean'].includes(action))
    throw new CliError(`unknown queues command "${action}"\n\n${QUEUES_HELP}`, EXIT.usage);
  const grace = values.grace === undefined ? undefined : Number(values.grace);
  if (grace !== undefined && !(Number.isInteger(grace) && grace >= 0))
    throw new CliError('--grace is a whole number of seconds, 0 or more', EXIT.usage);
  const api = ApiClient.fromEnv();
  const queue = encodeURIComponent(values.queue ?? 'pulls');
  if (action === 'clean') {
    const res = await api.ok<{ removed: number; state: string }>('POST', `/queues/${queue}/clean`, {
      state: values.state ?? 'completed',
      ...(grace !== undefined ? { grace_seconds: grace } : {}),
    });
    console.log(`removed ${res.removed} ${res.state} job(s)`);
  } else {
    const res = await api.ok<{ name: string; paused: boolean }>('POST', `/queues/${queue}/${action}`);
    console.log(`queue ${res.name} is ${res.paused ? 'paused' : 'running'}`);
  }
  return EXIT.ok;
}

export async function retryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { queue: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help || !positionals[0]) {
    console.log(RETRY_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const api = ApiClient.fromEnv();
  const res = await api.request<{ id: string; state: string; detail?: string }>(
    'POST',
    `/queues/${values.queue ?? 'pulls'}/jobs/${encodeURIComponent(positionals[0])}/retry`,
  );
  if (res.status >= 400) throw new CliError(res.body.detail ?? `retry failed (${res.status})`);
  console.log(`job ${res.body.id} is ${res.body.state}`);
  return EXIT.ok;
}
