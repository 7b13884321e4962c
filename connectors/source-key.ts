/**
 * The key a source is read by, the key that identifies its rows and the columns a read selects: decided from
 * the definition the same way for every source. Each source supplies only the key it discovers (a primary key,
 * a unique index, a uniqueness constraint) and how it names one for messages.
 */
import type { ConnectorDefinition } from './connector-definition';

/**
 * The key keyset reading goes by (`cursor.tiebreaker`, else `primary_key`, else `discovered`), with the setting
 * that named it for messages. It may hold the cursor column: see `keysetOrder`.
 */
export function readKey(
  def: ConnectorDefinition,
  discovered: readonly string[],
  discoveredSetting: string,
): { names: string[]; setting: string } {
  if (def.cursor?.tiebreaker) return { names: def.cursor.tiebreaker, setting: 'cursor.tiebreaker' };
  if (def.primary_key) return { names: def.primary_key, setting: 'primary_key' };
  return { names: [...discovered], setting: discoveredSetting };
}

/** What identifies a row (the default source_id): `primary_key`, else `discovered`, else the tie-breaker, else `fallback`. */
export function rowKey(def: ConnectorDefinition, discovered: readonly string[], fallback: readonly string[] = []): string[] {
  return def.primary_key ?? (discovered.length ? [...discovered] : (def.cursor?.tiebreaker ?? [...fallback]));
}

/** The configured `columns` and every other column a read needs (cursor, key, row key); null when all are read. */
export function columnsToRead(def: ConnectorDefinition, key: readonly string[], primaryKey: readonly string[]): string[] | null {
  if (def.columns === null) return null;
  const names = [...def.columns];
  for (const extra of [def.cursor?.column ?? null, def.deletes.column, ...key, ...primaryKey]) {
    if (extra !== null && !names.includes(extra)) names.push(extra);
  }
  return names;
}
