import { ProblemType } from '../problem-types';
import type { Problem } from './http-error';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Problems reported for one request at most: a body full of bad strings needs no list of thousands. */
const MAX_PROBLEMS = 20;

/** Why PostgreSQL would refuse this text (NUL, or a lone UTF-16 surrogate that is no character), or null. */
export function textProblem(s: string): Omit<Problem, 'loc'> | null {
  if (s.includes('\0')) return { msg: 'text may not contain the NUL character (\\u0000): it cannot be stored', type: ProblemType.nul };
  if (LONE_SURROGATE.test(s)) {
    return {
      msg: 'text must be valid Unicode: it holds a lone surrogate (\\ud800-\\udfff) that is no character',
      type: ProblemType.unicode,
    };
  }
  return null;
}

/** A location as a chain to its parent: building full paths only for problems keeps a deep walk linear. */
type Loc = { key: string | number; parent: Loc | null };
const path = (l: Loc): Array<string | number> => {
  const out: Array<string | number> = [];
  for (let at: Loc | null = l; at; at = at.parent) out.push(at.key);
  return out.reverse();
};

/**
 * Every string and object key in a decoded request part that PostgreSQL would refuse, and every number
 * that is not finite (`1e400` in JSON, `Infinity` in a query), with its location. Walks without recursion:
 * a body may be nested deeper than the call stack.
 */
export function unstorableValues(value: unknown, root: string): Problem[] {
  const problems: Problem[] = [];
  const stack: Array<[unknown, Loc]> = [[value, { key: root, parent: null }]];
  while (stack.length && problems.length < MAX_PROBLEMS) {
    const [v, loc] = stack.pop()!;
    if (typeof v === 'string') {
      const p = textProblem(v);
      if (p) problems.push({ loc: path(loc), ...p });
    } else if (typeof v === 'number' && !Number.isFinite(v)) {
      problems.push({ loc: path(loc), msg: 'number is out of range: only finite numbers can be stored', type: ProblemType.notFinite });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], { key: i, parent: loc }]);
    } else if (typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && typeof (v as { pipe?: unknown }).pipe !== 'function') {
      for (const [k, child] of Object.entries(v).reverse()) {
        const p = textProblem(k);
        // The key itself cannot be named in the location: it would carry the bad text into the response.
        if (p) problems.push({ loc: [...path(loc), '(key)'], msg: `a key ${p.msg.replace(/^text /, '')}`, type: p.type });
        else stack.push([child, { key: k, parent: loc }]);
      }
    }
  }
  return problems;
}
