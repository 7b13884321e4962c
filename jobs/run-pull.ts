import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { validateStoredDefinition } from '../connectors/connector-config';
import type { Cursor, ReadPlan, Row, RowBatch, SourceConnector } from '../connectors/contract';
import type { ConnectorDefinition, SchemaDriftPolicy } from '../connectors/connector-definition';
import { describeSchemaChanges, schemaChanges, sourceColumns, type SourceColumn } from '../connectors/schema-drift';
import { ConnectorError } from '../connectors/connector-error';
import { isIsoTimestamp, subtractSeconds } from '../connectors/iso-time';
import {
  checkMapping,
  compileDeletedTest,
  compileRecordMapper,
  compileSourceIdOf,
  RowMappingError,
  type RecordMapper,
} from '../connectors/map-record';
import { effectiveLagSeconds } from '../connectors/read-window';
import { createConnector } from '../connectors/registry';
import type { PreparedBatch } from '../src/core/ingest';
import { Ingestion } from '../src/core/ingestion';
import { ReadyRecord } from '../src/core/ready-record';
import type { RejectedRecord } from '../src/core/record';
import { sourceRulesFromEnv } from '../src/config';
import { withTransaction, type Queryable } from '../src/db/pool';
import { deleteEntitiesOf } from '../src/core/entity-sweep';
import { sourcePolicy } from '../src/source-policy';
import type { RunTotals, VerifyCounts } from '../src/store/connector-runs';
import type { ConnectorForRun } from '../src/store/connectors';
import {
  commitPullBatch,
  completePull,
  completeSweep,
  followBatch,
  HELD_BACK_CAP,
  holdSweep,
  markPullStart,
  openPull,
  succeedEmptyPull,
  takeBatchTurn,
  type HeldBack,
  type PullStartMark,
} from '../src/store/pull-progress';
import { addRunEvent } from '../src/store/run-events';
import type { ConnectorLock } from './connector-lock';
import { PreviousBatchNotCommitted, writeInOrder } from './ordered-writes';
import type { PullMode, PullProgress } from './pull-queue';
import { readAhead } from './read-ahead';
import { runSweep, SweepHeld } from './run-sweep';

