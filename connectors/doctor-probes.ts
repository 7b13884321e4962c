/**
 * What a source measures for the doctor (doctor.ts turns the measurements into advice). Each source answers with
 * the same read-only connection its pulls use, scoped by the connector's own filter, and bounded on the server by
 * the time budget it is given; no member scans without a LIMIT where a cheaper answer exists.
 */
import type { CursorScalar } from './contract';
import type { KeysetColumn } from './keyset-plan';

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
