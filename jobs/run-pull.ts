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
import { commitPullBatch, completePull, markPullStart, openPull } from '../src/store/pull-progress';
import type { ConnectorLock } from './connector-lock';
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
  rowCount: number;
  cursor: Cursor | null;
  prepared: PreparedBatch;
}

/** Each source batch mapped to records (a row that cannot be mapped is refused with the reason) and prepared for the core. */
async function* prepareRows(batches: AsyncIterable<RowBatch>, mapRow: RecordMapper, ingestion: Ingestion): AsyncGenerator<PreparedRows> {
  let offset = 0;
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
    yield { rowCount: batch.rows.length, cursor: batch.cursor, prepared: await ingestion.prepare(records, { positions, refused }) };
  }
}

/**
 * One run of one connector: reads batches in cursor order and commits each batch's records through the
 * ingestion core together with the cursor after it, in one transaction, while the source reads the next
 * batch. A crash after a commit resumes after that batch; a crash before it re-reads the batch, which
 * upserts to the same entities. The caller holds the connector's lock.
 */
export async function runPull(o: RunPullOptions): Promise<PullOutcome> {
  const { pool, connector, runId } = o;
  const definition = validateStoredDefinition(connector);
  const target = { tenantId: connector.tenantId, vertical: connector.vertical, entityType: connector.entityType };
  // The attempt begins: the run is running again, and where it starts from is read in the same statement.
  const start = await openPull(pool, runId, connector.id, o.mode);
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

      // Reading, mapping and checking the next batch overlaps the write of the current one.
      for await (const batch of readAhead(prepareRows(source.read(plan, o.signal), mapRow, ingestion))) {
        await ingestion.write(batch.prepared, {
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
        rowsRead += batch.rowCount;
        await o.onProgress?.({ rowsRead, cursor: batch.cursor });
        if (o.signal.aborted) return { interrupted: true, rowsRead };
      }

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