export interface RunPullOptions {
  pool: pg.Pool;
  connector: ConnectorForRun;
  runId: string;
  mode: PullMode;
  /** When it aborts, the pull stops after committing the batch in hand. */
  signal: AbortSignal;
  /** The connector's lock; every commit first checks that the run still holds it. */
  lock?: Pick<ConnectorLock, 'assertHeld' | 'onSession'>;
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
  /**
   * The source was read to its end; `run` holds the run's totals over all its attempts. `succeeded`: the run is already
   * recorded succeeded (a run that committed nothing ends in one statement), with its duration.
   */
  | { interrupted: false; rowsRead: number; run: RunTotals; succeeded?: { durationMs: number | null } }
  /**
   * A sweep the guard held back before deleting anything: it would delete `pending` of the connector's `live`
   * entities; the run waits for confirmation.
   */
  | { interrupted: false; rowsRead: number; held: { pending: number; live: number } };

interface PreparedRows {
  /** Its place in the read, from 0. */
  seq: number;
  rowCount: number;
  cursor: Cursor | null;
  /** The position committed before it (the last batch's that moved one, or where the run started). */
  cursorBefore: Cursor | null;
  prepared: PreparedBatch;
  /** source_ids of the rows the source marks deleted (`deletes.column`): their entities go. */
  gone: string[];
  /** The entities the batch touches (written or deleted): a batch sharing one with the batch before waits for it. */
  keys: Set<string>;
}

/** How a pull maps rows: to records, and (with `deletes.column`) to the source_ids of rows the source marks deleted. */
export interface RowMapping {
  mapRow: RecordMapper;
  isDeleted: ((row: Row) => boolean) | null;
  sourceIdOf: (row: Row) => string | null;
}

export function rowMapping(definition: ConnectorDefinition, primaryKey: string[]): RowMapping {
  return {
    mapRow: compileRecordMapper(definition, primaryKey),
    isDeleted: definition.deletes.mode === 'off' ? null : compileDeletedTest(definition.deletes),
    sourceIdOf: compileSourceIdOf(definition, primaryKey).sourceIdOf,
  };
}

/**
 * Each source batch mapped to records (a row that cannot be mapped is refused with the reason) and prepared for the
 * core. A batch none of whose rows has a column the mapping needs fails the run before it commits: the mapping is
 * wrong, and committing the batch would move the cursor past rows that a fixed mapping must read.
 */
async function* prepareRows(
  batches: AsyncIterable<RowBatch>,
  mapping: RowMapping,
  ingestion: Ingestion,
  startCursor: Cursor | null,
): AsyncGenerator<PreparedRows> {
  let offset = 0;
  let seq = 0;
  let cursorBefore = startCursor;
  for await (const batch of batches) {
    const { records, positions, refused, gone } = mapRows(batch.rows, mapping, offset);
    offset += batch.rows.length;
    const prepared = await ingestion.prepare(records, { positions, refused });
    const keys = new Set([...prepared.rows.map((r) => r.dedupKey), ...gone.map((id) => 's:' + id)]);
    yield { seq: seq++, rowCount: batch.rows.length, cursor: batch.cursor, cursorBefore, prepared, gone, keys };
    if (batch.cursor !== null) cursorBefore = batch.cursor;
  }
}

/**
 * Source rows mapped to records, a row that cannot be mapped refused with the reason; `offset` is the first row's
 * position in the run. Throws when no row has a column the mapping reads (see `prepareRows`).
 */
export function mapRows(rows: readonly Row[], mapping: RowMapping, offset: number) {
  const { mapRow, isDeleted, sourceIdOf } = mapping;
  const records: unknown[] = [];
  const positions: number[] = [];
  const refused: RejectedRecord[] = [];
  const gone: string[] = [];
  let missing: string | null | undefined;
  for (let i = 0; i < rows.length; i++) {
    if (rows[i] instanceof ReadyRecord) {
      records.push(rows[i]);
      positions.push(offset + i);
      continue;
    }
    if (isDeleted?.(rows[i]!)) {
      const id = sourceIdOf(rows[i]!);
      if (id !== null) gone.push(id);
      continue;
    }
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
  if (records.length === 0 && gone.length === 0 && missing) {
    throw new ConnectorError(
      'config',
      `no row of a batch of ${rows.length} has the column "${missing}" the mapping reads (${refused[0]!.problems[0]!.msg}); ` +
        'the run stopped without committing the batch, so a pull after the mapping is fixed reads these rows',
    );
  }
  return { records, positions, refused, gone };
}

/**
 * One run of one connector: reads batches in cursor order and commits each batch's records through the
 * ingestion core together with the cursor after it, in one transaction, while the source reads the next
 * batch. Two batches are written at once on two connections (the database's upsert is the slow part, and it
 * then uses two cores), and they commit in read order (`writeInOrder`, `followBatch`): a crash at any moment
 * leaves a prefix of the batches committed with the cursor of its last one, so the next attempt resumes right
 * after it; a batch that did not commit is read again and upserts to the same entities. A full resync with
 * deletes on ends with a key sweep (see run-sweep.ts); a `sweep` or `verify` run is that sweep alone. The caller
 * holds the connector's lock.
 */
export async function runPull(o: RunPullOptions): Promise<PullOutcome> {
  const { pool, connector, runId } = o;
  const definition = validateStoredDefinition(connector);
  const target = {
    tenantId: connector.tenantId,
    vertical: connector.vertical,
    entityType: connector.entityType,
    connectorId: connector.id,
  };
  const deletes = definition.deletes.mode;
  if (o.mode === 'sweep' && deletes === 'off') {
    throw new ConnectorError(
      'config',
      'a sweep deletes what the source no longer has, and deletes.mode is "off" - set it to "soft" or "hard"',
    );
  }
  // The attempt begins: the run is running again, and where it starts from is read in the same statement.
  const start = await openPull(pool, runId, connector.id, o.mode);
  const ingestion = await Ingestion.open(
    pool,
    target,
    { type: 'connector', name: connector.name },
    { resume: start.ingestionId, lazy: true },
  );
  let rowsRead = 0;
  let mark: PullStartMark | null = null;
  const writeMark = async (db: Queryable) => {
    if (mark) await markPullStart(db, runId, mark);
    mark = null;
  };
  try {
    // Checked again before every run, on what the source's names resolve to now.
    const source = await createConnector(definition, await sourcePolicy(pool, sourceRulesFromEnv(process.env)));
    try {
      const window = {
        mode: o.mode === 'full' ? ('full' as const) : ('incremental' as const),
        lastPull: o.mode === 'full' ? null : start.lastPull,
      };
      const described = await source.describe(window);
      // The source clock at the run's first start becomes the next :last_pull, so a retried run loses no window. Read
      // before the source is (with the describe, where the source can).
      const now = start.sourceStartedAt ?? described.clock ?? (await source.clock());
      const pulls = o.mode === 'incremental' || o.mode === 'full' || o.mode === 'backfill';
      const plan = {
        ...window,
        cursor: start.cursor,
        now,
        batchSize: definition.batch_size,
        range: start.range,
        // Counted beside the read's last page where the source can (`countHeldBack` then reads nothing again).
        heldBackCap: HELD_BACK_CAP,
        // The core splices JSON objects a source gives as text into its documents unparsed (src/core/json-text.ts).
        jsonText: true,
        // A source that can make the records itself, exactly as the mapping would, does (src/core/ready-record.ts).
        readyRecords: true,
      };
      // A backfill reads again what the position has passed: it leaves the position and `:last_pull` alone.
      const positionOf = start.range ? null : connector.id;
      checkMapping(definition, described);
      const columns = described.sampled ? null : sourceColumns(described);
      const drift = schemaDrift(definition.schema_drift, start.lastColumns, columns);
      // The attempt's start is recorded with its first write (a batch, the empty run's end, the sweep, the run's end) or
      // its failure: an empty run then needs one statement fewer. An attempt killed before writing anything leaves no
      // mark, and its retry reads the source clock again: nothing was committed under the first one.
      mark = { mode: o.mode, cursor: start.cursor, sourceNow: now, columns, drift };
      if (drift?.policy === 'fail') {
        throw new ConnectorError(
          'config',
          `the source's columns changed since the last successful run: ${describeSchemaChanges(drift.changes)} - ` +
            'check the mapping, then set schema_drift to "warn" or "allow" to read on (schema_drift is "fail")',
        );
      }
      const mapping = rowMapping(definition, described.primaryKey);

      // Reading, mapping and checking the next batch overlaps the writes; two batches are written at once, committed in order.
      const turns = randomUUID();
      const batches = pulls ? readAhead(prepareRows(source.read(plan, o.signal), mapping, ingestion, start.cursor)) : noBatches();
      const outcome = await writeInOrder(batches, {
        mayFollow: (previous, next) =>
          !o.signal.aborted &&
          // A backfill moves no position, so a batch cannot tell that the one before it committed.
          positionOf !== null &&
          previous.cursor !== null &&
          JSON.stringify(previous.cursor) !== JSON.stringify(previous.cursorBefore) &&
          // Batches sharing an entity would only wait for each other.
          [...next.keys].every((key) => !previous.keys.has(key)),
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
              if (batch.seq === 0 && mark) await markPullStart(tx, runId, mark);
              const deleted = deletes === 'off' ? 0 : await deleteEntitiesOf(tx, target, batch.gone, deletes);
              await commitPullBatch(tx, {
                runId,
                connectorId: positionOf,
                ingestionId,
                rowsRead: batch.rowCount,
                written,
                deleted,
                cursor: batch.cursor,
              });
              await o.lock?.assertHeld(tx);
            },
          });
        },
        committed: async (batch) => {
          if (batch.seq === 0) mark = null;
          rowsRead += batch.rowCount;
          await o.onProgress?.({ rowsRead, cursor: batch.cursor });
          return o.signal.aborted;
        },
      });
      // A read the signal ended early ends like the end of the source: only the signal tells them apart.
      if (outcome === 'stopped' || o.signal.aborted) {
        await writeMark(pool);
        return { interrupted: true, rowsRead };
      }

