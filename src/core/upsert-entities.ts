import type { Queryable } from '../db/pool';
import type { EntityRow } from './record';
import { COPY_NEW_ENTITIES_SQL, copyIn, entitiesCopy } from './copy-entities';

export type { EntityRow } from './record';

export interface UpsertOutcome {
  /** Entity id by dedup key, for the keys that were inserted or changed; empty when the caller asked for no ids. */
  written: Map<string, string>;
  inserted: number;
  updated: number;
}

const byDedupKey = (a: EntityRow, b: EntityRow) => (a.dedupKey < b.dedupKey ? -1 : a.dedupKey > b.dedupKey ? 1 : 0);

/**
 * The batch as one JSON document, `[{"n": name, "s": source_id, "k": dedup_key, "d": vertical_data}, …]`, in
 * dedup-key order. The upsert locks rows in document order, so every writer (requests, streams, pulls) takes
 * its locks in one order and two of them sharing keys wait for each other instead of deadlocking.
 */
export function entitiesDocument(rows: EntityRow[]): string {
  const ordered = [...rows].sort(byDedupKey);
  let json = '[';
  for (let i = 0; i < ordered.length; i++) {
    const r = ordered[i]!;
    json +=
      (i ? ',' : '') +
      '{"n":' +
      JSON.stringify(r.name) +
      ',"s":' +
      (r.sourceId === null ? 'null' : JSON.stringify(r.sourceId)) +
      ',"k":' +
      JSON.stringify(r.dedupKey) +
      ',"d":' +
      r.data +
      '}';
  }
  return json + ']';
}

/** The content hash of name `n` and vertical_data `d` (jsonb, whose text is canonical), as stored in `content_hash`. */
export const contentHashSql = (n: string, d: string) => `encode(sha256(convert_to(${n} || E'\\n' || ${d}::text, 'UTF8')), 'hex')`;

/**
 * Whether the stored entity `e` holds other content than name `n` and vertical_data `d` (jsonb) whose content hash is
 * `hash`. An entity written by a first load's COPY (`COPY_NEW_ENTITIES_SQL`) has no stored hash: its documents are compared
 * instead, as exactly (jsonb equality is their texts' equality: the core writes every number in one spelling, see
 * exact-number.ts, so equal values never differ in scale) and about as cheaply as the hashes. `hash` is evaluated only
 * for an entity that has one.
 */
export const contentDiffersSql = (e: string, n: string, d: string, hash: string) =>
  `case when ${e}.content_hash is null then ${e}.name is distinct from ${n} or ${e}.vertical_data is distinct from ${d}
        else ${e}.content_hash is distinct from ${hash} end`;

/** The stored entity `e`'s content hash: the stored one, else computed (a plain insert stores none). */
export const storedHashSql = (e: string) => `coalesce(${e}.content_hash, ${contentHashSql(`${e}.name`, `${e}.vertical_data`)})`;

/**
 * $1 tenant, $2 vertical, $3 entity type, $4 `entitiesDocument`, $5 the connector whose pull writes (null for a
 * push). A pull claims the entities it writes, unchanged ones too (entities written before ownership was recorded
 * have none); a push leaves the owner as it is. A batch whose keys are all new is copied instead (copy-entities.ts),
 * and stores no content hash: the hash is a sixth of an insert's CPU (the jsonb written out as text, SHA-256, and 65
 * bytes more of every heap tuple), and a first load never compares it. Whatever compares an entity later does it with
 * `contentDiffersSql`; an update stores the hash.
 */
const INSERT_ENTITIES = `insert into entities as e (tenant_id, vertical, entity_type, name, source_id, dedup_key, vertical_data, content_hash, connector_id)
  select $1, $2, $3, t.n, t.s, t.k, t.d, ${contentHashSql('t.n', 't.d')}, $5::uuid
    from jsonb_to_recordset($4::jsonb) as t(n text, s text, k text, d jsonb)`;

