import type { ValidateFunction } from 'ajv/dist/2020.js';
import type { Queryable } from '../db/pool';
import { contentKey } from './canonical-json';
import { asDoubles } from './exact-number';
import { splicedDocument, withJsonParsed } from './json-text';
import { addIngestionCounts, recordRejections, type IngestionCounts } from './ingestions';
import { normalizeRecord } from './normalize-record';
import { ReadyRecord } from './ready-record';
import { tidyProblems, unstorablePlace } from './record-problems';
import type { RecordProblem, RejectedRecord } from './record';
import { validationProblems } from './schema-registry';
import { entityIdsByKey, undeleteEntities, upsertEntities, type EntityRow } from './upsert-entities';

export interface IngestTarget {
  tenantId: string;
  vertical: string;
  entityType: string;
  /** The connector whose pull writes: its entities record it as their owner. Absent for pushes. */
  connectorId?: string;
}

export interface PrepareOptions {
  /** Position of each record (a stream's line numbers, a connector's row offsets); default its index. */
  positions?: number[];
  /** Records the caller already refused (a source row that could not be mapped): DLQ'd and counted with the batch. */
  refused?: RejectedRecord[];
}

export interface WriteBatchOptions {
  /** The ingestion whose counts and DLQ this batch adds to. */
  ingestionId: string;
  /** Whether the caller needs entity ids in input order (the batch API does, a connector run does not). */
  returnIds?: boolean;
  /** The caller expects every key of the batch to be new (see `upsertEntities`). */
  expectNew?: boolean;
  /** Work between the entities and the ingestion's DLQ and counts (see `WriteOptions.afterEntities`). */
  afterEntities?(): Promise<void>;
}

/** A batch's counts (`IngestionCounts`) plus what the caller reports back per record. */
export interface IngestResult extends IngestionCounts {
  /** Entity id per input record (null when rejected); empty unless `returnIds`. */
  entityIds: Array<string | null>;
  rejections: RejectedRecord[];
  /** Soft-deleted entities the batch brought back. */
  undeleted: number;
}

/** A batch checked and collapsed in memory, ready for `writeBatch`; computing it needs no database. */
export interface PreparedBatch {
  /** Input records, the caller's refused ones included. */
  records: number;
  /** One row per dedup key (the last occurrence wins), in input order. */
  rows: EntityRow[];
  /** Dedup key per input record (null when refused). */
  keys: Array<string | null>;
  rejections: RejectedRecord[];
  /** Records that repeated a key of the same batch. */
  duplicates: number;
}

/**
 * Normalizes the records, validates them against the target's schema (`validate`, from `validatorFor`),
 * and collapses records sharing a key (the last wins). Synchronous and pure, so a pull prepares its next
 * batch while the current one is being written.
 */
export function prepareBatch(records: unknown[], validate: ValidateFunction | null, opts: PrepareOptions = {}): PreparedBatch {
  const preparer = batchPreparer(records, validate, opts);
  preparer.prepare(0, records.length);
  return preparer.result();
}

/**
 * `prepareBatch` in steps: `prepare(from, to)` takes the records of that range (every range once, in order), `result()`
 * gives the batch. A caller that shares its thread with other work (a pull's writers, whose statements and COPY data wait
 * for the thread) returns to it between steps.
 */
