import type { ValidateFunction } from 'ajv/dist/2020.js';
import type pg from 'pg';
import { validateStoredDefinition } from '../connectors/connector-config';
import type { Cursor, RowBatch } from '../connectors/contract';
import { compileRecordMapper, RowMappingError, type RecordMapper } from '../connectors/map-record';
import { createConnector } from '../connectors/registry';
import { prepareBatch, writeBatch, type PreparedBatch } from '../src/core/ingest';
import { createIngestion, finishIngestion } from '../src/core/ingestions';
import type { RejectedRecord } from '../src/core/record';
import { validatorFor } from '../src/core/schema-registry';
import { sourceRulesFromEnv } from '../src/config';
import { withTransaction } from '../src/db/pool';
import { withRetriedTransaction } from '../src/db/retried-transaction';
import { sourcePolicy } from '../src/source-policy';
import type { ConnectorForRun } from '../src/store/connectors';
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

export interface PullOutcome {
  /** Stopped by the signal before the source was exhausted; what was committed stays committed. */
  interrupted: boolean;
  rowsRead: number;
}

interface RunRow {
  cursor_reset: boolean;
  ingestion_id: string | null;
  source_started_at: string | null;
}

interface PreparedRows {
  rowCount: number;
  cursor: Cursor | null;
  prepared: PreparedBatch;
}

/** Each source batch mapped to records (a row that cannot be mapped is refused with the reason) and prepared for the core. */
async function* prepareRows(batches: AsyncIterable<RowBatch>, mapRow: RecordMapper, validator: () => Promise<ValidateFunction | null>): AsyncGenerator<PreparedRows> {
  let offset = 0;
  for await (const batch of batches) {
    const records: unknown[] = [];
    const positions: number[] = [];
    const refused: RejectedRecord[] = [];
    for (let i = 0; i < batch.rows.length; i++) {
      const mapped = mapRow(batch.rows[i]!);
      if (mapped instanceof RowMappingError) {
        refused.push({ position: offset + i, raw: batch.rows[i], errorType: 'invalid_record', problems: [{ loc: [], msg: mapped.message, type: 'value_error.mapping' }] });
      } else {
        records.push(mapped);
        positions.push(offset + i);
      }
    }
    offset += batch.rows.length;
    yield { rowCount: batch.rows.length, cursor: batch.cursor, prepared: prepareBatch(records, await validator(), { positions, refused }) };
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

  // A full resync forgets the position once, on the run's first attempt; its retries resume from what they committed.
  const run = await withTransaction(pool, async (c) => {
    const { rows } = await c.query<RunRow>('select cursor_reset, ingestion_id, source_started_at from connector_runs where id = $1 for update', [runId]);
    const r = rows[0]!;
    if (o.mode === 'full' && !r.cursor_reset) {
      await c.query('update connector_state set cursor = null, updated_at = now() where connector_id = $1', [connector.id]);
      await c.query('update connector_runs set cursor_reset = true where id = $1', [runId]);
    }
    if (r.ingestion_id) await c.query("update ingestions set status = 'processing', completed_at = null where id = $1", [r.ingestion_id]);
    return r;
  });
  // Created with the first batch: a scheduled run that finds nothing new leaves no empty ingestion behind.
  let ingestionId = run.ingestion_id;

  // Checked again before every run, on what the source's names resolve to now.
  const source = await createConnector(definition, await sourcePolicy(pool, sourceRulesFromEnv(process.env)));
  let rowsRead = 0;
  try {
    const { rows: stateRows } = await pool.query<{ cursor: Cursor | null; last_pull: string | null }>(
      'select cursor, last_pull from connector_state where connector_id = $1',
      [connector.id],
    );
    const state = stateRows[0] ?? { cursor: null, last_pull: null };
    // The source clock at the run's first start becomes the next :last_pull, so a retried run loses no window.
    const now = run.source_started_at ?? (await source.clock());
    await pool.query('update connector_runs set cursor_before = coalesce(cursor_before, $2), source_started_at = coalesce(source_started_at, $3) where id = $1', [
      runId,
      JSON.stringify(state.cursor),
      now,
    ]);
    const plan = { mode: o.mode, cursor: state.cursor, now, lastPull: o.mode === 'full' ? null : state.last_pull, batchSize: definition.batch_size };
    const described = await source.describe(plan);
    const mapRow = compileRecordMapper(definition, described.primaryKey);

    // Reading, mapping and checking the next batch overlaps the write of the current one.
    const validator = () => validatorFor(pool, target.tenantId, target.vertical, target.entityType);
    for await (const batch of readAhead(prepareRows(source.read(plan, o.signal), mapRow, validator))) {
      // `unchanged` counts every record that changed nothing, so rows_read = inserted + updated + unchanged + rejected.
      ingestionId = await withRetriedTransaction(pool, async (c) => {
        let id = ingestionId;
        if (!id) {
          id = await createIngestion(c, connector.tenantId, target, 'connector', connector.name);
          await c.query('update connector_runs set ingestion_id = $2 where id = $1', [runId, id]);
        }
        const r = await writeBatch(c, target, batch.prepared, { ingestionId: id, source: 'connector' });
        if (batch.cursor) await c.query('update connector_state set cursor = $2, updated_at = now() where connector_id = $1', [connector.id, JSON.stringify(batch.cursor)]);
        await c.query(
          `update connector_runs set rows_read = rows_read + $2, inserted = inserted + $3, updated = updated + $4, unchanged = unchanged + $5,
             rejected = rejected + $6, cursor_after = coalesce($7, cursor_after) where id = $1`,
          [runId, batch.rowCount, r.inserted, r.updated, r.duplicates, r.rejected, batch.cursor ? JSON.stringify(batch.cursor) : null],
        );
        await o.lock?.assertHeld(c);
        return id;
      });
      rowsRead += batch.rowCount;
      await o.onProgress?.({ rowsRead, cursor: batch.cursor });
      if (o.signal.aborted) return { interrupted: true, rowsRead };
    }

    await withTransaction(pool, async (c) => {
      await c.query('update connector_state set last_pull = $2, updated_at = now() where connector_id = $1', [connector.id, now]);
      await c.query('update connector_runs set cursor_after = coalesce(cursor_after, cursor_before) where id = $1', [runId]);
      if (ingestionId) await finishIngestion(c, ingestionId);
      await o.lock?.assertHeld(c);
    });
    return { interrupted: false, rowsRead };
  } catch (err) {
    if (ingestionId) await finishIngestion(pool, ingestionId, err instanceof Error ? err.message : String(err)).catch(() => {});
    throw err;
  } finally {
    await source.close();
  }
}
