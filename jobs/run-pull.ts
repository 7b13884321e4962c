import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { validateStoredDefinition } from '../connectors/connector-config';
import type { Cursor, RowBatch } from '../connectors/contract';
import { compileRecordMapper, RowMappingError, type RecordMapper } from '../connectors/map-record';
import { createConnector } from '../connectors/registry';
import type { PreparedBatch } from '../src/core/ingest';
import { Ingestion } from '../src/core/ingestion';
import type { RejectedRecord } from '../src/core/record';
import { sourceRulesFromEnv } from '../src/config';
import { withTransaction } from '../src/db/pool';
import { sourcePolicy } from '../src/source-policy';
import type { RunTotals } from '../src/store/connector-runs';
import type { ConnectorForRun } from '../src/store/connectors';
import { commitPullBatch, completePull, followBatch, markPullStart, openPull, takeBatchTurn } from '../src/store/pull-progress';
import type { ConnectorLock } from './connector-lock';
import { PreviousBatchNotCommitted, writeInOrder } from './ordered-writes';
import type { PullMode } from './pull-queue';
import { readAhead } from './read-ahead';

export interface PullProgress {
  rowsRead: number;
  cursor: Cursor | null;
}

export interface RunPullOptions {
  pool: pg.Pool;
  connector: ConnectorForRun;
  runId: string;
  mode: PullMode;
  /** When it aborts, the pull stops after committing the batch in hand. */
  signal: AbortSignal;
  /** The connector's lock; every commit first checks that the run still holds it. */
  lock?: Pick<ConnectorLock, 'assertHeld'>;
  onProgress?(p: PullProgress): unknown;
}

/**
 * How the attempt ended. Counts flow one way: each batch adds its counts to the run in the batch's own transaction,
 * and the pull's last statement hands back the run's committed totals, which the caller reports without reading
 * the run again.
 */
export type PullOutcome =
  /** Stopped by the signal before the source was exhausted; what was committed stays committed. */
  | { interrupted: true; rowsRead: number }
  /** The source was read to its end; `run` holds the run's totals over all its attempts. */
  | { interrupted: false; rowsRead: number; run: RunTotals };

interface PreparedRows {
  /** Its place in the read, from 0. */
  seq: number;
  rowCount: number;
  cursor: Cursor | null;
  /** The position committed before it (the last batch's that moved one, or where the run started). */
  cursorBefore: Cursor | null;
  prepared: PreparedBatch;
  keys: Set<string>;
}

/** Each source batch mapped to records (a row that cannot be mapped is refused with the reason) and prepared for the core. */
async function* prepareRows(
  batches: AsyncIterable<RowBatch>,
  mapRow: RecordMapper,
  ingestion: Ingestion,
  startCursor: Cursor | null,
): AsyncGenerator<PreparedRows> {
  let offset = 0;
  let seq = 0;
  let cursorBefore = startCursor;
  for await (const batch of batches) {
    const records: unknown[] = [];
    const positions: number[] = [];
    const refused: RejectedRecord[] = [];
    for (let i = 0; i < batch.rows.length; i++) {
      const mapped = mapRow(batch.rows[i]!);
      if (mapped instanceof RowMappingError) {
        refused.push({
          position: offset + i,
          raw: batch.rows[i],
          errorType: 'invalid_record',
          problems: [{ loc: [], msg: mapped.message, type: 'value_error.mapping' }],
        });
      } else {
        records.push(mapped);
        positions.push(offset + i);
      }
    }
    offset += batch.rows.length;
    const prepared = await ingestion.prepare(records, { positions, refused });
    const keys = new Set(prepared.rows.map((r) => r.dedupKey));
    yield { seq: seq++, rowCount: batch.rows.length, cursor: batch.cursor, cursorBefore, prepared, keys };
    if (batch.cursor !== null) cursorBefore = batch.cursor;
  }
}

