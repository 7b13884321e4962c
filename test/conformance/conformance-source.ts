/**
 * What the conformance suite needs from a source to test its connector: a fresh place to create tables
 * in, a driver session of its own to write (and to hold a transaction open), and the few things the suite
 * cannot write generically (queries, bad connection settings, the source's type table).
 *
 * A source plugs in through a `ConformanceFactory`; the suite (connector-conformance.ts) is written once.
 * Document sources (MongoDB, Neo4j) map the same vocabulary: a "table" is a collection or label, a
 * "column" a field or property, `primaryKey` their natural key.
 */

/** Types the suite uses in its own tables; each source picks its usual native type. */
export type LogicalType =
  /** 32-bit integer. */
  | 'integer'
  | 'bigint'
  /** Short text, indexable. */
  | 'text'
  /** The usual `updated_at` type with microseconds: PostgreSQL timestamptz, MySQL DATETIME(6), … */
  | 'timestamp';

export interface ColumnSpec {
  name: string;
  type: LogicalType | { native: string };
  nullable?: boolean;
}

export interface TableSpec {
  name: string;
  columns: ColumnSpec[];
  /** Omitted: a table without a primary key. */
  primaryKey?: string[];
  /** Extra indexes, each a column list (keyset reading wants one on (cursor, key…)). */
  indexes?: string[][];
}

/**
 * Row values in the suite's vocabulary: numbers, strings (bigints as strings), null, and timestamps as
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ`. For `{ native }` columns the value goes to the driver as given.
 */
export type RowValues = Record<string, unknown>;

/** One line of the source's type table: a native type, a value written through the driver, the JSON expected. */
export interface TypeCase {
  column: string;
  nativeType: string;
  input: unknown;
  expected: unknown;
}

/** A query that tries to write; the connector or the source must refuse it. */
export interface WriteAttempt {
  label: string;
  /** Merged into the definition (`query`, maybe `cursor`). */
  overrides: Record<string, unknown>;
  /**
   * Who refuses it: `validation` (the definition is refused before anything reaches the source) or `source`
   * (the text passes the connector's checks and the source refuses to write: a READ ONLY transaction, Neo4j's
   * plan and access mode).
   */
  refusedBy: 'validation' | 'source';
}

export interface OpenTransaction {
  insert(table: string, rows: RowValues[]): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

export interface ConformanceSource {
  /** `connector_type` of the connector under test. */
  connectorType: string;
  /** The config's `table` (collection, label) value for a table the suite created. */
  tableRef(name: string): string;
  createTable(spec: TableSpec): Promise<void>;
  insert(table: string, rows: RowValues[]): Promise<void>;
  /** Sets `changes` on the rows matching every `where` column. */
  update(table: string, where: RowValues, changes: RowValues): Promise<void>;
  /** Deletes the rows whose `column` holds one of `values`. */
  remove(table: string, column: string, values: unknown[]): Promise<void>;
  count(table: string): Promise<number>;
  /** A write transaction on its own session; its rows stay invisible until `commit()`. */
  begin(): Promise<OpenTransaction>;
  /** A raw connector definition reading this source, with `overrides` merged on top. */
  definition(overrides: Record<string, unknown>): Record<string, unknown>;
  /** How the connector returns a `timestamp` column value written as `iso` (UTC, six digits). */
  timestampOut(iso: string): string;
  /** A table-mode `where` setting: rows whose text `column` equals `value`. */
  whereEquals(column: string, value: string): unknown;
  /** Query mode: `id, name, updated_at` of `table` where `updated_at > :last_pull`. */
  lastPullQuery(table: string): unknown;
  /** Query mode: `id, name, updated_at` of `table`, for reading with a cursor around the query. */
  projectionQuery(table: string): unknown;
  /** Queries that write to `table` (INSERT, UPDATE, a writing CTE or function, a second statement, …). */
  writeAttempts(table: string): Promise<WriteAttempt[]>;
  /** A query the source rejects as malformed. */
  syntaxErrorQuery: unknown;
  /** `connection_config` with a wrong password, and that password. */
  wrongPassword: { connection_config: Record<string, unknown>; password: string };
  /** `connection_config` naming a host that does not exist. */
  unknownHost: Record<string, unknown>;
  /** The source's type table: the types every server of this source stores. */
  typeCases: TypeCase[];
  /**
   * Why this server cannot store a case of `capabilities.serverTypeCases` (null: it can). Such a case is reported as
   * skipped with this reason, never passed.
   */
  cannotStore?(t: TypeCase): string | null;
  /** Fields every row has besides the table's own columns (MongoDB `_id`); describe may list them too. */
  implicitColumns?: string[];
  /** Drops everything setup() created and closes the driver sessions. */
  teardown(): Promise<void>;
}

/** What a source can express; the suite leaves out the cases a source cannot (all true when omitted). */
export interface ConformanceCapabilities {
  /** Tables without a primary key (document stores always have `_id`). */
  keylessTables?: boolean;
  /** Primary keys of several columns. */
  compositeKeys?: boolean;
  /** A write transaction held open across a read (`begin()`). */
  transactions?: boolean;
  /** The finest step of the source's `timestamp` type (default microseconds; MongoDB dates hold milliseconds). */
  timestampStep?: 'microsecond' | 'millisecond';
  /** Whether a column can hold NULL; where it cannot (Neo4j removes a property set to null) NULL reads as absent. */
  storesNull?: boolean;
  /**
   * Rows of the keyset paging table (default 10,000, of which 40% share one cursor value). A server that scans the
   * whole collection for every range query (FerretDB) gets fewer rows of the same shape, so that the case that
   * resumes from every batch's cursor in separate reads (rows / 7 queries) stays quick.
   */
  pagingRows?: number;
  /**
   * Types only some servers of the source store (MongoDB's Decimal128 on FerretDB): one test each, skipped with
   * the source's `cannotStore` reason on a server that cannot store it.
   */
  serverTypeCases?: TypeCase[];
}

export interface ConformanceFactory {
  /** For test names: `PostgreSQL`, `MariaDB`. */
  name: string;
  capabilities?: ConformanceCapabilities;
  /** Creates a fresh, empty schema or database for one test file. */
  setup(): Promise<ConformanceSource>;
}
