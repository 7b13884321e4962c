import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { watchTree, type TreeUsage } from '../lib/proc-tree';
import { PRODUCT_COLUMNS } from './products';

/**
 * The ceiling: the same rows moved by the databases' own bulk paths and plain SQL, no application
 * code in between. PostgreSQL source: `COPY (SELECT …) TO STDOUT` piped into `COPY … FROM STDIN` of an
 * unlogged staging table; MariaDB source: the `mariadb --batch --quick` client's TSV piped into the
 * same COPY; MongoDB and Neo4j (no bulk export client on this machine): the official driver's plainest
 * read (document-export.ts) written as COPY text into the same COPY, the staging table's price and cost
 * doubles as those sources store them. Then one `INSERT … SELECT … ON CONFLICT … DO UPDATE … WHERE
 * content_hash IS DISTINCT FROM` into a table of the `entities` shape (same columns, indexes and defaults),
 * computing name, source_id, dedup_key, vertical_data (the row as jsonb minus name) and a SHA-256 content
 * hash in SQL. Incremental loads (SQL sources) select `(updated_at, id) > watermark`, the watermark being the
 * newest row of the previous load (found after the clock stops).
 */

export const CEILING_TABLE = 'ceiling_entities';
export const FLOOR_TABLE = 'floor_entities';
const STAGING = { sql: 'ceiling_staging', documents: 'ceiling_doc_staging' } as const;
const STAGING_COLUMNS = (money: string, cost: string) => `
    id bigint, sku text, name text, category text, price ${money}, cost ${cost}, stock int, weight_kg double precision,
    active boolean, attributes jsonb, description text, created_at timestamptz, updated_at timestamptz`;

export async function prepareCeiling(db: pg.Client): Promise<void> {
  // Columns, defaults (time-ordered ids) and indexes; the tenant is checked per batch, as the core does, not per row.
  await db.query(`create table if not exists ${CEILING_TABLE} (like entities including all)`);
  await db.query(`create table if not exists ${FLOOR_TABLE} (like entities including all)`);
  await db.query(`create unlogged table if not exists ${STAGING.sql} (${STAGING_COLUMNS('numeric(12,2)', 'numeric(14,4)')})`);
  await db.query(`create unlogged table if not exists ${STAGING.documents} (${STAGING_COLUMNS('double precision', 'double precision')})`);
}

export interface Watermark {
  updatedAt: string;
  id: string;
}

interface SqlTable {
  /** postgres:// or mysql:// URL of the source database. */
  url: string;
  table: string;
}

interface DocumentContainer {
  /** mongodb:// or bolt:// URI, without credentials for Neo4j (user and password apart). */
  uri: string;
  user?: string;
  password?: string;
  database: string;
  /** The collection or the label. */
  container: string;
}

export type CeilingSource =
  | ({ kind: 'postgresql' } & SqlTable)
  | ({ kind: 'mysql' } & SqlTable)
  | ({ kind: 'mongodb' } & DocumentContainer)
  | ({ kind: 'neo4j' } & DocumentContainer);

export interface CeilingResult {
  wallMs: number;
  copied: number;
  written: number;
  tree: TreeUsage;
  watermark: Watermark | null;
}

const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
const shq = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

const EXPORTER = fileURLToPath(new URL('./document-export.ts', import.meta.url));

/** The shell command that prints the source's rows as COPY text (or TSV), and the environment it needs. */
function sourceCommand(src: CeilingSource, since: Watermark | null): { command: string; env: Record<string, string> } {
  const cols = PRODUCT_COLUMNS.join(', ');
  if (src.kind === 'mongodb' || src.kind === 'neo4j') {
    if (since) throw new Error('the document ceilings load everything: no watermark');
    // Credentials through the environment, never on a command line another process can list.
    const env = { QBENCH_EXPORT_URI: src.uri, QBENCH_EXPORT_USER: src.user ?? '', QBENCH_EXPORT_PASSWORD: src.password ?? '' };
    const args = [src.kind, src.database, src.container, PRODUCT_COLUMNS.join(',')].map(shq).join(' ');
    return { command: `${shq(process.execPath)} ${shq(EXPORTER)} ${args}`, env };
  }
  if (src.kind === 'postgresql') {
    const where = since ? ` where (updated_at, id) > (${lit(since.updatedAt)}::timestamptz, ${since.id})` : '';
    return {
      command: `psql -X -q -v ON_ERROR_STOP=1 -d ${shq(src.url)} -c ${shq(`\\copy (select ${cols} from ${src.table}${where}) to stdout`)}`,
      env: {},
    };
  }
  const u = new URL(src.url);
  // DATETIME(6) is printed as 'YYYY-MM-DD HH:MM:SS.ffffff', read by PostgreSQL in the session zone (UTC).
  const where = since ? ` WHERE (updated_at, id) > (${lit(since.updatedAt.replace(/\+00(:00)?$/, ''))}, ${since.id})` : '';
  return {
    command:
      `mariadb --batch --quick --skip-column-names -h ${shq(u.hostname)} -P ${u.port || '3306'} -u ${shq(decodeURIComponent(u.username))} ` +
      `-p${shq(decodeURIComponent(u.password))} ${shq(u.pathname.slice(1))} -e ${shq(`SET time_zone = '+00:00'; SELECT ${cols} FROM ${src.table}${where}`)}`,
    env: {},
  };
}

