/**
 * A collection as the connector reads it: the filter (query or `where`, Extended JSON decoded), the
 * projection, the cursor and key fields with their BSON kinds, and the key that identifies a document.
 * Built once per connector from the collection's indexes and a few sampled documents.
 */
import { BSON, type Collection, type Document } from 'mongodb';
import type { SourceTable } from '../contract';
import { ConfigError } from '../config-error';
import type { ConnectorDefinition } from '../connector-definition';
import { ConnectorError } from '../connector-error';
import { columnsToRead, readKey, rowKey } from '../source-key';
import { filterIssues } from './mongodb-read-only';
import { bsonKind, type BsonKind } from './mongodb-types';

/** The value standing for `:last_pull` in a filter document (replaced by a BSON date). */
export const LAST_PULL_TOKEN = '$last_pull';

/** How many documents `describe`/`discover` look at to list the fields of a collection. */
export const SAMPLE_SIZE = 100;

export interface MongodbField {
  name: string;
  /** BSON kind of the first non-null value found; null when no document holds one. */
  kind: BsonKind | null;
}

export interface MongodbSource {
  collection: string;
  /** The user's filter (query or `where`), decoded, with `$last_pull` tokens left in place. */
  filter: Document;
  /** Null: whole documents. */
  projection: Document | null;
  cursor: MongodbField | null;
  /** The key keyset reading goes by: `cursor.tiebreaker`, else `primary_key`, else the discovered key; may hold the cursor field. */
  key: MongodbField[];
  /** What identifies a document (default source_id). */
  primaryKey: string[];
  /** Fields of a sample of the documents, in first-seen order, with their BSON type names. */
  columns: SourceTable['columns'];
  label: string;
}

/** Decodes Extended JSON (`{"$date": …}`, `{"$oid": …}`, `{"$numberLong": …}`) in a filter document. */
export function decodeFilter(filter: Record<string, unknown> | string | null, setting: string): Document {
  if (filter === null) return {};
  try {
    const text = typeof filter === 'string' ? filter : JSON.stringify(filter);
    return BSON.EJSON.parse(text, { relaxed: true }) as Document;
  } catch (err) {
    throw new ConnectorError('syntax', `${setting} is not a valid Extended JSON filter document: ${(err as Error).message}`);
  }
}

/** Replaces every `"$last_pull"` value in `filter` by `value`. */
export function bindLastPull(filter: unknown, value: Date): unknown {
  if (filter === LAST_PULL_TOKEN) return value;
  if (Array.isArray(filter)) return filter.map((v) => bindLastPull(v, value));
  if (filter !== null && typeof filter === 'object' && Object.getPrototypeOf(filter) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(filter)) out[k] = bindLastPull(v, value);
    return out;
  }
  return filter;
}

/**
 * The key MongoDB gives a collection: the fields of its one unique index other than `_id` (not sparse, not
 * partial, so every document has a value), else `_id`. A unique index such as `{sku: 1}` or
 * `{region: 1, id: 1}` is how a collection imported from a table keeps its primary key.
 */
export function discoveredKey(indexes: Document[]): string[] {
  const unique = indexes.filter(
    (ix) =>
      ix.unique === true &&
      ix.name !== '_id_' &&
      !ix.sparse &&
      !ix.partialFilterExpression &&
      Object.values(ix.key as Document).every((d) => d === 1 || d === -1),
  );
  return unique.length === 1 ? Object.keys((unique[0] as Document).key as Document) : ['_id'];
}

/** Field names and BSON type names of `docs`, in first-seen order. */
export function sampleColumns(docs: Document[]): SourceTable['columns'] {
  const columns = new Map<string, { name: string; type: string; nullable: boolean }>();
  for (const doc of docs) {
    for (const [name, value] of Object.entries(doc)) {
      const column = columns.get(name);
      if (!column)
        columns.set(name, {
          name,
          type: value === null || value === undefined ? 'null' : bsonKind(value),
          nullable: value === null || value === undefined,
        });
      else if (value === null || value === undefined) column.nullable = true;
      else if (column.type === 'null') column.type = bsonKind(value);
    }
  }
  for (const column of columns.values()) if (docs.some((d) => !(column.name in d))) column.nullable = true;
  return [...columns.values()];
}

/** Reads a dotted path (`meta.updatedAt`) of a document. */
export function valueAt(doc: Document, path: string): unknown {
  if (path in doc) return doc[path];
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Document)[part];
  }
  return value;
}

/**
 * Resolves the cursor and key fields of `def` against the collection. Throws `not_found` for the collection
 * or for a cursor/key field that no document of a non-empty collection has.
 */
export async function resolveMongodbSource(collection: Collection, def: ConnectorDefinition, database: string): Promise<MongodbSource> {
  const filterSetting = def.table !== null ? 'where' : 'query';
  const filter = decodeFilter(def.table !== null ? def.where : def.query, filterSetting);
  const refused = filterIssues(filter, filterSetting);
  if (refused.length) throw new ConfigError(refused);
  const name = collection.collectionName;
  const label = `collection "${name}"`;
  const exists = await collection.db.listCollections({ name }, { nameOnly: true }).toArray();
  if (exists.length === 0) {
    throw new ConnectorError(
      'not_found',
      `collection "${name}" does not exist in database "${database}" - check the collection (and connection_config.database)`,
    );
  }
  const indexes = await collection.listIndexes().toArray();
  const discovered = discoveredKey(indexes);
  const sample = await collection.find({}).limit(SAMPLE_SIZE).toArray();
  const empty = sample.length === 0;

  const field = async (fieldName: string, setting: string): Promise<MongodbField> => {
    const sampled = sample.find((d) => valueAt(d, fieldName) !== undefined && valueAt(d, fieldName) !== null);
    const found =
      sampled ??
      (empty ? null : await collection.findOne({ [fieldName]: { $exists: true, $ne: null } }, { projection: { [fieldName]: 1 } }));
    if (!found && !empty && !(await collection.findOne({ [fieldName]: { $exists: true } }, { projection: { _id: 1 } }))) {
      throw new ConnectorError('not_found', `${setting} "${fieldName}" is in no document of ${label} - check the field name and its case`);
    }
    return { name: fieldName, kind: found ? bsonKind(valueAt(found, fieldName)) : null };
  };

  const cursorName = def.cursor?.column ?? null;
  const cursor = cursorName !== null ? await field(cursorName, 'cursor.column') : null;
  const keyNames = readKey(def, discovered, 'key field');
  const key: MongodbField[] = [];
  for (const n of keyNames.names) key.push(n === cursorName && cursor ? cursor : await field(n, keyNames.setting));
  const primaryKey = rowKey(def, discovered);

  let projection: Document | null = null;
  const names = columnsToRead(def, keyNames.names, primaryKey);
  if (names) {
    projection = Object.fromEntries(names.map((n) => [n, 1]));
    // `_id` comes only when asked for, like any other field.
    if (!names.includes('_id')) projection._id = 0;
  }

  return { collection: name, filter, projection, cursor, key, primaryKey, columns: sampleColumns(sample), label };
}
