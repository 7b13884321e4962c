/**
 * The keyset planner's phases (keyset-plan.ts) as filter documents: conditions, "strictly after" branches, and
 * committed values bound back as the BSON type their field holds (a hex string as an ObjectId, a decimal string
 * as an Int64).
 *
 * "Strictly after (v, kv)" is the planner's branches, deepest first, each a filter of its own:
 *   { c: v, k: { $gt: kv }, $and: [<filter, lag bound, start>] }  sort { c: 1, k: 1 }
 *   { c: { $gt: v }, $and: [...] }                                  sort { c: 1, k: 1 }
 * Their union is exactly `{ $or: [{ c: { $gt: v } }, { c: v, k: { $gt: kv } }] }` in order; each branch is one
 * index range on a (c, k) index in MongoDB, and FerretDB pushes the root equality down to its backend (it pushes
 * down no `$or`, `$gt` or sort).
 */
import type { Document, Sort } from 'mongodb';
import type { CursorScalar, KeysetColumn } from '../contract';
import { afterBranches, unfitValue, type Condition, type Phase } from '../keyset-plan';
import type { MongodbField } from './mongodb-source';
import { toBson } from './mongodb-types';

export type Field = MongodbField & KeysetColumn;

/** A field as the planner sees it: any document may lack it, and only dates are points in time. */
export function keysetField(field: MongodbField): Field {
  return { ...field, type: field.kind ?? 'unknown', temporal: field.kind === null ? null : field.kind === 'date', nullable: true };
}

/** The filters of `phase` (one per branch, in order, each ANDed with `filters`) and its sort. */
export function phaseQueries(phase: Phase<Field>, filters: Document[]): { branches: Document[]; sort: Sort } {
  const shared = [...filters, ...phase.conditions.map(mongodbCondition)];
  const after = phase.after && phase.after.map((value, i) => bson(value, phase.order[i] as Field, 'the committed cursor'));
  const branches = keysetBranches(phase.order, after).map((branch) => (shared.length ? { ...branch, $and: shared } : branch));
  return { branches, sort: Object.fromEntries(phase.order.map((f) => [f.name, 1 as const])) };
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
    case '<':
      return { [name]: { $lt: bson(condition.value, condition.column, condition.what) } };
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