/** One load: source → COPY into staging → INSERT … ON CONFLICT, timed from the pipeline's start to the INSERT's end. */
export async function loadCeiling(
  db: pg.Client,
  platformUrl: string,
  src: CeilingSource,
  target: { tenantId: string; vertical: string; entityType: string },
  since: Watermark | null,
): Promise<CeilingResult> {
  const staging = src.kind === 'mongodb' || src.kind === 'neo4j' ? STAGING.documents : STAGING.sql;
  await db.query(`truncate ${staging}`);
  // mariadb --batch escapes tab, newline and backslash as COPY's text format does, and prints NULL as NULL.
  const copyOpts = src.kind === 'mysql' ? `(format text, null 'NULL')` : '(format text)';
  const t = [target.tenantId, target.vertical, target.entityType].map(lit).join(', ');
  const script = `\\set ON_ERROR_STOP on
\\copy ${staging} (${PRODUCT_COLUMNS.join(', ')}) from pstdin with ${copyOpts}
insert into ${CEILING_TABLE} as e (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash)
select ${t}, s.name, s.id::text, 's:' || s.id, d.v, encode(sha256(convert_to(to_json(s.name)::text || E'\\n' || d.v::text, 'UTF8')), 'hex')
  from ${staging} s cross join lateral (select to_jsonb(s) - 'name' as v) d
on conflict (tenant_id, vertical, entity_type, dedup_key) do update
  set name = excluded.name, source_id = excluded.source_id, vertical_data = excluded.vertical_data,
      content_hash = excluded.content_hash, updated_at = now()
  where e.content_hash is distinct from excluded.content_hash;
`;
  const scriptFile = join(tmpdir(), `qbench-ceiling-${process.pid}.sql`);
  writeFileSync(scriptFile, script);
  const source = sourceCommand(src, since);
  const pipeline = `${source.command} | psql -X -d ${shq(platformUrl)} -f ${shq(scriptFile)}`;
  const { code, stdout, stderr, wallMs, tree } = await timedPipeline(pipeline, source.env);
  rmSync(scriptFile, { force: true });
  if (code !== 0) throw new Error(`ceiling pipeline exited with ${code}: ${stderr.replace(/-p'[^']*'/g, '-p***').trim() || stdout.trim()}`);
  const copied = /^COPY (\d+)/m.exec(stdout);
  const inserted = /^INSERT 0 (\d+)/m.exec(stdout);
  if (!copied || !inserted) throw new Error(`unexpected psql output: ${stdout} ${stderr}`);
  // The key is cast to text under another name: `order by id` would otherwise sort the text ('999999' > '1000000').
  const { rows } = await db.query<{ u: string; k: string }>(
    `select to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00' as u, id::text as k from ${staging} order by updated_at desc, id desc limit 1`,
  );
  const watermark = rows[0] ? { updatedAt: rows[0].u, id: rows[0].k } : since;
  return { wallMs, copied: Number(copied[1]), written: Number(inserted[1]), tree, watermark };
}

/**
 * The floor of the entities shape (PostgreSQL source, first load only): what PostgreSQL alone needs to write the rows as
 * entities, with no application in between and nothing compared. The source's backend makes each row's entity in SQL
 * (a time-ordered id, name, source_id, dedup key, the row as jsonb minus name) and `COPY … TO STDOUT` pipes it into
 * `COPY … FROM STDIN` of a table of the entities shape (same columns, defaults and indexes), as a first load's COPY
 * does: the source's read, the jsonb parse, the heap and the three B-tree inserts, on two backends, one per core.
 */
export async function loadFloor(
  src: { url: string; table: string },
  platformUrl: string,
  target: { tenantId: string; vertical: string; entityType: string },
): Promise<Omit<CeilingResult, 'watermark' | 'written'>> {
  // UUIDv7-shaped ids in read order (48 bits of milliseconds, then bits from the key): the heap and the id indexes append.
  const id = `(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || '7' || substr(md5(id::text), 1, 3) || '8' || substr(md5(id::text), 4, 15))`;
  const t = [target.tenantId, target.vertical, target.entityType].map(lit).join(', ');
  const select = `select ${id}, ${t}, name, id::text, 's:' || id, to_jsonb(p) - 'name' from ${src.table} p order by updated_at, id`;
  const columns = 'id, tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data';
  const pipeline =
    `psql -X -q -v ON_ERROR_STOP=1 -d ${shq(src.url)} -c ${shq(`\\copy (${select}) to stdout`)} | ` +
    `psql -X -v ON_ERROR_STOP=1 -d ${shq(platformUrl)} -c ${shq(`\\copy ${FLOOR_TABLE} (${columns}) from pstdin`)}`;
  const { code, stdout, stderr, wallMs, tree } = await timedPipeline(pipeline, {});
  const copied = /^COPY (\d+)/m.exec(stdout);
  if (code !== 0 || !copied) throw new Error(`floor pipeline exited with ${code}: ${stderr.trim() || stdout.trim()}`);
  return { wallMs, copied: Number(copied[1]), tree };
}

/** Runs a shell pipeline (pipefail, the session in UTC), timed from its start to its end, its process tree watched. */
async function timedPipeline(pipeline: string, env: Record<string, string>) {
  const t0 = performance.now();
  const child = spawn('bash', ['-o', 'pipefail', '-c', pipeline], {
    env: { ...process.env, ...env, PGTZ: 'UTC' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stopTree = watchTree(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr, wallMs: performance.now() - t0, tree: stopTree() };
}