      let finish: ((tx: Queryable) => Promise<number>) | null = null;
      let verify: VerifyCounts | undefined;
      if (o.mode === 'sweep' || o.mode === 'verify' || (o.mode === 'full' && deletes !== 'off')) {
        await writeMark(pool);
        const swept = await runSweep({
          pool,
          runId,
          kind: o.mode === 'verify' ? 'verify' : 'sweep',
          definition,
          source,
          primaryKey: described.primaryKey,
          target,
          ingestion,
          now,
          signal: o.signal,
          lock: o.lock,
          onProgress: o.onProgress && ((p) => o.onProgress?.({ ...p, rowsRead: rowsRead + p.rowsRead })),
        });
        rowsRead += swept.rowsRead;
        if (swept.state === 'interrupted') return { interrupted: true, rowsRead };
        finish = swept.finish;
        verify = swept.verify;
      }

      const heldBack = pulls ? await countHeldBack(source, plan, effectiveLagSeconds(definition.cursor)) : null;
      // Nothing committed by any attempt (a run that found nothing new, the common scheduled run): no ingestion to close,
      // nothing swept, so the run ends, succeeded, in one statement on the session that holds the lock.
      if (pulls && finish === null && ingestion.id === null) {
        const end = (db: Queryable) => succeedEmptyPull(db, runId, positionOf, mark!, heldBack);
        const { duration_ms, ...run } = await (o.lock ? o.lock.onSession(end) : end(pool));
        return { interrupted: false, rowsRead, run, succeeded: { durationMs: duration_ms } };
      }
      let run: RunTotals;
      try {
        run = await withTransaction(pool, async (tx) => {
          if (mark) await markPullStart(tx, runId, mark);
          const deleted = finish ? await finish(tx) : 0;
          await completeSweep(tx, runId, deleted, verify);
          // A sweep or verify read no changes: the next :last_pull stays the last pull's.
          const totals = await completePull(tx, runId, positionOf, pulls ? now : null, heldBack);
          if (heldBack && heldBack.rows > 0)
            await addRunEvent(tx, runId, 'held_back', { ...heldBack, capped: heldBack.rows >= HELD_BACK_CAP });
          await ingestion.finish(tx);
          await o.lock?.assertHeld(tx);
          return totals;
        });
        mark = null;
      } catch (err) {
        if (!(err instanceof SweepHeld)) throw err;
        await holdSweep(pool, runId, err.pending);
        return { interrupted: false, rowsRead, held: { pending: err.pending, live: err.live } };
      }
      return { interrupted: false, rowsRead, run };
    } finally {
      await source.close();
    }
  } catch (err) {
    // Best effort: the platform database may be what failed.
    await writeMark(pool).catch(() => {});
    await ingestion.fail(err instanceof Error ? err.message : String(err));
    throw err;
  }
}

async function* noBatches(): AsyncGenerator<PreparedRows> {}

/** The rows the lag window kept from this run, and when the first of them becomes readable (its cursor + lag). */
async function countHeldBack(source: SourceConnector, plan: ReadPlan, lagSeconds: number): Promise<HeldBack | null> {
  const held = await source.heldBack?.(plan, HELD_BACK_CAP);
  if (!held) return null;
  const until = typeof held.first === 'string' && isIsoTimestamp(held.first) ? subtractSeconds(held.first, -lagSeconds) : null;
  return { rows: held.rows, until };
}

/**
 * What changed in the source's columns since the last successful run, when the policy tells: `warn` records it (run
 * events, the run's note); `fail` stops the run before it reads, until the policy is relaxed or the source restored.
 * Sampled columns (documents, nodes) change with the sample, so they are not compared.
 */
function schemaDrift(policy: SchemaDriftPolicy, before: SourceColumn[] | null, columns: SourceColumn[] | null) {
  const changes = before && columns ? schemaChanges(before, columns) : [];
  return changes.length > 0 && policy !== 'allow' ? { policy, changes } : null;
}
