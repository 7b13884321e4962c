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
  /**
   * Value of the cursor column, in the same exact JSON form as in rows. Null while a run that started from
   * the beginning is still reading the rows whose cursor column is NULL (they come first, in key order).
   */
  value: CursorScalar;
  /** The tie-breaker (primary key) columns' values, in key order. */
  key: CursorScalar[];
}

/** One source row, mapped to JSON-safe values by the connector's type mapping. */
export type Row = Record<string, unknown>;

/** What one `read()` call should return. */
export interface ReadPlan {
  /**
   * `incremental` resumes after `cursor`; `full` is a resync: the pull forgets the committed cursor and
   * passes `cursor: null` (or the resync's own checkpoint when it resumes one), and the connector ignores
   * `lastPull` (`:last_pull` binds to `initial_value` or the epoch). A full read of a source that has a
   * cursor column but no key streams it whole instead of refusing. The lag window applies to both.
   */
  /**
   * `keys` reads every row in key order (a key sweep, a verify): no cursor conditions, no lag window, the source's
   * own filter still applies; `cursor` is then a position in key order (`value`: the first key column's value,
   * `key`: the others').
   */
  mode: 'incremental' | 'full' | 'keys';
  /**
   * `keys` mode: the columns the caller needs (the key is always read); a source that can select fewer columns
   * does. Null or absent: every column the connector reads.
   */
  columns?: readonly string[] | null;
  /** The position to resume after; null reads from the beginning (or `initial_value`). */
  cursor: Cursor | null;
  /** The source clock at the start of this run (from `clock()`), the lag window's reference. */
  now: string;
  /**
   * The source-clock start time (`now`) of the last successful run; the connector binds `:last_pull` (in a
   * query or a `where`) to it minus the lag. Null before the first successful run.
   */
  lastPull: string | null;
  /** Rows per batch; the connector holds at most one batch in memory. */
  batchSize: number;
  /**
   * A backfill: only rows with `from <= cursor < to` (cursor values in their JSON form), resumed after `cursor` (the
   * backfill's own checkpoint). Needs a cursor column and a key; rows whose cursor is NULL are in no range.
   */
  range?: { from: CursorScalar; to: CursorScalar } | null;
  /**
   * Also count what `heldBack(plan, heldBackCap)` counts, where the source can do it beside the read's last page (in
   * its transaction): `heldBack` with this plan then answers without reading again. Absent: the read counts nothing.
   */
  heldBackCap?: number;
  /**
   * The caller writes JSON object values into its documents as they are (the ingestion core's `JsonText`): a source
   * that holds them as checked JSON text (PostgreSQL's jsonb) may give them so, unparsed. Absent: parsed values.
   */
  jsonText?: boolean;
  /**
   * The caller takes records a source makes itself from its wire text (the core's `ReadyRecord`) in place of rows it
   * would map with the definition's mapping: a source that can make them exactly may, for any row but the last of each
   * batch (the cursor is read from that one). Absent: rows only.
   */
  readyRecords?: boolean;
}

/** One batch of rows in cursor order, with the cursor after its last row. */
export interface RowBatch {
  /** Never empty: a read with nothing to return yields no batch at all. */
  rows: Row[];
  /**
   * Position after the last row of this batch; null when the read is not resumable: the source is
   * streamed whole (no cursor column, or a full read of a source without a key). Keep the committed
   * cursor as it was when a batch carries null.
   */
  cursor: Cursor | null;
}

/** A table, collection or label the source offers (or what one connector reads: see `describe`). */
export interface SourceTable {
  /** As the config's `table` would name it (`schema.table` for PostgreSQL), or `query`. */
  name: string;
  /** Columns with the source's own type names. */
  columns: Array<{ name: string; type: string; nullable: boolean }>;
  /** The columns that identify a row: configured `primary_key`, else discovered, else the tie-breaker; may be empty. */
  primaryKey: string[];
  /** True when `columns` come from a sample of documents or nodes: a field missing from it may still exist. */
  sampled?: boolean;
}

/** What `describe` found, and the source clock where the source reads it with the describe (see `clock()`). */
export interface DescribedSource extends SourceTable {
  /** The source clock, read in the describe's own transaction: a pull about to read needs no round trip of its own for it. */
  clock?: string;
}

