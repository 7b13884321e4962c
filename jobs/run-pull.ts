import type pg from 'pg';
import { validateStoredDefinition } from '../connectors/connector-config';
import type { Cursor, ReadPlan, Row, RowBatch, SourceConnector, SourceTable } from '../connectors/contract';
import type { SchemaDriftPolicy } from '../connectors/connector-definition';
import { describeSchemaChanges, schemaChanges, sourceColumns } from '../connectors/schema-drift';
import { ConnectorError } from '../connectors/connector-error';
import { isIsoTimestamp, subtractSeconds } from '../connectors/iso-time';
import { checkMapping, compileRecordMapper, RowMappingError, type RecordMapper } from '../connectors/map-record';
import { effectiveLagSeconds } from '../connectors/read-window';
import { createConnector } from '../connectors/registry';
import type { PreparedBatch } from '../src/core/ingest';
import { Ingestion } from '../src/core/ingestion';
import type { RejectedRecord } from '../src/core/record';
import { sourceRulesFromEnv } from '../src/config';
import { withTransaction } from '../src/db/pool';
import { sourcePolicy } from '../src/source-policy';
import type { RunTotals } from '../src/store/connector-runs';
import type { ConnectorForRun } from '../src/store/connectors';
import {
  commitPullBatch,
  completePull,
  HELD_BACK_CAP,
  lastSucceededColumns,
  markPullStart,
  openPull,
  recordSourceColumns,
  type HeldBack,
} from '../src/store/pull-progress';
import { addRunEvent } from '../src/store/run-events';
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

/**
 * Each source batch mapped to records (a row that cannot be mapped is refused with the reason) and prepared for the
 * core. A batch none of whose rows has a column the mapping needs fails the run before it commits: the mapping is
 * wrong, and committing the batch would move the cursor past rows that a fixed mapping must read.
 */
async function* prepareRows(batches: AsyncIterable<RowBatch>, mapRow: RecordMapper, ingestion: Ingestion): AsyncGenerator<PreparedRows> {
  let offset = 0;
  for await (const batch of batches) {
    const { records, positions, refused } = mapRows(batch.rows, mapRow, offset);
    offset += batch.rows.length;
    yield { rowCount: batch.rows.length, cursor: batch.cursor, prepared: await ingestion.prepare(records, { positions, refused }) };
  }
}

/**
 * Source rows mapped to records, a row that cannot be mapped refused with the reason; `offset` is the first row's
 * position in the run. Throws when no row has a column the mapping reads (see `prepareRows`).
 */
export function mapRows(rows: readonly Row[], mapRow: RecordMapper, offset: number) {
  const records: unknown[] = [];
  const positions: number[] = [];
  const refused: RejectedRecord[] = [];
  let missing: string | null | undefined;
  for (let i = 0; i < rows.length; i++) {
    const mapped = mapRow(rows[i]!);
    if (mapped instanceof RowMappingError) {
      missing = missing === undefined || missing === mapped.missingColumn ? mapped.missingColumn : null;
      refused.push({
        position: offset + i,
        raw: rows[i],
        errorType: 'invalid_record',
        problems: [{ loc: [], msg: mapped.message, type: 'value_error.mapping' }],
      });
    } else {
      records.push(mapped);
      positions.push(offset + i);
    }
  }
  if (records.length === 0 && missing) {
    throw new ConnectorError(
      'config',
      `no row of a batch of ${rows.length} has the column "${missing}" the mapping reads (${refused[0]!.problems[0]!.msg}); ` +
        'the run stopped without committing the batch, so a pull after the mapping is fixed reads these rows',
    );
  }
  return { records, positions, refused };
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
        mode: o.mode === 'backfill' ? ('incremental' as const) : o.mode,
        cursor: start.cursor,
        now,
        lastPull: o.mode === 'full' ? null : start.lastPull,
        batchSize: definition.batch_size,
        range: start.range,
      };
      // A backfill reads again what the position has passed: it leaves the position and `:last_pull` alone.
      const positionOf = start.range ? null : connector.id;
      const described = await source.describe(plan);
      checkMapping(definition, described);
      await checkSchemaDrift(pool, runId, connector.id, definition.schema_drift, described);
      const mapRow = compileRecordMapper(definition, described.primaryKey);
      await addRunEvent(pool, runId, 'started', { mode: o.mode, cursor: start.cursor, source_now: now });

      // Reading, mapping and checking the next batch overlaps the write of the current one.
      for await (const batch of readAhead(prepareRows(source.read(plan, o.signal), mapRow, ingestion))) {
        await ingestion.write(batch.prepared, {
          alongside: async (tx, written, ingestionId) => {
            await commitPullBatch(tx, {
              runId,
              connectorId: positionOf,
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

      const heldBack = await countHeldBack(source, plan, effectiveLagSeconds(definition.cursor));
      const run = await withTransaction(pool, async (tx) => {
        const totals = await completePull(tx, runId, positionOf, now, heldBack);
        if (heldBack && heldBack.rows > 0)
          await addRunEvent(tx, runId, 'held_back', { ...heldBack, capped: heldBack.rows >= HELD_BACK_CAP });
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

/** The rows the lag window kept from this run, and when the first of them becomes readable (its cursor + lag). */
async function countHeldBack(source: SourceConnector, plan: ReadPlan, lagSeconds: number): Promise<HeldBack | null> {
  const held = await source.heldBack?.(plan, HELD_BACK_CAP);
  if (!held) return null;
  const until = typeof held.first === 'string' && isIsoTimestamp(held.first) ? subtractSeconds(held.first, -lagSeconds) : null;
  return { rows: held.rows, until };
}

/**
 * Compares the source's columns with the last successful run's and records them with what changed. `warn` says what
 * changed (run events, the run's note); `fail` stops the run before it reads, until the policy is relaxed or the
 * source restored. Sampled columns (documents, nodes) change with the sample, so they are not compared.
 */
async function checkSchemaDrift(pool: pg.Pool, runId: string, connectorId: string, policy: SchemaDriftPolicy, table: SourceTable) {
  if (table.sampled) return;
  const columns = sourceColumns(table);
  const before = await lastSucceededColumns(pool, connectorId);
  const changes = before ? schemaChanges(before, columns) : [];
  const told = changes.length > 0 && policy !== 'allow';
  await recordSourceColumns(pool, runId, columns, told ? changes : null);
  if (!told) return;
  await addRunEvent(pool, runId, 'schema_drift', { policy, changes });
  if (policy === 'fail') {
    throw new ConnectorError(
      'config',
      `the source's columns changed since the last successful run: ${describeSchemaChanges(changes)} - ` +
        'check the mapping, then set schema_drift to "warn" or "allow" to read on (schema_drift is "fail")',
    );
  }
}
