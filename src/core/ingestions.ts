import type { Queryable } from '../db/pool';
import { isExactNumber } from './exact-number';
import type { RejectedRecord } from './record';
import { storableText } from './record-problems';

export type SourceType = 'batch' | 'webhook' | 'stream' | 'connector';

/** An ingestion as the API shows it. */
export interface IngestionView {
  id: string;
  tenant_id: string;
  source_type: SourceType;
  source_name: string | null;
  vertical: string;
  entity_type: string;
  status: 'processing' | 'complete' | 'partial' | 'failed';
  record_count: number;
  accepted: number;
  inserted: number;
  updated: number;
  unchanged: number;
  duplicate_count: number;
  rejected: number;
  error_summary: Record<string, unknown> | null;
  created_at: string;
  completed_at: string | null;
}

const COLUMNS = `id, tenant_id, source_type, source_name, vertical, entity_type, status, record_count,
  record_count - rejected as accepted, inserted, updated, unchanged, duplicate_count, rejected, error_summary, created_at, completed_at`;

/** A new ingestion, processing; `id` given by a caller that names it before it exists (a lazy one, see `Ingestion`). */
export async function createIngestion(
  db: Queryable,
  tenantId: string,
  target: { vertical: string; entityType: string },
  sourceType: SourceType,
  sourceName: string | null = null,
  id: string | null = null,
): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into ingestions (id, tenant_id, source_type, source_name, vertical, entity_type)
     values (coalesce($6::uuid, gen_random_uuid()), $1, $2, $3, $4, $5) returning id`,
    [tenantId, sourceType, sourceName, target.vertical, target.entityType, id],
  );
  return rows[0]!.id;
}

export interface IngestionCounts {
  records: number;
  inserted: number;
  updated: number;
  /** Records identical to the stored entity: not rewritten. */
  unchanged: number;
  /** Records that changed nothing: `unchanged` plus in-batch duplicates (the earlier of two with one key). */
  duplicates: number;
  rejected: number;
}

/** Adds a batch's counts to its ingestion; runs in the batch's transaction so counts match what was committed. */
export async function addIngestionCounts(db: Queryable, ingestionId: string, c: IngestionCounts): Promise<void> {
  // A batch's counts must land: an ingestion that is not there (yet) is a bug in the caller's ordering, never a silent loss.
  const { rowCount } = await db.query(
    `update ingestions set record_count = record_count + $2, inserted = inserted + $3, updated = updated + $4,
       unchanged = unchanged + $5, duplicate_count = duplicate_count + $6, rejected = rejected + $7 where id = $1`,
    [ingestionId, c.records, c.inserted, c.updated, c.unchanged, c.duplicates, c.rejected],
  );
  if (rowCount !== 1) throw new Error(`ingestion ${ingestionId} does not exist`);
}

/** An ingestion taken up again (by a retried connector run): processing, as when it was created. */
export async function reopenIngestion(db: Queryable, ingestionId: string): Promise<void> {
  await db.query("update ingestions set status = 'processing', completed_at = null where id = $1", [ingestionId]);
}

/** Marks an ingestion finished: `complete`, `partial` when some records went to the DLQ, or `failed`. */
export async function finishIngestion(db: Queryable, ingestionId: string, error?: string): Promise<IngestionView> {
  const { rows } = await db.query<IngestionView>(
    `update ingestions set completed_at = now(),
       status = case when $2::text is not null then 'failed' when rejected > 0 and rejected = record_count then 'failed'
                     when rejected > 0 then 'partial' else 'complete' end,
       error_summary = case when $2::text is not null then jsonb_build_object('error', $2::text) else error_summary end
     where id = $1 returning ${COLUMNS}`,
    [ingestionId, error ?? null],
  );
  return rows[0]!;
}

export async function getIngestion(db: Queryable, tenantId: string, id: string): Promise<IngestionView | null> {
  const { rows } = await db.query<IngestionView>(`select ${COLUMNS} from ingestions where tenant_id = $1 and id = $2`, [tenantId, id]);
  return rows[0] ?? null;
}

/** Values nested deeper than `depth` replaced by "…", bigints as text: something JSON.stringify can always write. */
function cutDeep(v: unknown, depth: number): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v !== 'object' || v === null || isExactNumber(v)) return v;
  if (depth === 0) return '…';
  if (Array.isArray(v)) return v.map((x) => cutDeep(x, depth - 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cutDeep(x, depth - 1)]));
}

/**
 * A refused record as DLQ text: a line that did not parse as it came (NUL and unpaired surrogates escaped,
 * which a text column cannot hold), anything else as JSON, which escapes them itself. A record nested too
 * deep for JSON.stringify's stack is kept cut below 64 levels.
 */
function rawText(r: RejectedRecord): string {
  if (r.errorType === 'parse_error') return storableText(String(r.raw));
  try {
    return JSON.stringify(r.raw) ?? 'null';
  } catch {
    return JSON.stringify(cutDeep(r.raw, 64));
  }
}

/** Writes refused records (their problems already tidied by the core) to the DLQ in one statement. */
export async function recordRejections(db: Queryable, tenantId: string, ingestionId: string, rejected: RejectedRecord[]): Promise<void> {
  if (rejected.length === 0) return;
  const payload = rejected.map((r) => ({ p: r.position, r: rawText(r), t: r.errorType, m: r.problems }));
  await db.query(
    `insert into ingestion_errors (ingestion_id, tenant_id, position, raw, error_type, messages)
     select $1, $2, t.p, t.r, t.t, t.m from json_to_recordset($3::json) as t(p int, r text, t text, m jsonb)`,
    [ingestionId, tenantId, JSON.stringify(payload)],
  );
}

export interface IngestionError {
  id: string;
  position: number;
  raw: string;
  error_type: string;
  messages: Array<{ loc: Array<string | number>; msg: string; type: string }>;
  created_at: string;
}

/** DLQ entries of an ingestion, oldest first, keyset-paginated by id. */
export async function listIngestionErrors(
  db: Queryable,
  tenantId: string,
  ingestionId: string,
  limit: number,
  after?: string,
): Promise<IngestionError[]> {
  const { rows } = await db.query<IngestionError>(
    `select id::text, position, raw, error_type, messages, created_at from ingestion_errors
      where tenant_id = $1 and ingestion_id = $2 and id > $3 order by ingestion_errors.id limit $4`,
    [tenantId, ingestionId, after ?? '0', limit],
  );
  return rows;
}
