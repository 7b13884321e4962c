import { createHash } from 'node:crypto';
import { isExactNumber } from './exact-number';

/**
 * JSON with object keys sorted at every level, so that two records differing only in key order
 * hash the same. Arrays keep their order (it is data).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  // Its text is already the one spelling of its value (see exact-number.ts), so equal numbers hash alike.
  if (isExactNumber(value)) return value.rawJSON;
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += (first ? '' : ',') + JSON.stringify(k) + ':' + canonicalJson(v);
    first = false;
  }
  return out + '}';
}

/**
 * The dedup key of a record without source_id: SHA-256 (hex) of its canonical content, so the same record
 * sent twice, keys in any order, lands once.
 */
export function contentKey(name: string, verticalData: Record<string, unknown>): string {
  return createHash('sha256')
    .update(canonicalJson({ name, vertical_data: verticalData }))
    .digest('hex');
}
