import type { NormalizedRecord, RecordProblem } from './record';

export const MAX_DEPTH = 32;
export const MAX_NAME_LENGTH = 1000;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export type Normalized = { ok: true; record: NormalizedRecord } | { ok: false; problems: RecordProblem[] };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Finds keys that could pollute prototypes and nesting deeper than MAX_DEPTH. */
function structureProblems(v: unknown, path: Array<string | number>, problems: RecordProblem[]): void {
  if (typeof v !== 'object' || v === null || problems.length >= 10) return;
  if (path.length > MAX_DEPTH) {
    problems.push({ loc: [...path], msg: `nested deeper than ${MAX_DEPTH} levels`, type: 'value_error.too_deep' });
    return;
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      path.push(i);
      structureProblems(v[i], path, problems);
      path.pop();
    }
    return;
  }
  for (const key of Object.keys(v)) {
    if (FORBIDDEN_KEYS.has(key)) {
      problems.push({ loc: [...path, key], msg: `the key "${key}" is not allowed`, type: 'value_error.forbidden_key' });
      continue;
    }
    path.push(key);
    structureProblems((v as Record<string, unknown>)[key], path, problems);
    path.pop();
  }
}

/**
 * Checks one incoming record and folds its extra top-level fields into vertical_data.
 * Explicit vertical_data fields win over folded ones of the same name.
 */
export function normalizeRecord(raw: unknown): Normalized {
  if (!isPlainObject(raw)) {
    return { ok: false, problems: [{ loc: [], msg: 'a record must be a JSON object', type: 'type_error.object' }] };
  }
  const problems: RecordProblem[] = [];
  structureProblems(raw, [], problems);
  const { name, source_id: sourceId, vertical_data: verticalData, ...extra } = raw;
  if (typeof name !== 'string') {
    problems.push({ loc: ['name'], msg: name === undefined ? 'field required' : 'name must be a string', type: name === undefined ? 'value_error.missing' : 'type_error.str' });
  } else if (name.trim() === '') {
    problems.push({ loc: ['name'], msg: 'name must not be empty', type: 'value_error.empty' });
  } else if (name.length > MAX_NAME_LENGTH) {
    problems.push({ loc: ['name'], msg: `name is longer than ${MAX_NAME_LENGTH} characters`, type: 'value_error.too_long' });
  }
  let sid: string | null = null;
  if (typeof sourceId === 'string' && sourceId !== '') sid = sourceId;
  else if (typeof sourceId === 'number' && Number.isFinite(sourceId)) sid = String(sourceId);
  else if (sourceId !== undefined && sourceId !== null) {
    problems.push({ loc: ['source_id'], msg: 'source_id must be a non-empty string or a number', type: 'type_error.str' });
  }
  if (verticalData !== undefined && verticalData !== null && !isPlainObject(verticalData)) {
    problems.push({ loc: ['vertical_data'], msg: 'vertical_data must be a JSON object', type: 'type_error.object' });
  }
  if (problems.length > 0) return { ok: false, problems };
  const data = Object.keys(extra).length === 0 ? ((verticalData as Record<string, unknown>) ?? {}) : { ...extra, ...(verticalData as Record<string, unknown> | undefined) };
  return { ok: true, record: { name: name as string, sourceId: sid, verticalData: data } };
}
