import { parseArgs } from 'node:util';
import { ApiClient, CliError, EXIT } from './api-client';
import { printTable } from './output';

export const QUEUES_HELP = `qanatix queues [--watch] [--json]

  Job counts per state, failed jobs with their reasons, and job schedulers with their next run.
  --watch redraws every 2 seconds until interrupted. Needs a key with the admin scope.`;

export const RETRY_HELP = `qanatix retry <job-id>

  Retries a failed pull job (see "qanatix queues").`;

interface QueueInfo {
  name: string;
  counts: Record<string, number>;
  schedulers: Array<Record<string, unknown>>;
}

async function snapshot(api: ApiClient, json: boolean): Promise<string> {
  const queues = await api.ok<QueueInfo[]>('GET', '/queues');
  const failed = await Promise.all(queues.map((q) => api.ok<Array<Record<string, unknown>>>('GET', `/queues/${q.name}/jobs?state=failed&limit=20`)));
  if (json) return JSON.stringify(queues.map((q, i) => ({ ...q, failed_jobs: failed[i] })), null, 2);
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
  const { values } = parseArgs({ args, options: { watch: { type: 'boolean', short: 'w' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(QUEUES_HELP);
    return EXIT.ok;
  }
  const api = ApiClient.fromEnv();
  if (!values.watch) {
    console.log(await snapshot(api, values.json ?? false));
    return EXIT.ok;
  }
  for (;;) {
    const text = await snapshot(api, values.json ?? false);
    process.stdout.write(`\x1b[2J\x1b[H${new Date().toISOString()}\n\n${text}\n`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

export async function retryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { queue: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help || !positionals[0]) {
    console.log(RETRY_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const api = ApiClient.fromEnv();
  const res = await api.request<{ id: string; state: string; detail?: string }>('POST', `/queues/${values.queue ?? 'pulls'}/jobs/${encodeURIComponent(positionals[0])}/retry`);
  if (res.status >= 400) throw new CliError(res.body.detail ?? `retry failed (${res.status})`);
  console.log(`job ${res.body.id} is ${res.body.state}`);
  return EXIT.ok;
}