/**
 * One run of one connector: reads batches in cursor order and commits each batch's records through the
 * ingestion core together with the cursor after it, in one transaction, while the source reads the next
 * batch. Two batches are written at once on two connections (the database's upsert is the slow part, and it
 * then uses two cores), and they commit in read order (`writeInOrder`, `followBatch`): a crash at any moment
 * leaves a prefix of the batches committed with the cursor of its last one, so the next attempt resumes right
 * after it; a batch that did not commit is read again and upserts to the same entities. The caller holds the
 * connector's lock.
 */
export async function runPull(o: RunPullOptions): Promise<PullOutcome> {
  const { pool, connector, runId } = o;
  const definition = validateStoredDefinition(connector);
  const target = { tenantId: connector.tenantId, vertical: connector.vertical, entityType: connector.entityType };
  const start = await withTransaction(pool, (tx) => openPull(tx, runId, connector.id, o.mode));
  const ingestion = await Ingestion.open(
    pool,
    target,
    { type: 'connector', name: connector.name },
    { resume: start.ingestionId, lazy: true },
  );
  let rowsRead = 0;
  try {
    // Checked again before every run, on what the source's names resolve to now.
    const source = await createConnector(definition, await sourcePolicy(pool, sourceRulesFromEnv(process.env)));
    try {
      // The source clock at the run's first start becomes the next :last_pull, so a retried run loses no window.
      const now = start.sourceStartedAt ?? (await source.clock());
      await markPullStart(pool, runId, start.cursor, now);
      const plan = {
        mode: o.mode,
        cursor: start.cursor,
        now,
        lastPull: o.mode === 'full' ? null : start.lastPull,
        batchSize: definition.batch_size,
      };
      const described = await source.describe(plan);
      const mapRow = compileRecordMapper(definition, described.primaryKey);

      // Reading, mapping and checking the next batch overlaps the writes; two batches are written at once, committed in order.
      const turns = randomUUID();
      const outcome = await writeInOrder(readAhead(prepareRows(source.read(plan, o.signal), mapRow, ingestion, start.cursor)), {
        mayFollow: (previous, next) =>
          !o.signal.aborted &&
          // The first batch creates the run's ingestion; a batch that moves no position cannot be told committed.
          ingestion.id !== null &&
          previous.cursor !== null &&
          JSON.stringify(previous.cursor) !== JSON.stringify(previous.cursorBefore) &&
          // Batches sharing an entity would only wait for each other.
          next.prepared.rows.every((r) => !previous.keys.has(r.dedupKey)),
        write: async (batch, previous) => {
          await ingestion.write(batch.prepared, {
            first: (tx) => takeBatchTurn(tx, `${turns}:${batch.seq}`),
            // Only the entities are written beside the batch before: the run's bookkeeping rows wait for its commit.
            afterEntities: async (tx) => {
              if (previous && !(await followBatch(tx, connector.id, `${turns}:${previous.seq}`, previous.cursor!))) {
                throw new PreviousBatchNotCommitted();
              }
            },
            alongside: async (tx, written, ingestionId) => {
              await commitPullBatch(tx, {
                runId,
                connectorId: connector.id,
                ingestionId,
                rowsRead: batch.rowCount,
                written,
                cursor: batch.cursor,
              });
              await o.lock?.assertHeld(tx);
            },
          });
        },
        committed: async (batch) => {
          rowsRead += batch.rowCount;
          await o.onProgress?.({ rowsRead, cursor: batch.cursor });
          return o.signal.aborted;
        },
      });
      if (outcome === 'stopped') return { interrupted: true, rowsRead };

      const run = await withTransaction(pool, async (tx) => {
        const totals = await completePull(tx, runId, connector.id, now);
        await ingestion.finish(tx);
        await o.lock?.assertHeld(tx);
        return totals;
      });
      return { interrupted: false, rowsRead, run };
    } finally {
      await source.close();
    }
  } catch (err) {
    await ingestion.fail(err instanceof Error ? err.message : String(err));
    throw err;
  }
}
