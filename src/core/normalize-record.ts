import { ProblemType } from '../problem-types';
import { exactNumberProblem, isExactNumber } from './exact-number';
import { JsonText } from './json-text';
import type { NormalizedRecord, RecordProblem } from './record';
import { FORBIDDEN_KEYS, MAX_PROBLEMS, unstorableCharacter } from './record-problems';

export const MAX_DEPTH = 32;
export const MAX_NAME_LENGTH = 1000;
/**
 * source_id is measured in UTF-8 bytes because the unique index that makes upserts work is: a btree entry
 * holds at most 2,704 bytes, and (tenant, vertical, entity_type, "s:" + source_id) with the longest names
 * reaches it near 2,536 bytes of random text. 2,048 leaves a margin and fits any real key (URLs included).
 */
export const MAX_SOURCE_ID_BYTES = 2048;

export type Normalized = { ok: true; record: NormalizedRecord } | { ok: false; problems: RecordProblem[] };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isExactNumber(v);
}

/** What a walk over a record found: problems, whether it holds exact numbers, and where its JSON texts are. */
interface Scan {
  problems: RecordProblem[];
  exactNumbers: boolean;
  jsonTexts: NormalizedRecord['jsonTexts'];
}

/** Finds keys that could pollute prototypes, nesting deeper than MAX_DEPTH and numbers that cannot be stored. */
function scan(v: unknown, path: Array<string | number>, found: Scan): void {
  if (typeof v !== 'object' || v === null || found.problems.length >= MAX_PROBLEMS) return;
  // Checked where it is spliced, or parsed and walked then (see prepareBatch).
  if (v instanceof JsonText) {
    (found.jsonTexts ??= []).push(path.length === 2 && path[0] === 'vertical_data' ? (path[1] as string) : null);
    return;
  }
  if (isExactNumber(v)) {
    found.exactNumbers = true;
    const msg = exactNumberProblem(v);
    if (msg) found.problems.push({ loc: [...path], msg, type: ProblemType.number });
    return;
  }
  if (path.length > MAX_DEPTH) {
    found.problems.push({ loc: [...path], msg: `nested deeper than ${MAX_DEPTH} levels`, type: ProblemType.tooDeep });
    return;
  }
  // Scalars hold nothing to find: only objects and arrays are walked into (most values of a record are scalars).
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i];
      if (typeof item !== 'object' || item === null) continue;
      path.push(i);
      scan(item, path, found);
      path.pop();
    }
    return;
  }
  // for…in walks the keys without copying them into an array (half the time); records are plain objects (JSON.parse's,
  // a mapper's), whose prototypes add no enumerable keys.
  for (const key in v) {
    if (FORBIDDEN_KEYS.has(key)) {
      found.problems.push({ loc: [...path, key], msg: `the key "${key}" is not allowed`, type: ProblemType.forbiddenKey });
      continue;
    }
    const item = (v as Record<string, unknown>)[key];
    if (typeof item !== 'object' || item === null) continue;
    path.push(key);
    scan(item, path, found);
    path.pop();
  }
}

function nameProblem(name: unknown): RecordProblem | null {
  if (typeof name !== 'string') {
    return {
      loc: ['name'],
      msg: name === undefined ? 'field required' : 'name must be a string',
      type: name === undefined ? ProblemType.missing : ProblemType.str,
    };
  }
  if (name.trim() === '') return { loc: ['name'], msg: 'name must not be empty', type: ProblemType.empty };
  if (name.length > MAX_NAME_LENGTH)
    return { loc: ['name'], msg: `name is longer than ${MAX_NAME_LENGTH} characters`, type: ProblemType.tooLong };
  const bad = unstorableCharacter(name);
  return bad ? { loc: ['name'], msg: `name contains ${bad.what}, which cannot be stored`, type: bad.type } : null;
}

/** The source_id as text (null when absent), or the problem with it. */
function sourceIdOf(sourceId: unknown): { sid: string | null } | RecordProblem {
  if (sourceId === undefined || sourceId === null) return { sid: null };
  if (typeof sourceId === 'number' && Number.isFinite(sourceId)) return { sid: String(sourceId) };
  if (isExactNumber(sourceId)) return { sid: sourceId.rawJSON };
  if (typeof sourceId !== 'string' || sourceId === '') {
    return { loc: ['source_id'], msg: 'source_id must be a non-empty string or a number', type: ProblemType.str };
  }
  const bad = unstorableCharacter(sourceId);
  if (bad) return { loc: ['source_id'], msg: `source_id contains ${bad.what}, which cannot be stored`, type: bad.type };
  const bytes = Buffer.byteLength(sourceId, 'utf8');
  if (bytes > MAX_SOURCE_ID_BYTES) {
    return {
      loc: ['source_id'],
      msg: `source_id is ${bytes.toLocaleString('en')} bytes long in UTF-8; at most ${MAX_SOURCE_ID_BYTES.toLocaleString('en')} are allowed`,
      type: ProblemType.tooLong,
    };
  }
  return { sid: sourceId };
}

const RECORD_FIELDS = new Set(['name', 'source_id', 'vertical_data']);

/**
 * The record's top-level fields other than name, source_id and vertical_data; null when it has none (a connector's
 * records never do), without the copy a rest pattern makes of every record.
 */
function extraFields(raw: Record<string, unknown>): Record<string, unknown> | null {
  let extra: Record<string, unknown> | null = null;
  for (const key in raw) {
    if (RECORD_FIELDS.has(key)) continue;
    extra ??= {};
    extra[key] = raw[key]; // never __proto__: `scan` refused the record
  }
  return extra;
}

/**
 * Checks one incoming record and folds its extra top-level fields into vertical_data.
 * Explicit vertical_data fields win over folded ones of the same name.
 */
export function normalizeRecord(raw: unknown): Normalized {
  if (!isPlainObject(raw)) {
    return { ok: false, problems: [{ loc: [], msg: 'a record must be a JSON object', type: ProblemType.object }] };
  }
  const found: Scan = { problems: [], exactNumbers: false, jsonTexts: null };
  scan(raw, [], found);
  const { problems } = found;
  const { name, source_id: sourceId, vertical_data: verticalData } = raw;
  const badName = nameProblem(name);
  if (badName) problems.push(badName);
  const sid = sourceIdOf(sourceId);
  if (!('sid' in sid)) problems.push(sid);
  if (verticalData !== undefined && verticalData !== null && !isPlainObject(verticalData)) {
    problems.push({ loc: ['vertical_data'], msg: 'vertical_data must be a JSON object', type: ProblemType.object });
  }
  if (problems.length > 0 || !('sid' in sid)) return { ok: false, problems };
  const extra = extraFields(raw);
  const data =
    extra === null
      ? ((verticalData as Record<string, unknown>) ?? {})
      : { ...extra, ...(verticalData as Record<string, unknown> | undefined) };
  return {
    ok: true,
    record: { name: name as string, sourceId: sid.sid, verticalData: data, exactNumbers: found.exactNumbers, jsonTexts: found.jsonTexts },
  };
}
