/**
 * How a MongoDB collection is read (the same algorithm as the SQL reader, in filter documents).
 *
 * With a cursor field, documents come in (cursor, key) order by keyset pages, up to the lag bound
 * `cursor <= source now − lag` for date cursors:
 * 1. a run that starts from nothing first reads the documents whose cursor is null or missing, by key;
 * 2. then every document after the committed position (or from `initial_value`, inclusive).
 * A read continues strictly after the committed (cursor, key) with the `$or` keyset predicate split into its
 * branches, each streamed through one server cursor (`batchSize` = the batch size) in order:
 *   { c: v, k: { $gt: kv } }  sort { c: 1, k: 1 }
 *   { c: { $gt: v } }          sort { c: 1, k: 1 }
 * Their union is exactly `{ $or: [{ c: { $gt: v } }, { c: v, k: { $gt: kv } }] }` in order; each branch is one
 * index range on a (c, k) index in MongoDB, and FerretDB pushes the equality down to its backend (it pushes
 * down no `$or`, `$gt` or sort). Every batch carries the (cursor, key) of its last document, so a run that
 * stops anywhere resumes exactly; one query per branch (not per batch) keeps FerretDB, which filters and sorts
 * the whole collection for each query, usable.
 * Without a cursor field the filter's result streams through one server cursor (`batchSize` documents per
 * round trip) and batches carry `cursor: null`.
 */
import type { Collection, Document, Sort } from 'mongodb';
import type { Cursor, CursorScalar, ReadPlan, Row, RowBatch } from '../contract';
import { effectiveLagSeconds, lastPullInstant, type ConnectorDefinition } from '../connector-config';
import { ConnectorError } from '../connector-error';
import { subtractSeconds } from '../iso-time';
import { bindLastPull, valueAt, type MongodbField, type MongodbSource } from './mongodb-source';
import { fromDocument, isoToDate, toBson } from './mongodb-types';

export async function* readMongodb(collection: Collection, source: MongodbSource, def: ConnectorDefinition, plan: ReadPlan, signal: AbortSignal): AsyncGenerator<RowBatch> {
  const limit = plan.batchSize;
  if (!Number.isInteger(limit) || limit < 1) throw new ConnectorError('config', `batch size must be a whole number ≥ 1, got ${limit}`);
  const userFilter = bindLastPull(source.filter, isoToDate(lastPullInstant(def, plan))) as Document;
  const filters: Document[] = Object.keys(userFilter).length ? [userFilter] : [];
  const projection = source.projection ?? undefined;

  const cursorField = source.cursor;
  if (cursorField === null) {
    const stream = collection.find(and(filters), { projection, batchSize: limit });
    try {
      let rows: Row[] = [];
      for await (const doc of stream) {
        rows.push(fromDocument(doc));
        if (rows.length === limit) {
          yield { rows, cursor: null };
          rows = [];
          if (signal.aborted) return;
        }
      }
      if (rows.length && !signal.aborted) yield { rows, cursor: null };
    } finally {
      await stream.close();
    }
    return;
  }

  const key = source.key;
  const resume = plan.cursor;
  if (resume && resume.key.length !== key.length) {
    throw new ConnectorError(
      'config',
      `the committed cursor has ${resume.key.length} key value(s) but the key is now (${key.map((k) => k.name).join(', ') || 'the cursor field alone'}) - ` +
        'the key or tie-breaker changed since the last run; run a full resync',
    );
  }
  const bson = (value: CursorScalar, field: MongodbField, what: string) => {
    try {
      return toBson(value, field.kind);
    } catch (err) {
      throw new ConnectorError('config', `${what} for "${field.name}" does not fit its values (${field.kind ?? 'unknown type'}): ${(err as Error).message} - check cursor.initial_value, or run a full resync`);
    }
  };

  const c = cursorField.name;
  const bounds: Document[] = [];
  if (cursorField.kind === 'date') {
    bounds.push({ [c]: { $lte: isoToDate(subtractSeconds(plan.now, effectiveLagSeconds(def.cursor))) } });
  } else if ((def.cursor?.lag_seconds ?? 0) > 0 && cursorField.kind !== null) {
    throw new ConnectorError('config', `cursor.lag_seconds applies to date cursors, and "${c}" holds ${cursorField.kind} values - remove lag_seconds`);
  }
  const initial = resume === null ? (def.cursor?.initial_value ?? null) : null;

  const readNullsFirst = key.length > 0 && (resume === null ? initial === null : resume.value === null);
  if (readNullsFirst) {
    const after = resume ? resume.key.map((v, i) => bson(v, key[i] as MongodbField, 'the committed cursor')) : null;
    yield* pages(collection, [...filters, { [c]: null }], key, after, projection, limit, signal, (last) => ({ value: null, key: keyOf(last, key) }));
  }
  if (signal.aborted) return;

  const starts: Document[] = [];
  let after: unknown[] | null = null;
  if (resume && resume.value !== null) {
    after = [bson(resume.value, cursorField, 'the committed cursor'), ...resume.key.map((v, i) => bson(v, key[i] as MongodbField, 'the committed cursor'))];
  } else if (initial !== null) {
    starts.push({ [c]: { $gte: bson(initial, cursorField, 'cursor.initial_value') } });
  } else if (bounds.length === 0) {
    starts.push({ [c]: { $ne: null } });
  }
  yield* pages(collection, [...filters, ...bounds, ...starts], [cursorField, ...key], after, projection, limit, signal, (last) => ({
    value: valueAt(last, c) as CursorScalar,
    key: keyOf(last, key),
  }));
}

function keyOf(row: Row, key: readonly MongodbField[]): CursorScalar[] {
  return key.map((k) => (valueAt(row, k.name) ?? null) as CursorScalar);
}

function and(filters: Document[]): Document {
  if (filters.length === 0) return {};
  return filters.length === 1 ? (filters[0] as Document) : { $and: filters };
}

async function* pages(
  collection: Collection,
  filters: Document[],
  order: readonly MongodbField[],
  start: unknown[] | null,
  projection: Document | undefined,
  limit: number,
  signal: AbortSignal,
  cursorOf: (last: Row) => Cursor,
): AsyncGenerator<RowBatch> {
  const sort: Sort = Object.fromEntries(order.map((f) => [f.name, 1 as const]));
  let rows: Row[] = [];
  for (const branch of keysetBranches(order, start)) {
    const filter = { ...branch, ...(filters.length ? { $and: filters } : {}) };
    const stream = collection.find(filter, { projection, sort, batchSize: limit });
    try {
      for await (const doc of stream) {
        rows.push(fromDocument(doc));
        if (rows.length < limit) continue;
        yield { rows, cursor: cursorOf(rows[rows.length - 1] as Row) };
        rows = [];
        if (signal.aborted) return;
      }
    } finally {
      await stream.close();
    }
  }
  if (rows.length && !signal.aborted) yield { rows, cursor: cursorOf(rows[rows.length - 1] as Row) };
}

/**
 * The branches of "strictly after `after` in `order`", deepest first: equality on the leading fields and
 * `$gt` on the next one. The equalities sit at the root of the filter so FerretDB can push them down.
 */
export function keysetBranches(order: readonly MongodbField[], after: readonly unknown[] | null): Document[] {
  if (after === null) return [{}];
  const branches: Document[] = [];
  for (let depth = order.length - 1; depth >= 0; depth--) {
    const branch: Document = {};
    for (let i = 0; i < depth; i++) branch[(order[i] as MongodbField).name] = after[i];
    branch[(order[depth] as MongodbField).name] = { $gt: after[depth] };
    branches.push(branch);
  }
  return branches;
}
