/**
 * How a MongoDB collection is read: the keyset planner's phases (keyset-plan.ts) as filter documents.
 *
 * "Strictly after (v, kv)" is the planner's branches, each streamed through one server cursor (`batchSize` = the
 * batch size) in order and cut into batches by `rebatch`:
 *   { c: v, k: { $gt: kv }, $and: [<filter, lag bound, start>] }  sort { c: 1, k: 1 }
 *   { c: { $gt: v }, $and: [...] }                                  sort { c: 1, k: 1 }
 * Their union is exactly `{ $or: [{ c: { $gt: v } }, { c: v, k: { $gt: kv } }] }` in order; each branch is one
 * index range on a (c, k) index in MongoDB, and FerretDB pushes the root equality down to its backend (it pushes
 * down no `$or`, `$gt` or sort). Every batch carries the (cursor, key) of its last document, so a run that stops
 * anywhere resumes exactly; one query per branch (not per batch) keeps FerretDB, which filters and sorts the
 * whole collection for each query, usable. A streamed read is the filter's result through one server cursor.
 */
import type { Collection, Document, FindOptions } from 'mongodb';
import type { CursorScalar, ReadPlan, Row, RowBatch } from '../contract';
import type { ConnectorDefinition } from '../connector-definition';
import { afterBranches, checkBatchSize, planRead, positionAfter, rebatch, unfitValue, type Condition, type KeysetColumn } from '../keyset-plan';
import { keysetSettings, lastPullInstant } from '../read-window';
import { bindLastPull, valueAt, type MongodbField, type MongodbSource } from './mongodb-source';
import { fromDocument, isoToDate, toBson } from './mongodb-types';

type Field = MongodbField & KeysetColumn;

/** A field as the planner sees it: any document may lack it, and only dates are points in time. */
function keysetField(field: MongodbField): Field {
  return { ...field, type: field.kind ?? 'unknown', temporal: field.kind === null ? null : field.kind === 'date', nullable: true };
}

export async function* readMongodb(collection: Collection, source: MongodbSource, def: ConnectorDefinition, plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
  const limit = checkBatchSize(plan.batchSize);
  const userFilter = bindLastPull(source.filter, isoToDate(lastPullInstant(def, plan))) as Document;
  const filters: Document[] = Object.keys(userFilter).length ? [userFilter] : [];
  const options: FindOptions = { projection: source.projection ?? undefined, batchSize: limit };

  const keyset = { cursor: source.cursor && keysetField(source.cursor), key: source.key.map(keysetField), label: source.label };
  const read = planRead(keyset, keysetSettings(def), plan);
  if (read.kind === 'stream') {
    const filter = filters.length === 1 ? (filters[0] as Document) : filters.length ? { $and: filters } : {};
    yield* rebatch(documents(collection, [filter], options), limit, () => null, signal);
    return;
  }
  const valueOf = (row: Row, field: Field) => valueAt(row, field.name);
  // Converted before anything is read, so a value that does not fit fails the read at once.
  const phases = read.phases.map((phase) => {
    const shared = [...filters, ...phase.conditions.map(mongodbCondition)];
    const after = phase.after && phase.after.map((value, i) => bson(value, phase.order[i] as Field, 'the committed cursor'));
    const branches = keysetBranches(phase.order, after).map((branch) => (shared.length ? { ...branch, $and: shared } : branch));
    return { phase, branches, sort: Object.fromEntries(phase.order.map((f) => [f.name, 1 as const])) };
  });
  for (const { phase, branches, sort } of phases) {
    if (signal.aborted) return;
    yield* rebatch(documents(collection, branches, { ...options, sort }), limit, (last) => positionAfter(phase, last, valueOf).cursor, signal);
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

function mongodbCondition(condition: Condition<Field>): Document {
  const name = condition.column.name;
  switch (condition.op) {
    case 'is-null':
      // Matches a missing field too.
      return { [name]: null };
    case 'not-null':
      return { [name]: { $ne: null } };
    case '<=':
      return { [name]: { $lte: bson(condition.value, condition.column, condition.what) } };
    case '>=':
      return { [name]: { $gte: bson(condition.value, condition.column, condition.what) } };
  }
}

/** A cursor value in its JSON form as the BSON value the field holds (a hex string as an ObjectId, …). */
function bson(value: CursorScalar, field: Field, what: string): unknown {
  try {
    return toBson(value, field.kind);
  } catch (err) {
    throw unfitValue(what, value, field, err instanceof RangeError ? err.message : `a ${field.type} value`);
  }
}

/**
 * The planner's branches of "strictly after `after` in `order`" as filter documents, deepest first: equality on
 * the leading fields and `$gt` on the next one, at the root of the document so FerretDB can push them down.
 */
export function keysetBranches(order: ReadonlyArray<{ name: string }>, after: readonly unknown[] | null): Document[] {
  if (after === null) return [{}];
  return afterBranches(order, after).map((branch) => ({
    ...Object.fromEntries(branch.equal.map(({ column, value }) => [column.name, value])),
    [branch.greater.column.name]: { $gt: branch.greater.value },
  }));
}