export function batchPreparer(records: unknown[], validate: ValidateFunction | null, opts: PrepareOptions = {}) {
  // A refused record is kept as it came, its JSON texts parsed (what the DLQ shows is the value).
  const rejections: RejectedRecord[] = (opts.refused ?? []).map((r) => ({
    ...r,
    raw: withJsonParsed(r.raw),
    problems: tidyProblems(r.problems),
  }));
  const refuse = (position: number, raw: unknown, errorType: RejectedRecord['errorType'], problems: RecordProblem[]) =>
    rejections.push({ position, raw, errorType, problems: tidyProblems(problems) });
  const keys: Array<string | null> = new Array(records.length).fill(null);
  const byKey = new Map<string, EntityRow>();
  let duplicates = 0;

  const prepare = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const position = opts.positions?.[i] ?? i;
      let record = records[i];
      if (record instanceof ReadyRecord) {
        if (validate === null) {
          keys[i] = collapse(record);
          continue;
        }
        record = record.toRecord();
      }
      let n = normalizeRecord(record);
      let data: string | null = null;
      // JSON texts (json-text.ts) are spliced into the document unparsed when nothing needs their values: no schema, a
      // source_id for the key. Otherwise, when one cannot be spliced, or when the record is refused, they are parsed and
      // the record checked again: what is kept or refused, and why, is what the parsed record gives.
      const texts = n.ok ? n.record.jsonTexts : null;
      if (texts && validate === null && n.ok && n.record.sourceId !== null) data = splicedDocument(n.record.verticalData, texts);
      if (data === null && (texts || !n.ok)) {
        const parsed = withJsonParsed(record);
        if (parsed !== record) n = normalizeRecord((record = parsed));
      }
      if (!n.ok) {
        refuse(position, record, 'invalid_record', n.problems);
        continue;
      }
      const { name, sourceId, verticalData, exactNumbers } = n.record;
      // A JSON Schema validator compares numbers as doubles; the exact ones are checked by their nearest double.
      if (validate && !validate(exactNumbers ? asDoubles(verticalData) : verticalData)) {
        refuse(position, record, 'schema_validation', validationProblems(validate.errors));
        continue;
      }
      data ??= JSON.stringify(verticalData);
      // JSON.stringify writes NUL and unpaired surrogates as \u escapes: only then is there anything to look for.
      const bad = data.includes('\\u') ? unstorablePlace(verticalData, ['vertical_data']) : null;
      if (bad) {
        refuse(position, withJsonParsed(record), 'invalid_record', [bad]);
        continue;
      }
      const dedupKey = sourceId !== null ? 's:' + sourceId : 'h:' + contentKey(name, verticalData);
      keys[i] = collapse({ name, sourceId, dedupKey, data });
    }
  };
  /** Keeps `row` as its key's row (the last occurrence wins); returns its key. */
  const collapse = (row: EntityRow): string => {
    if (byKey.has(row.dedupKey)) {
      duplicates++;
      byKey.delete(row.dedupKey); // re-insert so the map keeps the last occurrence's order
    }
    byKey.set(row.dedupKey, row);
    return row.dedupKey;
  };
  const result = (): PreparedBatch => ({
    records: records.length + (opts.refused?.length ?? 0),
    rows: [...byKey.values()],
    keys,
    rejections,
    duplicates,
  });
  return { prepare, result };
}

/**
 * Writes a prepared batch: upserts its rows in one statement, sends its refused records to the ingestion's
 * DLQ and adds its counts to the ingestion, all on `db` (pass a client in a transaction to make the batch
 * atomic with other writes, such as a connector's cursor).
 */
export async function writeBatch(
  db: Queryable,
  target: IngestTarget,
  batch: PreparedBatch,
  opts: WriteBatchOptions,
): Promise<IngestResult> {
  const { tenantId, vertical, entityType } = target;
  const { rows } = batch;
  const outcome = rows.length
    ? await upsertEntities(db, tenantId, vertical, entityType, rows, {
        connectorId: target.connectorId ?? null,
        expectNew: opts.expectNew,
        ids: opts.returnIds ?? false,
      })
    : { written: new Map<string, string>(), inserted: 0, updated: 0 };
  // An entity this batch inserted did not exist, soft-deleted or not.
  const undeleted =
    rows.length > outcome.inserted
      ? await undeleteEntities(
          db,
          tenantId,
          vertical,
          entityType,
          rows.map((r) => r.dedupKey),
        )
      : 0;
  await opts.afterEntities?.();
  const unchanged = rows.length - outcome.inserted - outcome.updated;

  let entityIds: Array<string | null> = [];
  if (opts.returnIds) {
    const ids = outcome.written;
    const missing = rows.filter((r) => !ids.has(r.dedupKey)).map((r) => r.dedupKey);
    if (missing.length) for (const [k, id] of await entityIdsByKey(db, tenantId, vertical, entityType, missing)) ids.set(k, id);
    entityIds = batch.keys.map((k) => (k === null ? null : (ids.get(k) ?? null)));
  }

  await recordRejections(db, tenantId, opts.ingestionId, batch.rejections);
  const result: IngestResult = {
    records: batch.records,
    inserted: outcome.inserted,
    updated: outcome.updated,
    unchanged,
    duplicates: batch.duplicates + unchanged,
    rejected: batch.rejections.length,
    entityIds,
    rejections: batch.rejections,
    undeleted,
  };
  await addIngestionCounts(db, opts.ingestionId, result);
  return result;
}
