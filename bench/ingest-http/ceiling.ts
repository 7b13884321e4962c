import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type pg from 'pg';
import { canonicalJson } from '../../src/core/canonical-json';
import { normalizeRecord } from '../../src/core/normalize-record';
import { runCommand } from '../lib/child-process';
import { product } from './products';

/**
 * The ceiling: the rows the API stores, loaded by plain SQL on the same server, with COPY into an
 * unlogged staging table and one INSERT … ON CONFLICT into `entities`, in one session or several in
 * parallel (one INSERT runs on one core; the API may use several). psql (C) sends the COPY, so the
 * figure is the database's work, not a JavaScript client's.
 */

export interface EntityRow {
  name: string;
  sourceId: string;
  dedupKey: string;
  data: string;
  hash: string;
}

/** Record i as the ingestion core stores it (its normalization, canonical JSON and hash). */
export function entityRow(i: number): EntityRow {
  const n = normalizeRecord(product(i));
  if (!n.ok) throw new Error(`generated record ${i} is invalid: ${JSON.stringify(n.problems)}`);
  const data = canonicalJson(n.record.verticalData);
  // Same formula as src/core/ingest.ts; run.ts compares a sample with the API's rows to catch drift.
  const hash = createHash('sha256').update(JSON.stringify(n.record.name)).update('\n').update(data).digest('hex');
  const sourceId = n.record.sourceId!;
  return { name: n.record.name, sourceId, dedupKey: 's:' + sourceId, data, hash };
}

const csv = (s: string) => `"${s.replaceAll('"', '""')}"`;

/**
 * Writes records 0 … count-1 as COPY input (CSV), before any clock starts: for each session count in
 * `layouts`, that many files holding consecutive slices. One pass, since a row costs ~10 µs to build.
 */
export async function writeCeilingInputs(pathPrefix: string, count: number, layouts: number[]): Promise<Map<number, string[]>> {
  const files = new Map(layouts.map((n) => [n, Array.from({ length: n }, (_, k) => `${pathPrefix}-${n}-${k}.csv`)]));
  const outs = new Map([...files].map(([n, paths]) => [n, paths.map((p) => createWriteStream(p))]));
  for (let start = 0; start < count; start += 1000) {
    let text = '';
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      const r = entityRow(i);
      text += `${csv(r.name)},${csv(r.sourceId)},${csv(r.dedupKey)},${csv(r.data)},${r.hash}\n`;
    }
    for (const [n, streams] of outs) {
      const out = streams[Math.min(n - 1, Math.floor((start * n) / count))]!;
      if (!out.write(text)) await once(out, 'drain');
    }
  }
  await Promise.all([...outs.values()].flat().map((out) => (out.end(), once(out, 'finish'))));
  return files;
}

const staging = (k: number) => `bench_ceiling_staging_${k}`;

/** Empty staging tables, one per session (unlogged: COPY into them writes no WAL). */
export async function resetStaging(db: pg.Client, sessions: number): Promise<void> {
  for (let k = 0; k < sessions; k++) {
    await db.query(
      `create unlogged table if not exists ${staging(k)} (name text, source_id text, dedup_key text, vertical_data jsonb, content_hash text)`,
    );
    await db.query(`truncate ${staging(k)}`);
  }
}

export interface CeilingResult {
  wallMs: number;
  copied: number;
  /** Rows the INSERTs wrote (inserted or changed); 0 when every row was unchanged. */
  written: number;
}

const literal = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** One session: COPY a file into its staging table, then one INSERT … ON CONFLICT into entities. */
async function loadOne(dbUrl: string, table: string, target: string, file: string): Promise<{ copied: number; written: number }> {
  // The same statement shape as src/core/upsert-entities.ts, minus its JSON unpacking and RETURNING.
  const script = `\\set ON_ERROR_STOP on
\\copy ${table} (name, source_id, dedup_key, vertical_data, content_hash) from ${literal(file)} with (format csv)
insert into entities as e (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash)
select ${target}, s.name, s.source_id, s.dedup_key, s.vertical_data, s.content_hash from ${table} s
on conflict (tenant_id, vertical, entity_type, dedup_key) do update
  set name = excluded.name, source_id = excluded.source_id, vertical_data = excluded.vertical_data,
      content_hash = excluded.content_hash, updated_at = now()
  where e.content_hash is distinct from excluded.content_hash;
`;
  const { stdout } = await runCommand('psql', ['-X', '-d', dbUrl, '-f', '-'], { input: script });
  const copied = /^COPY (\d+)/m.exec(stdout);
  const inserted = /^INSERT 0 (\d+)/m.exec(stdout);
  if (!copied || !inserted) throw new Error(`unexpected psql output: ${stdout}`);
  return { copied: Number(copied[1]), written: Number(inserted[1]) };
}

/**
 * Loads the files in parallel, one psql session each (disjoint keys, so no session waits on
 * another's rows), timed from the first psql's start to the last one's exit (start-up is ~10 ms).
 */
export async function loadCeiling(
  dbUrl: string,
  tenantId: string,
  vertical: string,
  entityType: string,
  files: string[],
): Promise<CeilingResult> {
  const target = [tenantId, vertical, entityType].map(literal).join(', ');
  const t0 = performance.now();
  const parts = await Promise.all(files.map((file, k) => loadOne(dbUrl, staging(k), target, file)));
  const wallMs = performance.now() - t0;
  return { wallMs, copied: parts.reduce((a, p) => a + p.copied, 0), written: parts.reduce((a, p) => a + p.written, 0) };
}
