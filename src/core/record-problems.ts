import type { RecordProblem } from './record';
import { ProblemType } from '../problem-types';

/** NUL, or a UTF-16 surrogate without its pair: PostgreSQL refuses both in text and in jsonb. */
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

/** Keys no record may hold anywhere in it: they would reach an object's prototype. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** What in `text` PostgreSQL would refuse, in words, with the problem type; or null. */
export function unstorableCharacter(text: string): { what: string; type: typeof ProblemType.nul | typeof ProblemType.unicode } | null {
  const m = UNSTORABLE.exec(text);
  if (!m) return null;
  if (m[0] === '\0') return { what: 'a NUL character (\\u0000)', type: ProblemType.nul };
  return { what: `an unpaired UTF-16 surrogate (\\u${m[0].charCodeAt(0).toString(16)})`, type: ProblemType.unicode };
}

/** `text` with each NUL and unpaired surrogate written as its `\uXXXX` escape, so PostgreSQL stores it. */
export function storableText(text: string): string {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) : text;
}

/**
 * The first key or string inside `value` that PostgreSQL would refuse, as a problem at its location
 * (under `path`), or null. Recursive: call it on records already checked for depth.
 */
export function unstorablePlace(value: unknown, path: Array<string | number>): RecordProblem | null {
  if (typeof value === 'string') {
    const bad = unstorableCharacter(value);
    return bad ? { loc: path, msg: `the value contains ${bad.what}, which cannot be stored`, type: bad.type } : null;
  }
  if (typeof value !== 'object' || value === null) return null;
  for (const [key, v] of Array.isArray(value) ? value.entries() : Object.entries(value)) {
    const bad = typeof key === 'string' ? unstorableCharacter(key) : null;
    if (bad) return { loc: [...path, key], msg: `the key contains ${bad.what}, which cannot be stored`, type: bad.type };
    const found = unstorablePlace(v, [...path, key]);
    if (found) return found;
  }
  return null;
}

/** At most this many problems are kept per record: enough to fix it, bounded for hostile input. */
export const MAX_PROBLEMS = 10;
const MAX_LOC_PART = 200;
const MAX_MESSAGE = 1000;

const clip = (text: string, max: number) => storableText(text.length > max ? text.slice(0, max - 1) + '…' : text);

/**
 * A record's problems as they are answered and stored in the DLQ: at most `MAX_PROBLEMS`, long keys and
 * messages clipped, NUL and unpaired surrogates escaped (a key or a parse message may echo them).
 */
export function tidyProblems<P extends Omit<RecordProblem, 'type'> & { type: string }>(
  problems: P[],
): Array<Pick<P, 'loc' | 'msg' | 'type'>> {
  return problems.slice(0, MAX_PROBLEMS).map((p) => ({
    loc: p.loc.map((part) => (typeof part === 'string' ? clip(part, MAX_LOC_PART) : part)),
    msg: clip(p.msg, MAX_MESSAGE),
    type: p.type,
  }));
}
