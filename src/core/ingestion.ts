import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Queryable } from '../db/pool';
import { withRetriedTransaction } from '../db/retried-transaction';
import { ingestRecordsTotal } from '../metrics';
import { batchPreparer, writeBatch, type IngestResult, type IngestTarget, type PreparedBatch, type PrepareOptions } from './ingest';
import { createIngestion, finishIngestion, reopenIngestion, type IngestionCounts, type IngestionView, type SourceType } from './ingestions';
import { validatorFor } from './schema-registry';

/** Records prepared between two returns of the thread to other work (see `Ingestion.prepare`): a few milliseconds' worth. */
const PREPARE_STEP = 500;

export interface IngestionSource {
  type: SourceType;
  /** The connector's name, for a connector run. */
  name?: string;
}

export interface OpenOptions {
  /** An ingestion an earlier attempt of the same intake opened (a retried connector run): taken up again. */
  resume?: string | null;
  /** Created with the first batch, in its transaction: an intake that writes nothing (a run that finds nothing new) leaves none behind. */
  lazy?: boolean;
}

export interface WriteOptions {
  /** Work the batch's transaction does before anything else (a pull batch takes its turn); runs again when the transaction is retried. */
  first?(tx: Queryable): Promise<void>;
  /**
   * Work once the batch's entities are written, before the ingestion's DLQ entries and counts, which every batch of the
   * ingestion updates (a pull batch written beside another waits there for that one to commit); runs again on retry.
   */
  afterEntities?(tx: Queryable): Promise<void>;
  /** Entity ids in input order, for the batch API's answer. */
  returnIds?: boolean;
  /**
   * More work for the batch's transaction once the batch is written (a pull's cursor and run counts): it commits
   * with the batch or not at all, and runs again with it when the transaction is retried.
   */
  alongside?(tx: Queryable, written: IngestResult, ingestionId: string): Promise<void>;
}

/**
 * One unit of intake (a batch request, a webhook call, a stream, a connector run) from open to close, the one way
 * records get into the core: `open`, then `prepare` and `write` each batch, then `finish` (or `fail`). Each batch is
 * one transaction holding its entities, its DLQ entries and its counts, run again when another writer of the same
 * entities made PostgreSQL abort it (the batch is prepared once).
 */
export class Ingestion {
  /** What this object's batches added to the ingestion, each counted once it has committed. */
  readonly counts: IngestionCounts = { records: 0, inserted: 0, updated: 0, unchanged: 0, duplicates: 0, rejected: 0 };
  #id: string | null;
  /**
   * The id a lazy ingestion is created with, made as its first write starts: a batch written beside the one that creates it (a
   * pull's second, see run-pull.ts) refers to it, its bookkeeping waiting inside PostgreSQL for that one to commit.
   */
  #lazyId: string | null = null;
  /** A write in flight creates the lazy ingestion: the writes that start meanwhile must not create it again. */
  #creating = false;
  /** Every row of the last batch written was new: the next batch likely holds new keys only (a first load's do). */
  #inserting = false;

  private constructor(
    private readonly pool: pg.Pool,
    readonly target: IngestTarget,
    private readonly source: IngestionSource,
    id: string | null,
  ) {
    this.#id = id;
  }

  static async open(pool: pg.Pool, target: IngestTarget, source: IngestionSource, o: OpenOptions = {}): Promise<Ingestion> {
    let id = o.resume ?? null;
    if (id) await reopenIngestion(pool, id);
    else if (!o.lazy) id = await createIngestion(pool, target.tenantId, target, source.type, source.name ?? null);
    return new Ingestion(pool, target, source, id);
  }

  /** Null while a lazy ingestion has committed no batch. */
  get id(): string | null {
    return this.#id;
  }

  /**
   * Normalizes the records, checks them against the target's registered schema and collapses repeated keys; writes
   * nothing. It gives the thread back every `PREPARE_STEP` records: a batch of thousands takes tens of milliseconds, and a
   * pull's writers meanwhile wait for it to send their next statement or the rest of a COPY's data.
   */
  async prepare(records: unknown[], o: PrepareOptions = {}): Promise<PreparedBatch> {
    const validate = await validatorFor(this.pool, this.target.tenantId, this.target.vertical, this.target.entityType);
    const preparer = batchPreparer(records, validate, o);
    for (let from = 0; from < records.length; from += PREPARE_STEP) {
      if (from > 0) await new Promise(setImmediate);
      preparer.prepare(from, Math.min(from + PREPARE_STEP, records.length));
    }
    return preparer.result();
  }

  /**
   * Writes a prepared batch in its own transaction; resolves once it has committed. The first write of a lazy ingestion
   * creates it; a write started while that one is in flight refers to it and must, inside its transaction, wait for that
   * one to commit before `afterEntities` returns (a pull's `followBatch` does), since the ingestion's counts and DLQ
   * follow; counts that find no ingestion fail the batch.
   */
  async write(batch: PreparedBatch, o: WriteOptions = {}): Promise<IngestResult> {
    const creates = this.#id === null && !this.#creating;
    if (creates) this.#creating = true;
    const id = this.#id ?? (this.#lazyId ??= randomUUID());
    let written: IngestResult;
    try {
      written = await withRetriedTransaction(this.pool, async (tx) => {
        await o.first?.(tx);
        if (creates) await createIngestion(tx, this.target.tenantId, this.target, this.source.type, this.source.name ?? null, id);
        const afterEntities = o.afterEntities && (() => o.afterEntities!(tx));
        const written = await writeBatch(tx, this.target, batch, {
          ingestionId: id,
          returnIds: o.returnIds,
          expectNew: this.#inserting,
          afterEntities,
        });
        await o.alongside?.(tx, written, id);
        return written;
      });
    } finally {
      if (creates) this.#creating = false;
    }
    this.#id = id;
    this.#inserting = batch.rows.length > 0 && written.inserted === batch.rows.length;
    for (const k of ['records', 'inserted', 'updated', 'unchanged', 'duplicates', 'rejected'] as const) this.counts[k] += written[k];
    const source = this.source.type;
    ingestRecordsTotal.inc({ source, outcome: 'inserted' }, written.inserted);
    ingestRecordsTotal.inc({ source, outcome: 'updated' }, written.updated);
    ingestRecordsTotal.inc({ source, outcome: 'unchanged' }, written.duplicates);
    ingestRecordsTotal.inc({ source, outcome: 'rejected' }, written.rejected);
    return written;
  }

  /**
   * Closes it: complete, partial when some records went to the DLQ, failed when all did. `db` closes it in the
   * caller's transaction (a pull's last one). Null when no batch ever created a lazy ingestion.
   */
  async finish(db: Queryable = this.pool): Promise<IngestionView | null> {
    return this.#id ? finishIngestion(db, this.#id) : null;
  }

  /** Closes it as failed with `reason`; best effort, since the caller is already reporting the failure that ended the intake. */
  async fail(reason: string): Promise<void> {
    if (this.#id) await finishIngestion(this.pool, this.#id, reason).catch(() => {});
  }
}