const ON_CONFLICT = `on conflict (tenant_id, vertical, entity_type, dedup_key) do update
    set name = excluded.name, source_id = excluded.source_id, vertical_data = excluded.vertical_data,
        content_hash = excluded.content_hash, updated_at = now(), connector_id = coalesce(excluded.connector_id, e.connector_id)
    where ${contentDiffersSql('e', 'excluded.name', 'excluded.vertical_data', 'excluded.content_hash')}
       or (excluded.connector_id is not null and e.connector_id is distinct from excluded.connector_id)`;

export const UPSERT_ENTITIES_SQL = `${INSERT_ENTITIES}
  ${ON_CONFLICT}
  returning e.id, e.dedup_key as k, (e.xmax = 0) as inserted`;

/**
 * `UPSERT_ENTITIES_SQL` answering its counts alone, for a caller that needs no entity ids (a pull): no row per entity
 * written for PostgreSQL to send and the worker to parse.
 */
export const UPSERT_ENTITIES_COUNTED_SQL = `with w as (${INSERT_ENTITIES}
  ${ON_CONFLICT}
  returning (e.xmax = 0) as inserted)
select count(*) filter (where inserted)::int as inserted, count(*)::int as written from w`;

/**
 * Memory for the batch's statement, for the rest of its transaction: jsonb_to_recordset gathers the batch's rows in a
 * tuplestore, which at the default 4 MB spills a batch of 5,000 rows of ~500 bytes to a temporary file and reads it
 * back (~2.7 MB a batch, and a sixth of the unpacking's CPU). One store per writer, and only as large as the batch.
 */
const BATCH_WORK_MEM = '64MB';

/**
 * $1 tenant. The tenant, checked and locked once per batch in its transaction: a tenant cannot be deleted while a batch
 * writes for it, and a batch for a deleted tenant writes nothing (the check a foreign key made once per row). The same
 * round trip sets the batch's work_mem for the rest of the transaction (`set_config(…, true)` is `SET LOCAL`).
 */
export const LOCK_TENANT_SQL = `select set_config('work_mem', '${BATCH_WORK_MEM}', true) from tenants where id = $1 for key share`;

/** The batch's work_mem alone, for the benchmarks that run the write statement without the tenant lock. */
export const BATCH_WORK_MEM_SQL = `set local work_mem = '${BATCH_WORK_MEM}'`;

export interface UpsertOptions {
  /** The connector whose pull writes (see `INSERT_ENTITIES`); null or absent for a push. */
  connectorId?: string | null;
  /** The caller's guess that no key exists yet, such as a first load's: the batch is first tried as new rows (COPY). */
  expectNew?: boolean;
  /** Whether the caller needs the ids of the entities written (`UpsertOutcome.written`); default true. */
  ids?: boolean;
}

/**
 * Run in the batch's transaction: the tenant is locked (`LOCK_TENANT_SQL`), then one statement writes the batch. The
 * rows travel as one jsonb document, unpacked by jsonb_to_recordset (parsed once). The content hash is computed by Postgres over the jsonb text, which is canonical (key order never
 * matters), so Node does not canonicalize or hash the common case. A row whose hash equals the stored one is
 * left alone (no new tuple, no WAL); the caller counts it as unchanged. The batch must not hold one dedup key
 * twice. With `expectNew`, the batch is first copied in as new rows (copy-entities.ts, ids made here), and upserted when
 * a key exists after all: either way the same rows and counts. Without `ids`, the upsert answers its counts alone and
 * `written` stays empty.
 */