export interface SourceConnector {
  /** Connects and checks privileges; throws a `ConnectorError` a user can act on. */
  check(): Promise<void>;
  /** Tables/collections/labels with their columns and keys. */
  discover?(): Promise<SourceTable[]>;
  /**
   * What this connector reads: its table's (or its query's result's) columns and the key that identifies a
   * row. The pull builds the record mapper from it (`compileRecordMapper(def, describe().primaryKey)`), since
   * the default source_id is the primary key, which is discovered when the config does not name it.
   * `plan` (optional) only supplies `:last_pull` when a query must run to be described.
   */
  describe(plan?: Pick<ReadPlan, 'mode' | 'lastPull'>): Promise<DescribedSource>;
  /** The source's current time, ISO 8601 in UTC with the source's full precision. */
  clock(): Promise<string>;
  /**
   * Batches in cursor order. Stops early (without an error) when `signal` aborts, and closes its
   * server-side cursor and transaction either way, also when the consumer stops iterating.
   */
  read(plan: ReadPlan, signal: AbortSignal): AsyncIterable<RowBatch>;
  /**
   * Rows the lag window keeps from a read of `plan` (cursor newer than source now − lag), counted up to `cap` in
   * cursor order, with the cursor value of the first. Null when no lag window applies (no temporal cursor).
   */
  heldBack?(plan: ReadPlan, cap: number): Promise<{ rows: number; first: CursorScalar } | null>;
  /**
   * What the doctor (doctor.ts) measures of the source for a read of `plan`: each query read-only, scoped by the
   * connector's filter, and stopped by the source after `timeoutMs`.
   */
  doctor?(plan: ReadPlan, timeoutMs: number): Promise<DoctorProbes>;
  /** Releases connections; the connector is not used afterwards. */
  close(): Promise<void>;
}

/** What the planner needs to know of a cursor or key column; each source's own column type extends it. */
export interface KeysetColumn {
  name: string;
  /** The source's type name, for messages. */
  type: string;
  /** Timestamps and dates (the lag window applies); null when the kind is not known yet (an empty collection). */
  temporal: boolean | null;
  /** May be NULL (or missing, for documents). */
  nullable: boolean;
}

/**
 * What a source measures for the doctor (doctor.ts turns the measurements into advice). Each source answers with
 * the same read-only connection its pulls use, scoped by the connector's own filter, and bounded on the server by
 * the time budget it is given; no member scans without a LIMIT where a cheaper answer exists.
 */
export interface DoctorShape {
  /** The cursor column as the planner sees it; null: every run reads the whole source. */
  cursor: KeysetColumn | null;
  /** The (cursor, key) order a keyset read pages in; null without a cursor column or without a key. */
  order: string[] | null;
  /** The table, collection or label as configured; null in query mode. */
  table: string | null;
  /** For messages: `table "public.products"`, `collection "orders"`. */
  label: string;
}

/** Whether an index serves the (cursor, key) order; `create` is the statement that would add one. */
export interface IndexFact {
  /** The index that serves the order; null when none does. */
  index: string | null;
  create: string;
}

/**
 * What the source can tell of the connector's own credentials. `known: false` with `writes`: the server has no way to
 * keep any user from writing (Neo4j Community Edition).
 */
export type PrivilegeFact =
  { known: true; role: string; writes: string[]; fix: string } | { known: false; reason: string; writes?: string[]; fix?: string };

export interface EstimateFact {
  /** Rows a full resync would read, as the source estimates them; null when it cannot say cheaply. */
  rows: number | null;
  /** Where the figure comes from (`pg_class.reltuples`, `estimatedDocumentCount`), or why there is none. */
  basis: string;
}

export interface DoctorProbes {
  shape: DoctorShape;
  /** Null in query mode: a query's result has no index of its own. */
  orderIndex(): Promise<IndexFact | null>;
  /** The cursor value most rows share (NULL excluded) and how many share it; null when no row has a value. */
  largestRun(): Promise<{ value: CursorScalar; rows: number } | null>;
  /** Rows whose cursor is NULL (or missing), counted up to `cap`. */
  nullCursors(cap: number): Promise<number>;
  /** Rows whose cursor is later than `now` (the source clock), counted up to `cap`, and the latest such value. */
  futureCursors(now: string, cap: number): Promise<{ rows: number; latest: CursorScalar }>;
  /** Rows the lag window keeps from the next read (the runs' own count), up to `cap`; null without a lag window. */
  heldBack(cap: number): Promise<{ rows: number; first: CursorScalar } | null>;
  privileges(): Promise<PrivilegeFact>;
  estimate(): Promise<EstimateFact>;
}
