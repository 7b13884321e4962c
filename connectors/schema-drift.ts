/**
 * Schema drift: how the columns a source describes differ from those an earlier run found. Compared by name; the
 * order of columns is not a change (a query's `SELECT *` may return them in a new order without anything breaking).
 */
import type { SourceTable } from './contract';

export interface SourceColumn {
  name: string;
  type: string;
}

export type SchemaChange =
  | { column: string; change: 'added'; type: string }
  | { column: string; change: 'removed'; type: string }
  | { column: string; change: 'type'; from: string; to: string };

/** The columns of a description, as runs record them. */
export function sourceColumns(table: SourceTable): SourceColumn[] {
  return table.columns.map(({ name, type }) => ({ name, type }));
}

export function schemaChanges(before: readonly SourceColumn[], after: readonly SourceColumn[]): SchemaChange[] {
  const old = new Map(before.map((c) => [c.name, c.type]));
  const now = new Map(after.map((c) => [c.name, c.type]));
  const changes: SchemaChange[] = [];
  for (const { name, type } of after) {
    const was = old.get(name);
    if (was === undefined) changes.push({ column: name, change: 'added', type });
    else if (was !== type) changes.push({ column: name, change: 'type', from: was, to: type });
  }
  for (const { name, type } of before) if (!now.has(name)) changes.push({ column: name, change: 'removed', type });
  return changes;
}

/** The changes in words: `added "sku" (text), "price" numeric → text, removed "legacy" (integer)`. */
export function describeSchemaChanges(changes: readonly SchemaChange[]): string {
  return changes
    .map((c) => (c.change === 'type' ? `"${c.column}" ${c.from} → ${c.to}` : `${c.change} "${c.column}" (${c.type})`))
    .join(', ');
}
