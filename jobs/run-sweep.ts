import type pg from 'pg';
import type { ConnectorDefinition } from '../connectors/connector-definition';
import type { ReadPlan, Row, SourceConnector } from '../connectors/contract';
import { compileDeletedTest, compileRecordMapper, compileSourceIdOf, RowMappingError } from '../connectors/map-record';
import {
  applySweep,
  clearSweepKeys,
  driftOf,
  extraEntities,
  liveEntities,
  openStaging,
  prepareAntiJoin,
  stageSweepKeys,
} from '../src/core/entity-sweep';
import type { IngestTarget } from '../src/core/ingest';
import type { Ingestion } from '../src/core/ingestion';
import { withTransaction } from '../src/db/pool';
import type { Queryable } from '../src/db/pool';
import type { VerifyCounts } from '../src/store/connector-runs';
import { commitSweepPage, markSweepRead, sweepState } from '../src/store/pull-progress';
import type { ConnectorLock } from './connector-lock';
import { readAhead } from './read-ahead';
import type { PullProgress } from './pull-queue';

/** Keys of each kind a verify run keeps as samples. */
export const VERIFY_SAMPLES = 20;

export interface SweepOptions {
  pool: pg.Pool;
  runId: string;
  /** `sweep` deletes (or marks) the connector's entities the source no longer has; `verify` compares and writes nothing. */
  kind: 'sweep' | 'verify';
  definition: ConnectorDefinition;
  source: SourceConnector;
  /** The source's key columns (`describe().primaryKey`), for the default source_id. */
  primaryKey: string[];
  /** The connector's target; `connectorId` says whose entities are compared. */
  target: IngestTarget;
  /** Prepares mapped rows exactly as a pull would (a verify compares what a pull would write). */
  ingestion: Ingestion;
  now: string;
  signal: AbortSignal;
  lock?: Pick<ConnectorLock, 'assertHeld'>;
  onProgress?(p: PullProgress): unknown;
}

export type SweepOutcome =
  /** Stopped by the signal; the staged keys and the position are committed, the next attempt resumes after them. */
  | { state: 'interrupted'; rowsRead: number }
  /**
   * The source is read and compared: `finish` deletes (a sweep) and clears the staged keys in the caller's last
   * transaction, resolving to how many entities it deleted or marked, or throws `SweepHeld` when the guard holds the
   * sweep (the caller's transaction then rolls back); `verify` holds a verify's counts.
   */
  | { state: 'read'; rowsRead: number; finish(tx: Queryable): Promise<number>; verify?: VerifyCounts };

/**
 * The source's keys read in key order (keyset pages; the connector's own `where`/filter scopes them), each page
 * staged in the platform database with the run's position after it, in one transaction; then one anti-join
 * against the connector's entities. Memory holds one page. A sweep stops before deleting anything when it would
 * delete more than `deletes.max_fraction` of the connector's live entities, unless the run was confirmed. A
 * verify maps each row as a pull would and compares content hashes page by page.
 */
export async function runSweep(o: SweepOptions): Promise<SweepOutcome> {
  const { pool, runId, definition, target } = o;
  const state = await sweepState(pool, runId);
  const isDeleted = compileDeletedTest(definition.deletes);
  const ids = compileSourceIdOf(definition, o.primaryKey);
  const mapRow = o.kind === 'verify' ? compileRecordMapper(definition, o.primaryKey) : null;
  const verify: VerifyCounts = state.verify ?? {
    checked: 0,
    missing: 0,
    extra: 0,
    stale: 0,
    samples: { missing: [], extra: [], stale: [] },
  };
  let rowsRead = 0;
  await openStaging(pool, runId);

  if (!state.read) {
    const plan: ReadPlan = {
      mode: 'keys',
      cursor: state.cursor,
      now: o.now,
      lastPull: null,
      batchSize: definition.batch_size,
      columns: o.kind === 'sweep' ? [...ids.columns, ...(definition.deletes.column ? [definition.deletes.column] : [])] : null,
    };
    for await (const batch of readAhead(o.source.read(plan, o.signal))) {
      // A row the source marks deleted is not staged: its entity is among those the source no longer has.
      const live = isDeleted ? batch.rows.filter((r) => !isDeleted(r)) : batch.rows;
      const keys: string[] = [];
      for (const row of live) {
        const id = ids.sourceIdOf(row);
        if (id !== null) keys.push(id);
      }
      if (mapRow) await compare(o, live, mapRow, verify);
      await withTransaction(pool, async (tx) => {
        await stageSweepKeys(tx, runId, keys);
        await commitSweepPage(tx, runId, batch.rows.length, batch.cursor, mapRow ? verify : undefined);
        await o.lock?.assertHeld(tx);
      });
      rowsRead += batch.rows.length;
      await o.onProgress?.({ rowsRead, cursor: batch.cursor });
      if (o.signal.aborted) return { state: 'interrupted', rowsRead };
    }
    if (o.signal.aborted) return { state: 'interrupted', rowsRead };
    await markSweepRead(pool, runId);
  }

  if (o.kind === 'verify') {
    const extra = await withTransaction(pool, async (tx) => {
      await prepareAntiJoin(tx, runId);
      return extraEntities(tx, target, runId, VERIFY_SAMPLES);
    });
    const counts = { ...verify, extra: extra.count, samples: { ...verify.samples, extra: extra.sample } };
    return { state: 'read', rowsRead, verify: counts, finish: async (tx) => (await clearSweepKeys(tx, runId), 0) };
  }

  const mode = definition.deletes.mode;
  if (mode === 'off') throw new Error('a sweep needs deletes.mode "soft" or "hard"');
  // The guard is checked on the deletes themselves, in their transaction: one anti-join, rolled back when held.
  return {
    state: 'read',
    rowsRead,
    finish: async (tx) => {
      await prepareAntiJoin(tx, runId);
      const live = await liveEntities(tx, target);
      const deleted = await applySweep(tx, target, runId, mode);
      if (!state.confirmed && deleted.live > definition.deletes.max_fraction * live) throw new SweepHeld(deleted.live, live);
      await clearSweepKeys(tx, runId);
      return deleted.count;
    },
  };
}

/** Thrown from a sweep's last transaction when the guard holds it: the transaction rolls back, nothing is deleted. */
export class SweepHeld extends Error {
  constructor(
    readonly pending: number,
    readonly live: number,
  ) {
    super(`the sweep would delete ${pending} of ${live} entities`);
    this.name = 'SweepHeld';
  }
}

/** Maps a page as a pull would and adds what differs from the stored entities to `verify`. */
async function compare(o: SweepOptions, rows: Row[], mapRow: ReturnType<typeof compileRecordMapper>, verify: VerifyCounts): Promise<void> {
  const records = rows.map(mapRow).filter((r) => !(r instanceof RowMappingError));
  const prepared = await o.ingestion.prepare(records);
  verify.checked += rows.length;
  for (const { source_id, drift } of await driftOf(o.pool, o.target, prepared.rows)) {
    verify[drift]++;
    if (verify.samples[drift].length < VERIFY_SAMPLES) verify.samples[drift].push(source_id);
  }
}
