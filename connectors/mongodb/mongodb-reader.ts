/**
 * How a MongoDB collection is read: the keyset planner's phases (keyset-plan.ts) as filter documents
 * (mongodb-filters.ts). Each branch of a phase streams through one server cursor (`batchSize` = the batch size),
 * in order, cut into batches by `rebatch`; every batch carries the (cursor, key) of its last document, so a run
 * that stops anywhere resumes exactly. One query per branch (not per batch) keeps FerretDB, which filters and
 * sorts the whole collection for each query, usable. A streamed read is the filter's result through one cursor.
 */
import type { Collection, Document, FindOptions } from 'mongodb';
import type { ReadPlan, Row, RowBatch } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import { checkBatchSize, planRead, positionAfter, rebatch } from '../keyset-plan';
import { keysetSettings, lastPullInstant } from '../read-window';
import { keysetField, phaseQueries, type Field } from './mongodb-filters';
import { bindLastPull, valueAt, type MongodbSource } from './mongodb-source';
import { fromDocument, isoToDate } from './mongodb-types';

export async function* readMongodb(
  collection: Collection,
  source: MongodbSource,
  def: ConnectorDefinition,
  plan: ReadPlan,
  signal: AbortSignal,
): AsyncGenerator<RowBatch> {
  const limit = checkBatchSize(plan.batchSize);
  const userFilter = bindLastPull(source.filter, isoToDate(lastPullInstant(def, plan))) as Document;
  const filters: Document[] = Object.keys(userFilter).length ? [userFilter] : [];
  const projection = plan.mode === 'keys' && plan.columns ? keysProjection(source, plan.columns) : source.projection;
  const options: FindOptions = { projection: projection ?? undefined, batchSize: limit };

  const keyset = { cursor: source.cursor && keysetField(source.cursor), key: source.key.map(keysetField), label: source.label };
  const read = planRead(keyset, keysetSettings(def), plan);
  if (read.kind === 'stream') {
    const filter = filters.length === 1 ? (filters[0] as Document) : filters.length ? { $and: filters } : {};
    yield* rebatch(documents(collection, [filter], options), limit, () => null, signal);
    return;
  }
  const valueOf = (row: Row, field: Field) => valueAt(row, field.name);
  // Converted before anything is read, so a value that does not fit fails the read at once.
  const phases = read.phases.map((phase) => ({ phase, ...phaseQueries(phase, filters) }));
  for (const { phase, branches, sort } of phases) {
    if (signal.aborted) return;
    yield* rebatch(
      documents(collection, branches, { ...options, sort }),
      limit,
      (last) => positionAfter(phase, last, valueOf).cursor,
      signal,
    );
  }
}

/** The documents of each filter in turn, each through one server cursor, closed however the reading ends. */
async function* documents(collection: Collection, filters: Document[], options: FindOptions): AsyncGenerator<Row> {
  for (const filter of filters) {
    const stream = collection.find(filter, options);
    try {
      for await (const doc of stream) yield fromDocument(doc);
    } finally {
      await stream.close();
    }
  }
}

/** The key and the fields of `wanted`: a key sweep reads no more. */
function keysProjection(source: MongodbSource, wanted: readonly string[]): Document {
  const names = new Set([...source.key.map((k) => k.name), ...wanted]);
  const projection: Document = Object.fromEntries([...names].map((n) => [n, 1]));
  if (!names.has('_id')) projection._id = 0;
  return projection;
}