export async function upsertEntities(
  db: Queryable,
  tenantId: string,
  vertical: string,
  entityType: string,
  rows: EntityRow[],
  o: UpsertOptions = {},
): Promise<UpsertOutcome> {
  if ((await db.query(LOCK_TENANT_SQL, [tenantId])).rowCount !== 1) throw new Error(`tenant ${tenantId} no longer exists`);
  const written = new Map<string, string>();
  if (o.expectNew) {
    const copy = entitiesCopy(rows, tenantId, vertical, entityType, o.connectorId ?? null);
    if (await insertNew(db, copy.chunks())) {
      if (o.ids !== false) copy.rows.forEach((r, i) => written.set(r.dedupKey, copy.idOf(i)));
      return { written, inserted: rows.length, updated: 0 };
    }
  }
  const params = [tenantId, vertical, entityType, entitiesDocument(rows), o.connectorId ?? null];
  if (o.ids === false) {
    const counts = (await db.query<{ inserted: number; written: number }>(UPSERT_ENTITIES_COUNTED_SQL, params)).rows[0]!;
    return { written, inserted: counts.inserted, updated: counts.written - counts.inserted };
  }
  const out = (await db.query<WrittenRow>(UPSERT_ENTITIES_SQL, params)).rows;
  let inserted = 0;
  for (const r of out) {
    written.set(r.k, r.id);
    if (r.inserted) inserted++;
  }
  return { written, inserted, updated: out.length - inserted };
}

interface WrittenRow {
  id: string;
  k: string;
  inserted: boolean;
}

/**
 * The batch's COPY input (`entitiesCopy`) copied in under a savepoint: false, with nothing written, when one of its keys
 * exists (committed, or by another writer that committed while this one waited for it). `db` must be in a transaction.
 */
async function insertNew(db: Queryable, chunks: Iterable<Buffer>): Promise<boolean> {
  await db.query('savepoint insert_new');
  try {
    await copyIn(db, COPY_NEW_ENTITIES_SQL, chunks);
    await db.query('release savepoint insert_new');
    return true;
  } catch (err) {
    if ((err as { code?: string; constraint?: string }).constraint !== 'entities_dedup' || (err as { code?: string }).code !== '23505')
      throw err;
    await db.query('rollback to savepoint insert_new');
    return false;
  }
}

/** Ids of existing entities by dedup key (for the unchanged rows of a batch, whose ids the upsert did not return). */
export async function entityIdsByKey(
  db: Queryable,
  tenantId: string,
  vertical: string,
  entityType: string,
  keys: string[],
): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; k: string }>(
    // Joined from the key list so the planner walks the unique index key by key, whatever the table's size.
    `select e.id, e.dedup_key as k from unnest($4::text[]) as w(k)
       join entities e on e.tenant_id = $1 and e.vertical = $2 and e.entity_type = $3 and e.dedup_key = w.k`,
    [tenantId, vertical, entityType, keys],
  );
  return new Map(rows.map((r) => [r.k, r.id]));
}

/**
 * Entities of `keys` that were soft-deleted are live again: their record was just written. Through the small
 * index of soft-deleted entities, so a batch without any costs one empty index probe per key. Resolves to how many.
 */
export async function undeleteEntities(
  db: Queryable,
  tenantId: string,
  vertical: string,
  entityType: string,
  keys: string[],
): Promise<number> {
  const { rowCount } = await db.query(
    `update entities set deleted_at = null, updated_at = now()
      where tenant_id = $1 and vertical = $2 and entity_type = $3 and dedup_key = any($4::text[]) and deleted_at is not null`,
    [tenantId, vertical, entityType, keys],
  );
  return rowCount ?? 0;
}

export type PredictedWrite = 'insert' | 'update' | 'unchanged';

/** What `upsertEntities` would do with each row, by dedup key, without writing: the same hash compared with the stored one. */
export async function predictUpsert(
  db: Queryable,
  tenantId: string,
  vertical: string,
  entityType: string,
  rows: EntityRow[],
): Promise<Map<string, PredictedWrite>> {
  const { rows: out } = await db.query<{ k: string; action: PredictedWrite }>(
    `select t.k, case when e.id is null then 'insert'
                    when ${contentDiffersSql('e', 't.n', 't.d', contentHashSql('t.n', 't.d'))} then 'update' else 'unchanged' end as action
       from jsonb_to_recordset($4::jsonb) as t(n text, s text, k text, d jsonb)
       left join entities e on e.tenant_id = $1 and e.vertical = $2 and e.entity_type = $3 and e.dedup_key = t.k`,
    [tenantId, vertical, entityType, entitiesDocument(rows)],
  );
  return new Map(out.map((r) => [r.k, r.action]));
}
