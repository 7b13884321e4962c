import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { ApiClient, CliError, detailOf, EXIT } from './api-client';

/**
 * `${VAR}` in any string becomes the environment variable's value (secrets stay out of the file);
 * `$${` is a literal `${`. A variable that is not set is an error, never an empty string.
 */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, escaped: string | undefined, name: string) => {
      if (escaped) return whole.slice(1);
      const v = env[name];
      if (v === undefined) throw new CliError(`${path || 'a value'} uses \${${name}}, which is not set in the environment`, EXIT.usage);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, path ? `${path}.${k}` : k)]));
  }
  return value;
}

/** The connectors of a file: `connectors: [ {name, …}, … ]` (or a bare list). */
export async function readConnectorsFile(file: string, env: NodeJS.ProcessEnv): Promise<Array<Record<string, unknown>>> {
  let doc: unknown;
  try {
    doc = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, EXIT.usage);
  }
  const list = Array.isArray(doc) ? doc : (doc as { connectors?: unknown } | null)?.connectors;
  if (!Array.isArray(list)) throw new CliError(`${file} must hold "connectors:" followed by a list of connector definitions`, EXIT.usage);
  const names = new Set<string>();
  return list.map((c, i) => {
    if (!c || typeof c !== 'object' || typeof (c as { name?: unknown }).name !== 'string')
      throw new CliError(`${file}: connector #${i + 1} needs a name`, EXIT.usage);
    const name = (c as { name: string }).name;
    if (names.has(name)) throw new CliError(`${file}: the name "${name}" appears twice`, EXIT.usage);
    names.add(name);
    return interpolate(c, env, `connectors[${i}]`) as Record<string, unknown>;
  });
}

export interface ApplyChange {
  action: 'create' | 'update' | 'unchanged' | 'delete';
  name: string;
  fields: string[];
  /** The secret the connector's notifications are signed with, when this change created it: shown this once. */
  notify_secret?: string;
}

/**
 * Makes the API's connectors match the file, by name: creates the new ones, updates the changed ones in
 * place (the server compares, credentials included, and reports which fields changed), and with `prune`
 * deletes the ones the file no longer has. Every connector is validated first (a dry run of each): one bad
 * connector fails the whole file, every problem reported, nothing written. With `dryRun` that is all it does.
 * Should a write still fail (the API or a database going away mid-file), the error names what was applied.
 */
export async function applyConnectors(
  api: ApiClient,
  wanted: Array<Record<string, unknown>>,
  opts: { prune: boolean; dryRun: boolean },
): Promise<ApplyChange[]> {
  const existing = new Map((await api.ok<Array<{ id: string; name: string }>>('GET', '/connectors')).map((c) => [c.name, c.id]));
  const send = (def: Record<string, unknown>, dryRun: boolean) => {
    const id = existing.get(def.name as string);
    const q = dryRun ? '?dry_run=true' : '';
    return id
      ? api.request<{ changed_fields?: string[]; notify_secret?: string }>('PATCH', `/connectors/${id}${q}`, def)
      : api.request<{ changed_fields?: string[]; notify_secret?: string }>('POST', `/connectors${q}`, def);
  };

  const planned: ApplyChange[] = [];
  const problems: string[] = [];
  for (const def of wanted) {
    const name = def.name as string;
    const res = await send(def, true);
    if (res.status >= 400) problems.push(`connector "${name}": ${detailOf(res.body)}`);
    else {
      const fields = res.body.changed_fields ?? [];
      planned.push({ action: !existing.has(name) ? 'create' : fields.length ? 'update' : 'unchanged', name, fields });
    }
  }
  if (problems.length) {
    const s = problems.length === 1 ? '' : 's';
    throw new CliError(
      `${problems.length} connector${s} of the file ${s ? 'are' : 'is'} not valid; nothing was applied:\n${problems.join('\n')}`,
    );
  }
  const deletes: ApplyChange[] = [];
  if (opts.prune) {
    const keep = new Set(wanted.map((d) => d.name as string));
    for (const name of existing.keys()) if (!keep.has(name)) deletes.push({ action: 'delete', name, fields: [] });
  }
  if (opts.dryRun) return [...planned, ...deletes];

  const applied: ApplyChange[] = [];
  const stopped = (name: string, why: string) => {
    const done = applied.filter((c) => c.action !== 'unchanged');
    const list = done.length ? done.map((c) => `${c.action} ${c.name}`).join(', ') : 'nothing';
    return new CliError(`connector "${name}": ${why}\napplied before it stopped: ${list}; apply the file again to finish`);
  };
  for (const def of wanted) {
    const name = def.name as string;
    const res = await send(def, false).catch((err: CliError) => {
      throw stopped(name, err.message);
    });
    if (res.status >= 400) throw stopped(name, detailOf(res.body));
    const fields = res.body.changed_fields ?? [];
    const action = !existing.has(name) ? 'create' : fields.length ? 'update' : 'unchanged';
    // Only a connector that asks for notifications needs its signing secret now; the others can rotate one later.
    const secret = def.notify && res.body.notify_secret ? { notify_secret: res.body.notify_secret } : {};
    applied.push({ action, name, fields, ...secret });
  }
  for (const change of deletes) {
    await api.ok('DELETE', `/connectors/${existing.get(change.name)}`).catch((err: CliError) => {
      throw stopped(change.name, err.message);
    });
    applied.push(change);
  }
  return applied;
}
