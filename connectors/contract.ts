/**
 * The contract every source connector implements. It knows nothing of HTTP, BullMQ or the
 * ingestion core's tables, and no driver type appears in it.
 *
 * Glossary
 * - row: one source row (table row, document, node) already mapped to JSON-safe values.
 * - cursor: the position a run has reached: the cursor column's value of the last row read and its
 *   tie-breaker key, compared as a pair `(value, key) > (cursor.value, cursor.key)`.
 * - source clock: the source database's own `now()`, never the worker's.
 */

/** A JSON-safe scalar: timestamps as ISO 8601 strings with full precision, big numbers as strings. */
export type CursorScalar = string | number | boolean | null;

/** The position after the last row read: its cursor value and its tie-breaker key (one or more columns). */
export interface Cursor {
  /** Value of the cursor column (or null when rows are paged by key alone). */
  value: CursorScalar;
  /** The tie-breaker (primary key) columns' values, in key order. */
  key: CursorScalar[];
}

/** One source row, mapped to JSON-safe values by the connector's type mapping. */
export type Row = Record<string, unknown>;

/** What one `read()` call should return. */
export interface ReadPlan {
  /** `incremental` resumes after `cursor`; `full` reads everything from the beginning (a resync). */
  mode: 'incremental' | 'full';
  /** The committed position to resume after; null reads from the beginning (or `initial_value`). */
  cursor: Cursor | null;
  /** The source clock at the start of this run (from `clock()`), the lag window's reference. */
  now: string;
  /**
   * Query mode without a cursor: the source-clock start time of the last successful run; the connector
   * binds `:last_pull` to it minus the lag. Null before the first successful run.
   */
  lastPull: string | null;
  /** Rows per batch; the connector holds at most one batch in memory. */
  batchSize: number;
}

/** One batch of rows in cursor order, with the cursor after its last row. */
export interface RowBatch {
  rows: Row[];
  /** Position after the last row of this batch; null when the read is not resumable (streamed query mode). */
  cursor: Cursor | null;
}

/** A table, collection or label the source offers. */
export interface SourceTable {
  name: string;
  columns: Array<{ name: string; type: string; nullable: boolean }>;
  primaryKey: string[];
}

export interface SourceConnector {
  /** Connects and checks privileges; throws a `ConnectorError` a user can act on. */
  check(): Promise<void>;
  /** Tables/collections/labels with their columns and keys. */
  discover?(): Promise<SourceTable[]>;
  /** The source's current time, ISO 8601 in UTC with the source's full precision. */
  clock(): Promise<string>;
  /** Batches in cursor order. Stops early when `signal` aborts; closes its server-side cursor either way. */
  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch>;
  close(): Promise<void>;
}
