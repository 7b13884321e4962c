/**
 * The validated connector definition every connector reads: one shape from the API to the reader, typed by its
 * `connector_type`. Each source declares its `connection_config` type next to its validator (`<db>-config.ts`)
 * and is listed in `ConnectionConfigs`; connector-config.ts builds a definition, and nothing else does.
 *
 * Glossary
 * - stored definition: the definition as the user wrote it (`StoredDefinition`), kept and shown back as given.
 * - definition: a stored definition validated and normalised, defaults applied (`ConnectorDefinition`).
 */
import type { CursorScalar } from './contract';
import type { MongodbConnection } from './mongodb/mongodb-config';
import type { MysqlConnection } from './mysql/mysql-config';
import type { Neo4jConnection } from './neo4j/neo4j-config';
import type { PostgresqlConnection } from './postgresql/postgresql-config';
import type { NotifyConfig } from './notify-config';
import { ConnectorError } from './connector-error';

export interface CursorConfig {
  /**
   * The column (field, property) rows are read in order of. Required in table mode; in query mode it may be
   * left out, and then `lag_seconds`/`initial_value` only shape `:last_pull`.
   */
  column: string | null;
  /** Columns that make (column, tiebreaker) unique; defaults to the primary key. The cursor alone: it is unique. */
  tiebreaker: string[] | null;
  /** Explicit lag window in seconds; null means the default (see read-window.ts). */
  lag_seconds: number | null;
  /** Where reading starts when there is no committed cursor (inclusive); also `:last_pull` before the first run. */
  initial_value: CursorScalar;
}

export interface FieldsConfig {
  /** Only these source columns go into vertical_data (null: all). */
  include: string[] | null;
  /** These source columns stay out of vertical_data. */
  exclude: string[];
  /** Source column → vertical_data key. */
  rename: Record<string, string>;
}

/**
 * How deletes at the source reach the entities. `off`: never. `soft`: the entity gets `deleted_at` (left out of
 * listings, undeleted when its row comes back). `hard`: the entity is deleted. A row is gone when a key sweep does
 * not find its key, or when `column` says the source itself soft-deleted it.
 */
export interface DeletesConfig {
  mode: 'off' | 'soft' | 'hard';
  /** A column the source marks deleted rows with (`deleted_at`, `is_deleted`); null: none. */
  column: string | null;
  /** When a row counts as deleted: `column` is not null, or equals this value. */
  deleted_when: 'not_null' | string | number | boolean;
  /** A sweep that would delete more than this share of the connector's entities waits for confirmation. */
  max_fraction: number;
  /** A cron pattern for sweeps of their own (in the connector's timezone); null: only after full resyncs and on demand. */
  sweep_schedule: string | null;
}

/** Everything of a definition but the source type and its connection. */
export interface DefinitionSettings {
  /** SQL or Cypher text, or a MongoDB filter document. Exactly one of `query` and `table` is set. */
  query: string | Record<string, unknown> | null;
  /** Table mode: the table, collection or label (whatever key the user wrote it under). */
  table: string | null;
  /** Table mode: the columns to read (the cursor and key columns are always read too); null: all. */
  columns: string[] | null;
  /** Table mode: an extra filter (SQL condition, or a filter document for document sources). */
  where: string | Record<string, unknown> | null;
  cursor: CursorConfig | null;
  primary_key: string[] | null;
  name_column: string;
  /** A column name, a template such as `pg-{id}`, or null for the key columns. */
  source_id: string | null;
  fields: FieldsConfig;
  batch_size: number;
  deletes: DeletesConfig;
  /** A cron pattern for verify runs (in the connector's timezone); null: none scheduled. */
  verify_schedule: string | null;
  /**
   * What a run does when the source's columns or their types changed since the last successful run: `allow` reads on
   * silently, `warn` reads on and records what changed, `fail` stops before reading.
   */
  schema_drift: SchemaDriftPolicy;
  /** Where signed calls go when a run fails, recovers or waits for confirmation; null: nowhere. Stored apart (sealed). */
  notify: NotifyConfig | null;
}

export type SchemaDriftPolicy = 'allow' | 'warn' | 'fail';

/** `connection_config` of each connector type, as its validator returns it (it holds secrets: never log it). */
export interface ConnectionConfigs {
  postgresql: PostgresqlConnection;
  mysql: MysqlConnection;
  mongodb: MongodbConnection;
  neo4j: Neo4jConnection;
}

export type ConnectorTypeName = keyof ConnectionConfigs;

/** A validated definition of one connector type. */
export interface DefinitionOf<K extends ConnectorTypeName> extends DefinitionSettings {
  connector_type: K;
  connection_config: ConnectionConfigs[K];
}

/** A validated connector definition, defaults applied: `connection_config` is typed by `connector_type`. */
export type ConnectorDefinition = { [K in ConnectorTypeName]: DefinitionOf<K> }[ConnectorTypeName];

/** A definition as written and stored: the platform keeps these three parts and shows them back as given. */
export interface StoredDefinition {
  connector_type: string;
  /** Holds secrets: sealed at rest, never shown. */
  connection_config: Record<string, unknown>;
  /** query or table, cursor, mapping, batch size…: every other field of the definition. */
  settings: Record<string, unknown>;
}

/** `definition` as the connector type `type` reads it; a definition of another type is a programming error. */
export function definitionOf<K extends ConnectorTypeName>(
  definition: ConnectorDefinition,
  type: K,
): Extract<ConnectorDefinition, { connector_type: K }> {
  if (!isOfType(definition, type))
    throw new ConnectorError('config', `a ${type} connector cannot read a ${definition.connector_type} definition`);
  return definition;
}

function isOfType<K extends ConnectorTypeName>(
  definition: ConnectorDefinition,
  type: K,
): definition is Extract<ConnectorDefinition, { connector_type: K }> {
  return definition.connector_type === type;
}
