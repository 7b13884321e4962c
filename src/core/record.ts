import type { ProblemType } from '../problem-types';

/**
 * Records on their way through the core. What arrives (from a batch, a webhook, a stream or a connector) is any
 * JSON object `{ name, source_id?, vertical_data? }`; its other top-level fields fold into vertical_data.
 */

/** A record that passed the shape checks: what gets hashed, validated and stored. */
export interface NormalizedRecord {
  name: string;
  sourceId: string | null;
  verticalData: Record<string, unknown>;
  /** Holds numbers a double cannot represent, kept as raw JSON text (see exact-number.ts). */
  exactNumbers: boolean;
  /**
   * The vertical_data fields whose values are JSON texts not parsed yet (see json-text.ts), null for one elsewhere in
   * the record; null when there are none.
   */
  jsonTexts: Array<string | null> | null;
}

/** One rule a record broke, in the API's `{loc, msg, type}` form (loc relative to the record). */
export interface RecordProblem {
  loc: Array<string | number>;
  msg: string;
  type: ProblemType;
}

/** A record refused by an ingestion: it goes to the DLQ with these problems. */
export interface RejectedRecord {
  /** Index in the batch, or line number of a stream. */
  position: number;
  /** The record as received; for a `parse_error`, the text that did not parse. */
  raw: unknown;
  errorType: 'invalid_record' | 'schema_validation' | 'parse_error';
  problems: RecordProblem[];
}

/** One entity row ready to write: already normalized and collapsed by dedup key. */
export interface EntityRow {
  readonly name: string;
  sourceId: string | null;
  dedupKey: string;
  /** vertical_data as JSON text (any key order: jsonb normalizes it). */
  readonly data: string;
}
