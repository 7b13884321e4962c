import { parseArgs } from 'node:util';
import { ApiClient, CliError, EXIT, findConnector } from './api-client';
import { applyConnectors, readConnectorsFile } from './connectors-apply';
import { printTable } from './output';

export const CONNECTORS_HELP = `qanatix connectors <command>

  apply -f connectors.yaml [--prune] [--dry-run] [--json]
      create or update connectors by name from a file; \${ENV_VAR} in values comes from the environment;
      --prune deletes connectors the file does not name; --dry-run prints the changes and writes nothing
  list [--json]                 all connectors
  get <name|id> [--json]        one connector (credentials are never shown)
  test <name|id> [--json]       connect to the source and check privileges (exit 1 when it fails)
  preview <name|id> [--limit N] [--json]
      the first rows the next pull would read, mapped, each with what the pull would do; reads only
  preview -f connectors.yaml [name] [--limit N] [--json]
      the same for a connector of a file that is not saved yet (the file's first, or the one named)
  doctor <name|id> [--json]
      check the source for what makes pulls slow, late or wrong, each check with a verdict and a fix; reads only;
      exit 6 when a check fails (warnings exit 0)
  delete <name|id>              delete a connector and its schedule
  rotate-notify-secret <name|id> [--json]
      a new secret for the connector's failure notifications (X-Qanatix-Signature); the old one stops working

Talks to QANATIX_URL (default http://127.0.0.1:8000) with QANATIX_API_KEY (scope: connectors).`;

interface Preview {
  rows: Array<{
    position: number;
    action: string;
    record: { name?: string; source_id?: string } | null;
    problems?: Array<{ msg: string }>;
  }>;
  counts: Record<string, number>;
}

const SYMBOL = { create: '+', update: '~', unchanged: '=', delete: '-' } as const;

export async function connectorsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' },
      prune: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [sub, ref] = positionals;
  if (values.help || !sub) {
    console.log(CONNECTORS_HELP);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const json = values.json ?? false;
  const api = ApiClient.fromEnv();
  switch (sub) {
    case 'apply': {
      if (!values.file) throw new CliError('apply needs -f <file>', EXIT.usage);
      const changes = await applyConnectors(api, await readConnectorsFile(values.file, process.env), {
        prune: values.prune ?? false,
        dryRun: values['dry-run'] ?? false,
      });
      if (json) console.log(JSON.stringify(changes, null, 2));
      else {
        for (const c of changes) {
          console.log(
            `${SYMBOL[c.action]} ${c.name}${c.action === 'update' ? ` (${c.fields.join(', ')})` : ''}${c.action === 'unchanged' ? ' (unchanged)' : ''}`,
          );
          if (c.notify_secret) console.log(`  notifications are signed with ${c.notify_secret} (shown this once: keep it)`);
        }
        const n = (a: string) => changes.filter((c) => c.action === a).length;
        console.log(
          `${values['dry-run'] ? 'would apply' : 'applied'}: ${n('create')} created, ${n('update')} updated, ${n('unchanged')} unchanged, ${n('delete')} deleted`,
        );
      }
      return EXIT.ok;
    }
    case 'list': {
      const rows = await api.ok<Array<Record<string, unknown>>>('GET', '/connectors');
      printTable(rows, ['name', 'connector_type', 'vertical', 'entity_type', 'schedule', 'enabled', 'id'], json);
      return EXIT.ok;
    }
    case 'get': {
      console.log(JSON.stringify(await findConnector(api, need(ref)), null, 2));
      return EXIT.ok;
    }
    case 'rotate-notify-secret': {
      const c = await findConnector(api, need(ref));
      const r = await api.ok<{ notify_secret: string }>('POST', `/connectors/${c.id}/notify/rotate-secret`);
      if (json) console.log(JSON.stringify(r, null, 2));
      else console.log(`notifications of ${c.name} are now signed with ${r.notify_secret} (shown this once: keep it)`);
      return EXIT.ok;
    }
    case 'test': {
      const c = await findConnector(api, need(ref));
      const r = await api.ok<{ ok: boolean; kind?: string; error?: string; duration_ms: number }>('POST', `/connectors/${c.id}/test`);
      if (json) console.log(JSON.stringify(r, null, 2));
      else console.log(r.ok ? `ok: ${c.name} answered in ${r.duration_ms} ms` : `failed (${r.kind}): ${r.error}`);
      return r.ok ? EXIT.ok : EXIT.failed;
    }
    case 'preview': {
      const limit = values.limit === undefined ? 20 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 200)
        throw new CliError('--limit takes a whole number from 1 to 200', EXIT.usage);
      let preview: Preview;
      if (values.file) {
        const defs = await readConnectorsFile(values.file, process.env);
        const def = ref ? defs.find((d) => d.name === ref) : defs[0];
        if (!def) throw new CliError(`${values.file} has no connector${ref ? ` named "${ref}"` : ''}`, EXIT.usage);
        preview = await api.ok<Preview>('POST', `/connectors/preview?limit=${limit}`, def);
      } else {
        const c = await findConnector(api, need(ref));
        preview = await api.ok<Preview>('POST', `/connectors/${c.id}/preview?limit=${limit}`);
      }
      if (json) console.log(JSON.stringify(preview, null, 2));
      else {
        printTable(
          preview.rows.map((r) => ({
            ...r,
            name: r.record?.name,
            source_id: r.record?.source_id,
            why: r.problems?.map((p) => p.msg).join('; '),
          })),
          ['position', 'action', 'name', 'source_id', 'why'],
          false,
        );
        const counts = Object.entries(preview.counts).filter(([, n]) => n > 0);
        console.log(`a pull would: ${counts.map(([a, n]) => `${a} ${n}`).join(', ') || 'read nothing'} (of the first ${limit} rows)`);
      }
      return EXIT.ok;
    }
    case 'doctor':
      return (await import('./doctor-command')).doctorCommand(api, need(ref), json);
    case 'delete': {
      const c = await findConnector(api, need(ref));
      await api.ok('DELETE', `/connectors/${c.id}`);
      console.log(`deleted ${c.name}`);
      return EXIT.ok;
    }
    default:
      throw new CliError(`unknown connectors command "${sub}"\n\n${CONNECTORS_HELP}`, EXIT.usage);
  }
}

function need(ref: string | undefined): string {
  if (!ref) throw new CliError('name or id of a connector required', EXIT.usage);
  return ref;
}
