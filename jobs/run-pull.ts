import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { validateStoredDefinition } from '../connectors/connector-config';
import { ConnectorError } from '../connectors/connector-error';
import type { Cursor, Row, RowBatch } from '../connectors/contract';
import { compileDeletedTest, compileRecordMapper, compileSourceIdOf, RowMappingError, type RecordMapper } from '../connectors/map-record';
import { createConnector } from '../connectors/registry';
import type { PreparedBatch } from '../src/core/ingest';
import { Ingestion } from '../src/core/ingestion';
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
  holdSweep,
  markPullStart,
  openPull,
  takeBatchTurn,
} from '../src/store/pull-progress';
import type { ConnectorLock } from './connector-lock';
import { PreviousBatchNotCommitted, writeInOrder } from './ordered-writes';
import type { PullMode } from './pull-queue';
import { readAhead } from './read-ahead';
import { runSweep, SweepHeld } from './run-sweep';

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
  /** The source was read to its end and the run succeeded; `run` holds its totals over all its attempts and its duration. */
  | { interrupted: false; rowsRead: number; run: RunTotals & { duration_ms: number | null } }
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
interface RowMapping {
  mapRow: RecordMapper;
  isDeleted: ((row: Row) => boolean) | null;
  sourceIdOf: (row: Row) => string | null;
}

/** Each source batch mapped to records (a row that cannot be mapped is refused with the reason) and prepared for the core. */
async function* prepareRows(
  batches: AsyncIterable<RowBatch>,
  mapping: RowMapping,
  ingestion: Ingestion,
  startCursor: Cursor | null,
): AsyncGenerator<PreparedRows> {
  const { mapRow, isDeleted, sourceIdOf } = mapping;
  let offset = 0;
  let seq = 0;
  let cursorBefore = startCursor;
  for await (const batch of batches) {
    const records: unknown[] = [];
    const positions: number[] = [];
    const refused: RejectedRecord[] = [];
    const gone: string[] = [];
    for (let i = 0; i < batch.rows.length; i++) {
      if (isDeleted?.(batch.rows[i]!)) {
        const id = sourceIdOf(batch.rows[i]!);
        if (id !== null) gone.push(id);
        continue;
      }
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
    const keys = new Set([...prepared.rows.map((r) => r.dedupKey), ...gone.map((id) => 's:' + id)]);
    yield { seq: seq++, rowCount: batch.rows.length, cursor: batch.cursor, cursorBefore, prepared, gone, keys };
    if (batch.cursor !== null) cursorBefore = batch.cursor;
  }
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
  try {
    // Checked again before every run, on what the source's names resolve to now.
    const source = await createConnector(definition, await sourcePolicy(pool, sourceRulesFromEnv(process.env)));
    try {
      // The source clock at the run's first start becomes the next :last_pull, so a retried run loses no window.
      const now = start.sourceStartedAt ?? (await source.clock());
      await markPullStart(pool, runId, start.cursor, now);
      const pulls = o.mode === 'incremental' || o.mode === 'full';
      const plan = {
        mode: o.mode === 'full' ? ('full' as const) : ('incremental' as const),
        cursor: start.cursor,
        now,
        lastPull: o.mode === 'full' ? null : start.lastPull,
        batchSize: definition.batch_size,
      };
      const described = await source.describe(plan);
      const mapping: RowMapping = {
        mapRow: compileRecordMapper(definition, described.primaryKey),
        isDeleted: deletes === 'off' ? null : compileDeletedTest(definition.deletes),
        sourceIdOf: compileSourceIdOf(definition, described.primaryKey).sourceIdOf,
      };

      // Reading, mapping and checking the next batch overlaps the writes; two batches are written at once, committed in order.
      const turns = randomUUID();
      const batches = pulls ? readAhead(prepareRows(source.read(plan, o.signal), mapping, ingestion, start.cursor)) : noBatches();
      const outcome = await writeInOrder(batches, {
        mayFollow: (previous, next) =>
          !o.signal.aborted &&
          // The first batch creates the run's ingestion; a batch that moves no position cannot be told committed.
          ingestion.id !== null &&
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
              const deleted = deletes === 'off' ? 0 : await deleteEntitiesOf(tx, target, batch.gone, deletes);
              await commitPullBatch(tx, {
                runId,
                connectorId: connector.id,
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
          rowsRead += batch.rowCount;
          await o.onProgress?.({ rowsRead, cursor: batch.cursor });
          return o.signal.aborted;
        },
      });
      if (outcome === 'stopped') return { interrupted: true, rowsRead };

      let finish = async (_tx: Queryable) => 0;
      let verify: VerifyCounts | undefined;
      if (o.mode === 'sweep' || o.mode === 'verify' || (o.mode === 'full' && deletes !== 'off')) {
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

      let run: RunTotals & { duration_ms: number | null };
      try {
        run = await withTransaction(pool, async (tx) => {
          const deleted = await finish(tx);
          await completeSweep(tx, runId, deleted, verify);
          // A sweep or verify read no changes: the next :last_pull stays the last pull's.
          const totals = await completePull(tx, runId, connector.id, pulls ? now : null);
          await ingestion.finish(tx);
          await o.lock?.assertHeld(tx);
          return totals;
        });
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
    await ingestion.fail(err instanceof Error ? err.message : String(err));
    throw err;
  }
}

async function* noBatches(): AsyncGenerator<PreparedRows> {}
